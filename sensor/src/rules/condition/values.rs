//! Converting the values of operators to each field's type (text, numbers, addresses, flags).

use std::sync::Arc;

use super::super::{
    fields::Field,
    globs::{Globs, glob},
    matchers::{FlagTest, FlagsMatcher, HomeSplit, IpOp, NumberOp, StrSet, TextOp, flag_test},
    regexes::Regexes,
    yaml_tree::Pos,
};
use super::{
    compiler::Compiler,
    syntax::{Op, OpAst, Scalar},
};

impl Compiler<'_> {
    pub(super) fn text_value(&mut self, field: Field, scalar: &Scalar, pos: Pos, file: &str) -> Option<String> {
        match scalar {
            Scalar::Str(s) => Some(s.clone()),
            Scalar::Int(i) => Some(i.to_string()),
            Scalar::Float(f) => Some(f.to_string()),
            Scalar::Bool(b) => {
                self.error(
                    file,
                    pos,
                    format!("{} is text; {b} is a boolean", field.name()),
                    format!("quote it: \"{b}\""),
                );
                None
            }
        }
    }

    pub(super) fn text_op(&mut self, field: Field, op: &OpAst, values: &[(Scalar, Pos, Arc<str>)]) -> Option<TextOp> {
        let mut strings = Vec::new();
        for (scalar, pos, file) in values {
            strings.push((self.text_value(field, scalar, *pos, file)?, *pos, file.clone()));
        }
        let home = field.is_path();
        Some(match op.op {
            Op::Eq | Op::In => {
                let (mut absolute, mut below) = (Vec::new(), Vec::new());
                for (value, _, _) in strings {
                    match home_part(&value, home) {
                        Some(rest) => below.push(rest.to_string()),
                        None => absolute.push(value),
                    }
                }
                TextOp::Equal(HomeSplit {
                    absolute: StrSet::from_values(absolute),
                    home: StrSet::from_values(below),
                })
            }
            Op::Prefix => {
                let mut split = HomeSplit::<Vec<String>>::default();
                for (value, _, _) in strings {
                    match home_part(&value, home) {
                        Some(rest) => split.home.push(rest.to_string()),
                        None => split.absolute.push(value),
                    }
                }
                TextOp::Prefix(split)
            }
            Op::Suffix => TextOp::Suffix(strings.into_iter().map(|(v, _, _)| v).collect()),
            Op::Contains => TextOp::Contains(strings.into_iter().map(|(v, _, _)| v).collect()),
            Op::Glob => {
                let mut absolute = Vec::new();
                let mut below = Vec::new();
                let mut ok = true;
                for (value, pos, file) in &strings {
                    let (list, pattern) = match home_part(value, home) {
                        Some(rest) => (&mut below, rest),
                        None => (&mut absolute, value.as_str()),
                    };
                    match glob(pattern) {
                        Ok(_) => list.push(pattern.to_string()),
                        Err(error) => {
                            self.error(
                                file,
                                *pos,
                                format!("bad glob `{value}`: {}", error.kind()),
                                "globs use `*`, `?`, `**`, `[abc]` and `{a,b}`",
                            );
                            ok = false;
                        }
                    }
                }
                if !ok {
                    return None;
                }
                match (Globs::build(absolute), Globs::build(below)) {
                    (Ok(absolute), Ok(home)) => TextOp::Glob(HomeSplit { absolute, home }),
                    (Err(error), _) | (_, Err(error)) => {
                        self.error(
                            &strings[0].2,
                            op.pos,
                            format!("bad glob set: {error}"),
                            "check the patterns",
                        );
                        return None;
                    }
                }
            }
            Op::Regex => {
                let mut ok = true;
                for (value, pos, file) in &strings {
                    if let Err(error) = regex::Regex::new(value) {
                        let detail = error.to_string();
                        let last = detail.lines().last().unwrap_or("invalid").trim().to_string();
                        self.error(
                            file,
                            *pos,
                            format!("bad regular expression `{value}`: {last}"),
                            "see https://docs.rs/regex for the syntax",
                        );
                        ok = false;
                    }
                }
                if !ok {
                    return None;
                }
                match Regexes::build(strings.iter().map(|(v, _, _)| v.clone()).collect()) {
                    Ok(set) => TextOp::Regex(set),
                    Err(error) => {
                        self.error(
                            &strings[0].2,
                            op.pos,
                            format!("bad regular expressions: {error}"),
                            "simplify them",
                        );
                        return None;
                    }
                }
            }
            _ => return None,
        })
    }

    pub(super) fn number_value(&mut self, field: Field, scalar: &Scalar, pos: Pos, file: &str) -> Option<i64> {
        let parsed = match scalar {
            Scalar::Int(i) => Some(*i),
            Scalar::Str(s) => s.trim().parse().ok(),
            _ => None,
        };
        if parsed.is_none() {
            self.error(
                file,
                pos,
                format!("{} is a number; {} is not", field.name(), scalar.describe()),
                "write a whole number such as 443",
            );
        }
        parsed
    }

    pub(super) fn number_op(
        &mut self,
        field: Field,
        op: &OpAst,
        values: &[(Scalar, Pos, Arc<str>)],
    ) -> Option<NumberOp> {
        if matches!(op.op, Op::Gt | Op::Ge | Op::Lt | Op::Le) {
            if values.len() != 1 {
                self.error(
                    &values[0].2,
                    op.pos,
                    format!("`{}` takes one number", op.op.name()),
                    "write e.g. `gt: 1024`",
                );
                return None;
            }
            let (scalar, pos, file) = &values[0];
            let bound = self.number_value(field, scalar, *pos, file)?;
            return Some(match op.op {
                Op::Gt => NumberOp::Gt(bound),
                Op::Ge => NumberOp::Ge(bound),
                Op::Lt => NumberOp::Lt(bound),
                _ => NumberOp::Le(bound),
            });
        }
        if op.op == Op::Range {
            let mut ranges = Vec::new();
            for (scalar, pos, file) in values {
                let range = match scalar {
                    Scalar::Int(i) => Some((*i, *i)),
                    Scalar::Str(s) => parse_range(s),
                    _ => None,
                };
                match range {
                    Some(range) => ranges.push(range),
                    None => {
                        self.error(
                            file,
                            *pos,
                            format!("{} is not a range", scalar.describe()),
                            "write `LOW-HIGH` (inclusive) or a single number",
                        );
                        return None;
                    }
                }
            }
            return Some(NumberOp::Ranges(ranges));
        }
        let mut numbers = Vec::new();
        for (scalar, pos, file) in values {
            numbers.push(self.number_value(field, scalar, *pos, file)?);
        }
        Some(NumberOp::In(numbers))
    }

    pub(super) fn ip_op(&mut self, field: Field, op: &OpAst, values: &[(Scalar, Pos, Arc<str>)]) -> Option<IpOp> {
        let mut ips = Vec::new();
        let mut nets = Vec::new();
        for (scalar, pos, file) in values {
            let Scalar::Str(text) = scalar else {
                self.error(
                    file,
                    *pos,
                    format!("{} takes addresses; {} is not one", field.name(), scalar.describe()),
                    "quote addresses, e.g. \"10.0.0.1\"",
                );
                return None;
            };
            if op.op == Op::Cidr {
                let net = text
                    .parse::<ipnet::IpNet>()
                    .ok()
                    .or_else(|| text.parse::<std::net::IpAddr>().ok().map(ipnet::IpNet::from));
                match net {
                    Some(net) => nets.push(net),
                    None => {
                        self.error(
                            file,
                            *pos,
                            format!("`{text}` is not a network"),
                            "write a CIDR such as 10.0.0.0/8 or fd00::/8",
                        );
                        return None;
                    }
                }
            } else {
                match text.parse::<std::net::IpAddr>() {
                    Ok(ip) => ips.push(ip),
                    Err(_) => {
                        self.error(
                            file,
                            *pos,
                            format!("`{text}` is not an IP address"),
                            "use `cidr:` for networks",
                        );
                        return None;
                    }
                }
            }
        }
        Some(if op.op == Op::Cidr {
            IpOp::Cidr(nets)
        } else {
            IpOp::In(ips)
        })
    }

    pub(super) fn flags_op(&mut self, op: &OpAst, values: &[(Scalar, Pos, Arc<str>)]) -> Option<FlagsMatcher> {
        let _ = op;
        let mut any: Vec<FlagTest> = Vec::new();
        for (scalar, pos, file) in values {
            let test = match scalar {
                Scalar::Str(name) => flag_test(name),
                _ => None,
            };
            match test {
                Some(test) => any.push(test),
                None => {
                    self.error(
                        file,
                        *pos,
                        format!("{} is not an open flag", scalar.describe()),
                        "use names such as O_WRONLY, O_RDWR, O_CREAT, O_TRUNC, O_APPEND, O_DIRECTORY",
                    );
                    return None;
                }
            }
        }
        Some(FlagsMatcher { any })
    }

    pub(super) fn bool_op(&mut self, field: Field, op: &OpAst, values: &[(Scalar, Pos, Arc<str>)]) -> Option<bool> {
        match single_bool(values) {
            Some(value) => Some(value),
            None => {
                self.error(
                    &values[0].2,
                    op.pos,
                    format!("{} is true or false", field.name()),
                    "write `true` or `false` (unquoted)",
                );
                None
            }
        }
    }
}

pub(super) fn single_bool(values: &[(Scalar, Pos, Arc<str>)]) -> Option<bool> {
    match values {
        [(Scalar::Bool(value), _, _)] => Some(*value),
        _ => None,
    }
}

/// `"1024-65535"` → (1024, 65535); `"443"` → (443, 443).
pub(in crate::rules) fn parse_range(text: &str) -> Option<(i64, i64)> {
    let text = text.trim();
    match text.split_once('-') {
        Some((low, high)) => {
            let (low, high) = (low.trim().parse().ok()?, high.trim().parse().ok()?);
            (low <= high).then_some((low, high))
        }
        None => text.parse().ok().map(|n| (n, n)),
    }
}

/// For path fields, the part after a leading `~` or `$HOME` (`~/x` → `/x`, `~` → ``).
fn home_part(value: &str, is_path: bool) -> Option<&str> {
    if !is_path {
        return None;
    }
    let rest = value.strip_prefix("$HOME").or_else(|| value.strip_prefix('~'))?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}
