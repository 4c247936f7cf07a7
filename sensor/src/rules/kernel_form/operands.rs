//! The operands of a kernel rule's tests: values, names, booleans, path globs, programs,
//! networks and ports, `$lists` expanded.

use ipnet::IpNet;

use super::{NotKernel, Program, extract::Definitions, not_kernel};
use crate::rules::{
    condition::{Item, Op, Scalar, TestAst, parse_range},
    fields::Field,
    kernel_glob::KernelGlob,
};

/// The scalar values of a test's `eq`/`in` operators, lists expanded.
pub(super) fn values(test: &TestAst, defs: &Definitions, allowed: &[Op]) -> Result<Vec<Scalar>, NotKernel> {
    let mut out = Vec::new();
    for op in &test.ops {
        if !allowed.contains(&op.op) {
            return Err(not_kernel(
                op.pos,
                format!("the kernel cannot evaluate this operator on `{}`", test.field.name()),
            ));
        }
        expand_items(&op.values, defs, &mut out, 0)
            .ok_or_else(|| not_kernel(op.pos, "a list could not be expanded"))?;
    }
    Ok(out)
}

fn expand_items(items: &[Item], defs: &Definitions, out: &mut Vec<Scalar>, depth: usize) -> Option<()> {
    if depth > 16 {
        return None;
    }
    for item in items {
        match item {
            Item::Scalar(scalar, _) => out.push(scalar.clone()),
            Item::ListRef(name, _) => expand_items(&defs.lists.get(name)?.items, defs, out, depth + 1)?,
        }
    }
    Some(())
}

pub(super) fn strings(test: &TestAst, defs: &Definitions) -> Result<Vec<String>, NotKernel> {
    values(test, defs, &[Op::Eq, Op::In])?
        .into_iter()
        .map(|scalar| match scalar {
            Scalar::Str(text) => Ok(text),
            other => Err(not_kernel(test.pos, format!("expected a name, not {other:?}"))),
        })
        .collect()
}

pub(super) fn boolean(test: &TestAst, defs: &Definitions) -> Result<bool, NotKernel> {
    match values(test, defs, &[Op::Eq])?.as_slice() {
        [Scalar::Bool(value)] => Ok(*value),
        _ => Err(not_kernel(test.pos, "expected true or false")),
    }
}

pub(super) fn path_globs(test: &TestAst, defs: &Definitions) -> Result<Vec<KernelGlob>, NotKernel> {
    let mut globs = Vec::new();
    for op in &test.ops {
        let mut texts = Vec::new();
        expand_items(&op.values, defs, &mut texts, 0)
            .ok_or_else(|| not_kernel(op.pos, "a list could not be expanded"))?;
        for scalar in texts {
            let Scalar::Str(text) = scalar else {
                return Err(not_kernel(op.pos, "paths are strings"));
            };
            let pattern = match op.op {
                Op::Glob => text,
                Op::Eq | Op::In => {
                    if text.contains(['*', '?', '[', '{']) {
                        return Err(not_kernel(
                            op.pos,
                            format!("`{text}` is compared literally here; the kernel needs it without glob characters"),
                        ));
                    }
                    text
                }
                Op::Prefix if text.ends_with('/') => format!("{text}**"),
                Op::Prefix => {
                    return Err(not_kernel(
                        op.pos,
                        format!("the kernel matches whole directories: end the prefix `{text}` with `/`"),
                    ));
                }
                _ => {
                    return Err(not_kernel(
                        op.pos,
                        format!(
                            "the kernel matches paths with glob, eq, in and prefix, not this operator on `{}`",
                            test.field.name()
                        ),
                    ));
                }
            };
            globs.extend(KernelGlob::parse_all(&pattern).map_err(|error| not_kernel(op.pos, error.0))?);
        }
    }
    Ok(globs)
}

pub(super) fn programs(test: &TestAst, defs: &Definitions) -> Result<Vec<Program>, NotKernel> {
    let names = strings(test, defs)?;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        if name.contains(['*', '?', '[', '{']) {
            return Err(not_kernel(
                test.pos,
                format!("the kernel excepts programs by exact name or path, not the pattern `{name}`"),
            ));
        }
        out.push(match test.field {
            Field::ProcessExecutable => {
                if !name.starts_with('/') {
                    return Err(not_kernel(
                        test.pos,
                        format!("`{name}`: process.executable is an absolute path"),
                    ));
                }
                Program::Path(name)
            }
            _ => Program::Name(name),
        });
    }
    Ok(out)
}

pub(super) fn networks(test: &TestAst, defs: &Definitions) -> Result<Vec<IpNet>, NotKernel> {
    values(test, defs, &[Op::Eq, Op::In, Op::Cidr])?
        .into_iter()
        .map(|scalar| {
            let Scalar::Str(text) = &scalar else {
                return Err(not_kernel(test.pos, "addresses are strings"));
            };
            text.parse::<IpNet>()
                .ok()
                .or_else(|| text.parse::<std::net::IpAddr>().ok().map(IpNet::from))
                .ok_or_else(|| not_kernel(test.pos, format!("`{text}` is not a network")))
        })
        .collect()
}

pub(super) fn ports(test: &TestAst, defs: &Definitions) -> Result<Vec<(u16, u16)>, NotKernel> {
    values(test, defs, &[Op::Eq, Op::In, Op::Range])?
        .into_iter()
        .map(|scalar| {
            let range = match &scalar {
                Scalar::Int(port) => Some((*port, *port)),
                Scalar::Str(text) => parse_range(text),
                _ => None,
            };
            match range {
                Some((low, high)) if (0..=65535).contains(&low) && (0..=65535).contains(&high) => {
                    Ok((low as u16, high as u16))
                }
                _ => Err(not_kernel(test.pos, format!("{scalar:?} is not a port or port range"))),
            }
        })
        .collect()
}
