//! Extracting the kernel form of a rule: its condition flattened into conjunctions of what the
//! kernel evaluates, or why it cannot be.

use std::collections::HashMap;

use sensor_common::policy::{MAX_THRESHOLD, PolicyOp};

use super::{
    EgressTest, KernelExcept, KernelForm, KernelThreshold, MAX_SLOTS_PER_RULE, NotKernel, Ops, not_kernel,
    operands::{boolean, networks, path_globs, ports, programs, strings, values},
};
use crate::rules::{
    condition::{CondAst, ListDef, MacroDef, Op, Scalar, TestAst},
    fields::Field,
    pack::RuleAst,
    rule::GroupBy,
    yaml_tree::Pos,
};

/// Definitions the extraction resolves `$lists` and macros with.
pub struct Definitions<'d> {
    pub lists: &'d HashMap<String, ListDef>,
    pub macros: &'d HashMap<String, MacroDef>,
}

/// One condition of a conjunction, possibly negated.
#[derive(Clone, Copy)]
struct Atom<'a> {
    test: &'a TestAst,
    negated: bool,
}

/// A condition flattened into a conjunction: atoms, `any`s of path tests (unions of paths), and
/// `any`s of other conditions (alternatives).
#[derive(Default)]
struct Flat<'a> {
    atoms: Vec<Atom<'a>>,
    unions: Vec<Vec<&'a TestAst>>,
    choices: Vec<&'a [CondAst]>,
}

/// The kernel form of `rule` (whose action is deny, kill or kill-tree).
pub fn extract(rule: &RuleAst, defs: &Definitions) -> Result<KernelForm, NotKernel> {
    if rule.sequence.is_some() {
        return Err(not_kernel(
            rule.pos,
            "sequences are followed by the sensor, not the kernel",
        ));
    }
    let Some(when) = &rule.when else {
        return Err(not_kernel(rule.pos, "the rule has no `when`"));
    };
    let mut flat = Flat::default();
    conjunction(when, false, defs, &mut flat, &mut Vec::new())?;
    if flat.atoms.iter().any(|atom| atom.test.field == Field::PeerInSession) {
        return handoff_form(rule, &flat, defs);
    }
    let Some(branches) = flat.choices.pop() else {
        return form_of(rule, &flat.atoms, &flat.unions, defs);
    };
    if !flat.choices.is_empty() {
        return Err(not_kernel(
            first_pos(&branches[0]),
            "the kernel takes one `any` of conditions per rule",
        ));
    }
    if rule.threshold.is_some() {
        return Err(not_kernel(
            rule.pos,
            "a kernel rule that is an `any` of conditions cannot have a threshold (each alternative counts apart)",
        ));
    }
    if branches.len() > MAX_SLOTS_PER_RULE {
        return Err(not_kernel(
            first_pos(&branches[0]),
            format!("the kernel takes at most {MAX_SLOTS_PER_RULE} alternatives per rule"),
        ));
    }
    let mut top = KernelForm::empty();
    for branch in branches {
        let mut inner = Flat::default();
        conjunction(branch, false, defs, &mut inner, &mut Vec::new())?;
        if !inner.choices.is_empty() {
            return Err(not_kernel(
                first_pos(branch),
                "the kernel cannot evaluate an `any` inside an `any`",
            ));
        }
        let atoms: Vec<Atom> = flat.atoms.iter().chain(&inner.atoms).copied().collect();
        let unions: Vec<Vec<&TestAst>> = flat.unions.iter().chain(&inner.unions).cloned().collect();
        let form = form_of(rule, &atoms, &unions, defs)?;
        if form.ops.0 != PolicyOp::Connect.bit() {
            return Err(not_kernel(
                first_pos(branch),
                "in the kernel, an `any` of conditions (other than of paths) must judge connections in every branch",
            ));
        }
        top.ops.0 |= form.ops.0;
        top.alternatives.push(form);
    }
    Ok(top)
}

/// The kernel form of a hand-off rule (`agent_sensor.peer.in_session: false`): each branch is a
/// connect to a unix socket (judged when its listener is a spawner outside the session:
/// `unix_stream_connect`) or attach access to another process (ptrace, process_vm_writev and a
/// write-open of /proc/PID/mem together: the kernel judges the three in one hook,
/// `ptrace_access_check`, and cannot tell them apart).
fn handoff_form(rule: &RuleAst, flat: &Flat, defs: &Definitions) -> Result<KernelForm, NotKernel> {
    let mut top: Vec<Atom> = Vec::new();
    for atom in &flat.atoms {
        if atom.test.field == Field::PeerInSession {
            if atom.negated || boolean(atom.test, defs)? {
                return Err(not_kernel(
                    atom.test.pos,
                    "the kernel judges hand-offs to processes outside the session only \
                     (`agent_sensor.peer.in_session: false`)",
                ));
            }
        } else {
            top.push(*atom);
        }
    }
    if rule.threshold.is_some() || !rule.except.is_empty() {
        return Err(not_kernel(
            rule.pos,
            "a kernel hand-off rule takes no threshold and no exception",
        ));
    }
    if let Some(union) = flat.unions.first() {
        return Err(not_kernel(union[0].pos, "a kernel hand-off rule takes no path test"));
    }
    if flat.choices.len() > 1 {
        return Err(not_kernel(
            rule.pos,
            "the kernel takes one `any` of conditions per rule",
        ));
    }
    let branches: Vec<Vec<Atom>> = match flat.choices.first() {
        None => vec![top.clone()],
        Some(parts) => {
            let mut out = Vec::new();
            for part in parts.iter() {
                let mut inner = Flat::default();
                conjunction(part, false, defs, &mut inner, &mut Vec::new())?;
                if !inner.choices.is_empty() || !inner.unions.is_empty() {
                    return Err(not_kernel(
                        first_pos(part),
                        "a kernel hand-off rule's alternatives are plain conditions",
                    ));
                }
                out.push(top.iter().chain(&inner.atoms).copied().collect());
            }
            out
        }
    };
    let mut form = KernelForm::empty();
    // ptrace, process_vm_writev, a write-open of /proc/PID/mem.
    let mut attach = [false; 3];
    for atoms in &branches {
        let mut actions: Option<Vec<String>> = None;
        let mut unix = false;
        let mut write = false;
        for &Atom { test, negated } in atoms {
            match (test.field, negated) {
                (Field::EventAction, false) => {
                    let these = strings(test, defs)?;
                    actions = Some(match actions {
                        None => these,
                        Some(known) => known.into_iter().filter(|action| these.contains(action)).collect(),
                    });
                }
                (Field::NetworkType, false) => unix = strings(test, defs)? == ["unix"],
                (Field::OpenWrite, false) => write = boolean(test, defs)?,
                (field, _) => {
                    return Err(not_kernel(
                        test.pos,
                        format!(
                            "in a kernel hand-off rule the kernel evaluates event.action, network.type: unix and \
                             agent_sensor.open.write: true, not `{}`",
                            field.name()
                        ),
                    ));
                }
            }
        }
        let Some(actions) = actions.filter(|actions| !actions.is_empty()) else {
            return Err(not_kernel(
                rule.pos,
                "a kernel hand-off rule must say which operations it judges with `event.action`",
            ));
        };
        for action in &actions {
            match action.as_str() {
                "connect" if unix => form.ops.0 |= PolicyOp::HandoffConnect.bit(),
                "connect" => {
                    return Err(not_kernel(
                        rule.pos,
                        "the kernel judges hand-offs over unix sockets only: add `network.type: unix`",
                    ));
                }
                "ptrace" => attach[0] = true,
                "process_vm_writev" => attach[1] = true,
                "open" if write => attach[2] = true,
                "open" => {
                    return Err(not_kernel(
                        rule.pos,
                        "the kernel judges opens of another process's /proc/PID/mem for writing: add \
                         `agent_sensor.open.write: true`",
                    ));
                }
                other => {
                    return Err(not_kernel(
                        rule.pos,
                        format!(
                            "the kernel judges hand-offs by unix connect, ptrace, process_vm_writev and \
                             /proc/PID/mem, not `{other}`"
                        ),
                    ));
                }
            }
        }
    }
    match attach {
        [false, false, false] => {}
        [true, true, true] => form.ops.0 |= PolicyOp::HandoffAttach.bit(),
        _ => {
            return Err(not_kernel(
                rule.pos,
                "the kernel judges ptrace, process_vm_writev and write-opens of /proc/PID/mem in one hook \
                 (ptrace_access_check) and cannot tell them apart: a kernel hand-off rule names all three",
            ));
        }
    }
    Ok(form)
}

/// The kernel form of one conjunction of `rule`.
fn form_of(
    rule: &RuleAst,
    atoms: &[Atom],
    unions: &[Vec<&TestAst>],
    defs: &Definitions,
) -> Result<KernelForm, NotKernel> {
    let mut form = KernelForm::empty();
    let mut ops: Option<Ops> = None;
    let mut open_write: Option<bool> = None;
    let mut path_given = false;
    let mut path_field: Option<(Field, Pos)> = None;
    for union in unions {
        // `any` of path tests: the union of their globs.
        let mut globs = Vec::new();
        for test in union {
            globs.extend(path_globs(test, defs)?);
        }
        if path_given {
            return Err(not_kernel(union[0].pos, "the kernel takes one path condition per rule"));
        }
        path_given = true;
        form.paths = globs;
    }
    for &Atom { test, negated } in atoms {
        let field = test.field;
        match (field, negated) {
            (Field::EventAction, false) => {
                let mut these = Ops(0);
                for value in strings(test, defs)? {
                    these.0 |= match value.as_str() {
                        "open" => PolicyOp::OpenRead.bit() | PolicyOp::OpenWrite.bit(),
                        "unlink" => PolicyOp::Unlink.bit(),
                        "rmdir" => PolicyOp::Rmdir.bit(),
                        "exec" => PolicyOp::Exec.bit(),
                        "connect" => PolicyOp::Connect.bit(),
                        // Judged on the new name; on the old one when the rule tests
                        // agent_sensor.file.original.path.
                        "rename" => PolicyOp::Rename.bit(),
                        "link" => PolicyOp::Link.bit(),
                        "symlink" => PolicyOp::Symlink.bit(),
                        "truncate" => PolicyOp::Truncate.bit(),
                        other => {
                            return Err(not_kernel(
                                test.pos,
                                format!(
                                    "the kernel judges open, unlink, rmdir, rename, link, symlink, truncate, exec \
                                     and connect, not `{other}`"
                                ),
                            ));
                        }
                    };
                }
                ops = Some(Ops(ops.map_or(these.0, |known| known.0 & these.0)));
            }
            (Field::EventOutcome | Field::ErrorCode, _) => {
                return Err(not_kernel(
                    test.pos,
                    format!(
                        "the kernel judges an operation before it completes, so `{}` is not known then",
                        field.name()
                    ),
                ));
            }
            (Field::FilePath | Field::ExecFilename | Field::ProcessExecutable | Field::FileOriginalPath, false) => {
                if path_given {
                    return Err(not_kernel(test.pos, "the kernel takes one path condition per rule"));
                }
                path_given = true;
                path_field = Some((test.field, test.pos));
                form.paths = path_globs(test, defs)?;
            }
            (Field::FilePath | Field::ExecFilename | Field::FileOriginalPath, true) => {
                form.exclude.extend(path_globs(test, defs)?)
            }
            (Field::FileCreated, false) if !boolean(test, defs)? => form.existing = true,
            (Field::ProcessExecutable | Field::ProcessName, true) => form.excepts.push(KernelExcept {
                paths: Vec::new(),
                programs: programs(test, defs)?,
            }),
            (Field::OpenWrite, false) => open_write = Some(boolean(test, defs)?),
            (Field::OpenFlags, true) => {
                let flags = strings(test, defs)?;
                if flags != ["O_DIRECTORY"] {
                    return Err(not_kernel(
                        test.pos,
                        "the kernel only tests `not: {agent_sensor.open.flags: O_DIRECTORY}` among open flags",
                    ));
                }
                form.not_directory = true;
            }
            (Field::FileWrittenBySession, false) if boolean(test, defs)? => form.written_by_session = true,
            (Field::FileInWorkspace, false) => form.in_workspace = Some(boolean(test, defs)?),
            (Field::DestinationIp, _) if test.ops.iter().all(|op| op.op == Op::Exists) => {}
            (Field::DestinationIp, negated) => {
                let nets = networks(test, defs)?;
                if negated {
                    form.ip_exclude.extend(nets);
                } else if form.ip_include.is_empty() {
                    form.ip_include = nets;
                } else {
                    return Err(not_kernel(
                        test.pos,
                        "the kernel takes one positive destination.ip test",
                    ));
                }
            }
            (Field::DestinationPort, negated) => {
                let ports = ports(test, defs)?;
                if negated {
                    form.port_exclude.extend(ports);
                } else if form.port_include.is_empty() {
                    form.port_include = ports;
                } else {
                    return Err(not_kernel(
                        test.pos,
                        "the kernel takes one positive destination.port test",
                    ));
                }
            }
            (Field::DestinationAllowed, negated) if test.ops.iter().all(|op| op.op == Op::Exists) => {
                match values(test, defs, &[Op::Exists])?.as_slice() {
                    [Scalar::Bool(exists)] => form.egress.configured = Some(*exists != negated),
                    _ => return Err(not_kernel(test.pos, "expected `exists: true` or `exists: false`")),
                }
            }
            (Field::DestinationAllowed, false) => form.egress.allowed = Some(boolean(test, defs)?),
            (Field::DestinationAllowed, true) => {
                return Err(not_kernel(
                    test.pos,
                    "the kernel tests `agent_sensor.destination.allowed: true` or `false`, not its negation \
                     (which also holds when no allowlist is configured)",
                ));
            }
            (Field::NetworkType, false) => {
                let types = strings(test, defs)?;
                let v4 = types.iter().any(|t| t == "ipv4");
                let v6 = types.iter().any(|t| t == "ipv6");
                form.family = match (v4, v6) {
                    (true, true) => None,
                    (true, false) => Some(4),
                    (false, true) => Some(6),
                    _ => return Err(not_kernel(test.pos, "the kernel judges IPv4 and IPv6 connections only")),
                };
            }
            _ => {
                let what = if negated { "a negated test of" } else { "a test of" };
                return Err(not_kernel(
                    test.pos,
                    format!("the kernel cannot evaluate {what} `{}`", field.name()),
                ));
            }
        }
    }
    let Some(mut ops) = ops else {
        return Err(not_kernel(
            rule.pos,
            "a kernel rule must say which operations it judges with `event.action`",
        ));
    };
    if let Some(write) = open_write {
        let open = if write {
            PolicyOp::OpenWrite.bit()
        } else {
            PolicyOp::OpenRead.bit()
        };
        ops.0 &= open | !(PolicyOp::OpenRead.bit() | PolicyOp::OpenWrite.bit());
    }
    if ops.0 == 0 {
        return Err(not_kernel(
            rule.pos,
            "the rule's conditions leave no operation to judge",
        ));
    }
    let connect = ops.contains(PolicyOp::Connect);
    if connect && ops.0 != PolicyOp::Connect.bit() {
        return Err(not_kernel(
            rule.pos,
            "a kernel rule judges either connections or file operations, not both",
        ));
    }
    let network = form.family.is_some()
        || !form.ip_include.is_empty()
        || !form.ip_exclude.is_empty()
        || !form.port_include.is_empty()
        || !form.port_exclude.is_empty()
        || form.egress != EgressTest::default();
    if connect && (path_given || !form.exclude.is_empty() || form.written_by_session || form.in_workspace.is_some()) {
        return Err(not_kernel(rule.pos, "connections have no path"));
    }
    if !connect && network {
        return Err(not_kernel(rule.pos, "only connections have a destination"));
    }
    if let Some((field, pos)) = path_field {
        let exec = ops.0 == PolicyOp::Exec.bit();
        let renames_only = ops.0 == PolicyOp::Rename.bit();
        let fits = match field {
            Field::FilePath => !exec,
            Field::FileOriginalPath => renames_only,
            _ => exec,
        };
        if !fits {
            return Err(not_kernel(
                pos,
                format!(
                    "`{}` is not the path the kernel judges here: file.path for open, unlink, rmdir, rename \
                     (the new name), link, symlink and truncate; agent_sensor.file.original.path for the old \
                     name of a rename (alone with `event.action: rename`); agent_sensor.exec.filename or \
                     process.executable for exec",
                    field.name()
                ),
            ));
        }
        if field == Field::FileOriginalPath {
            ops = Ops(PolicyOp::RenameFrom.bit());
        }
    }
    if form.existing && ops.0 & !(PolicyOp::OpenRead.bit() | PolicyOp::OpenWrite.bit()) != 0 {
        return Err(not_kernel(
            rule.pos,
            "agent_sensor.file.created is known for opens only",
        ));
    }
    if form.written_by_session && ops.0 != PolicyOp::Exec.bit() {
        return Err(not_kernel(
            rule.pos,
            "the kernel knows which files a session wrote for exec rules only",
        ));
    }
    form.ops = ops;
    for except in &rule.except {
        form.excepts.push(exception(except, defs)?);
    }
    // Exceptions by path alone are exclusions.
    let (path_only, with_programs): (Vec<KernelExcept>, Vec<KernelExcept>) =
        form.excepts.drain(..).partition(|except| except.programs.is_empty());
    form.excepts = with_programs;
    for except in path_only {
        form.exclude.extend(except.paths);
    }
    if let Some(threshold) = &rule.threshold {
        if threshold.per != GroupBy::Session {
            return Err(not_kernel(rule.pos, "kernel thresholds count per session"));
        }
        if threshold.count as usize > MAX_THRESHOLD {
            return Err(not_kernel(
                rule.pos,
                format!("kernel thresholds count up to {MAX_THRESHOLD} operations"),
            ));
        }
        let distinct = match threshold.distinct {
            None => false,
            Some(Field::FilePath) if !connect => true,
            Some(other) => {
                return Err(not_kernel(
                    rule.pos,
                    format!(
                        "kernel thresholds count distinct file.path values, not `{}`",
                        other.name()
                    ),
                ));
            }
        };
        form.threshold = Some(KernelThreshold {
            count: threshold.count,
            distinct,
            within: threshold.within,
        });
    }
    Ok(form)
}

/// Flattens `cond` into a conjunction of atoms (and `any`s of path tests).
fn conjunction<'a>(
    cond: &'a CondAst,
    negated: bool,
    defs: &'a Definitions,
    flat: &mut Flat<'a>,
    expanding: &mut Vec<&'a str>,
) -> Result<(), NotKernel> {
    match (cond, negated) {
        (CondAst::All(parts), false) | (CondAst::Any(parts), true) => {
            for part in parts {
                conjunction(part, negated, defs, flat, expanding)?;
            }
            Ok(())
        }
        (CondAst::Not(inner), _) => conjunction(inner, !negated, defs, flat, expanding),
        (CondAst::Macro(name, pos), _) => {
            let Some(definition) = defs.macros.get(name) else {
                return Err(not_kernel(*pos, format!("unknown macro `{name}`")));
            };
            if expanding.contains(&name.as_str()) {
                return Err(not_kernel(*pos, format!("macro `{name}` refers to itself")));
            }
            expanding.push(name);
            let result = conjunction(&definition.cond, negated, defs, flat, expanding);
            expanding.pop();
            result
        }
        (CondAst::Test(test), _) => {
            flat.atoms.push(Atom { test, negated });
            Ok(())
        }
        (CondAst::Any(parts), false) => {
            let mut tests = Vec::new();
            for part in parts {
                match resolve(part, defs) {
                    Some(CondAst::Test(test)) if matches!(test.field, Field::FilePath | Field::ExecFilename) => {
                        tests.push(test)
                    }
                    _ => {
                        // Not a union of paths: alternatives, each judged as its own rule.
                        flat.choices.push(parts);
                        return Ok(());
                    }
                }
            }
            flat.unions.push(tests);
            Ok(())
        }
        (CondAst::All(_), true) => Err(not_kernel(
            first_pos(cond),
            "the kernel cannot evaluate `not` of several conditions together",
        )),
    }
}

/// A macro reference followed to its condition.
fn resolve<'a>(cond: &'a CondAst, defs: &'a Definitions) -> Option<&'a CondAst> {
    let mut current = cond;
    for _ in 0..32 {
        match current {
            CondAst::Macro(name, _) => current = &defs.macros.get(name)?.cond,
            other => return Some(other),
        }
    }
    None
}

fn first_pos(cond: &CondAst) -> Pos {
    match cond {
        CondAst::All(parts) | CondAst::Any(parts) => parts.first().map(first_pos).unwrap_or_default(),
        CondAst::Not(inner) => first_pos(inner),
        CondAst::Macro(_, pos) => *pos,
        CondAst::Test(test) => test.pos,
    }
}

/// An `except` entry: programs, optionally on some paths.
fn exception(cond: &CondAst, defs: &Definitions) -> Result<KernelExcept, NotKernel> {
    let mut flat = Flat::default();
    conjunction(cond, false, defs, &mut flat, &mut Vec::new())?;
    let Flat { atoms, unions, choices } = flat;
    if let Some(branches) = choices.first() {
        return Err(not_kernel(
            first_pos(&branches[0]),
            "a kernel rule's exception may be an `any` of file.path tests only",
        ));
    }
    let mut except = KernelExcept {
        paths: Vec::new(),
        programs: Vec::new(),
    };
    for union in unions {
        for test in union {
            except.paths.extend(path_globs(test, defs)?);
        }
    }
    let mut by_name = None;
    let mut trusted = false;
    for Atom { test, negated } in atoms {
        match (test.field, negated) {
            (Field::FilePath | Field::ExecFilename, false) => except.paths.extend(path_globs(test, defs)?),
            (Field::ProcessName, false) => {
                by_name = Some(test.pos);
                except.programs.extend(programs(test, defs)?);
            }
            (Field::ProcessExecutable, false) => except.programs.extend(programs(test, defs)?),
            (Field::ProcessTrusted, false) if boolean(test, defs)? => trusted = true,
            _ => {
                return Err(not_kernel(
                    test.pos,
                    format!(
                        "a kernel rule's exception may test file.path, process.name (with \
                         agent_sensor.process.trusted: true) and process.executable, not `{}`",
                        test.field.name()
                    ),
                ));
            }
        }
    }
    if let Some(pos) = by_name
        && !trusted
    {
        return Err(NotKernel {
            pos,
            message: "in a kernel rule, an exception by process.name holds only for the system's own program of \
                      that name (a copy of `cat` named `ssh` must not inherit it)"
                .into(),
            advice: "add `agent_sensor.process.trusted: true` to this exception".into(),
        });
    }
    Ok(except)
}
