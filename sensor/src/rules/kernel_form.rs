//! The kernel form of a rule: what a rule with `action: deny`, `kill` or `kill-tree` becomes when
//! the kernel judges it (docs/enforcement.md).
//!
//! A kernel rule is an ordinary rule whose condition uses only what the kernel can evaluate at the
//! moment of the operation: which operation, the path (globs of the shapes in `kernel_glob`), read
//! or write, whether the session wrote the file, whether it is in the session's workspace, the
//! destination address and port, and exceptions by program. Userspace evaluates the same rule the
//! same way when it replays recorded events, so `rules test` checks what the kernel does.
//! `deny` rules must have a kernel form (nothing else can stop an operation before it happens);
//! `kill` and `kill-tree` rules without one are carried out by the sensor after it detects them.

use std::{collections::HashMap, time::Duration};

use ipnet::IpNet;
use sensor_common::policy::{MAX_THRESHOLD, PolicyOp};

use super::{
    condition::{CondAst, Item, ListDef, MacroDef, Op, Scalar, TestAst, parse_range},
    fields::Field,
    kernel_glob::KernelGlob,
    pack::RuleAst,
    rule::{GroupBy, RuleAction},
    yaml_tree::Pos,
};

/// The operations a kernel rule judges (bits of `PolicyOp`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Ops(pub u32);

impl Ops {
    pub const FILE: Ops = Ops(PolicyOp::OpenRead.bit()
        | PolicyOp::OpenWrite.bit()
        | PolicyOp::Unlink.bit()
        | PolicyOp::Rmdir.bit()
        | PolicyOp::Rename.bit()
        | PolicyOp::RenameFrom.bit()
        | PolicyOp::Link.bit()
        | PolicyOp::Symlink.bit()
        | PolicyOp::Truncate.bit());

    pub fn contains(self, op: PolicyOp) -> bool {
        self.0 & op.bit() != 0
    }

    pub fn names(self) -> Vec<&'static str> {
        PolicyOp::ALL
            .iter()
            .filter(|op| self.contains(**op))
            .map(|op| op.name())
            .collect()
    }
}

/// A program a kernel rule makes an exception for.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Program {
    /// `process.name`: the base name of the executable.
    Name(String),
    /// `process.executable`: the full path.
    Path(String),
}

/// Programs excepted from a rule, on some paths (or all).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelExcept {
    /// Empty: every path.
    pub paths: Vec<KernelGlob>,
    pub programs: Vec<Program>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelThreshold {
    pub count: u32,
    /// Count distinct paths rather than operations.
    pub distinct: bool,
    pub within: Duration,
}

/// What the kernel evaluates for one rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelForm {
    pub ops: Ops,
    /// Paths the rule applies to; empty: any path.
    pub paths: Vec<KernelGlob>,
    /// Paths the rule never applies to.
    pub exclude: Vec<KernelGlob>,
    pub excepts: Vec<KernelExcept>,
    /// Opens of directories never match.
    pub not_directory: bool,
    /// Only files the session opened for writing before (exec).
    pub written_by_session: bool,
    /// Only files that existed before the operation (opens that did not create the file).
    pub existing: bool,
    /// Only paths inside (`Some(true)`) or outside (`Some(false)`) the session's working directory.
    pub in_workspace: Option<bool>,
    /// Only IPv4 or only IPv6 destinations (`None`: both).
    pub family: Option<u8>,
    /// Destinations must be in these networks (empty: any) and not in `ip_exclude`.
    pub ip_include: Vec<IpNet>,
    pub ip_exclude: Vec<IpNet>,
    /// Destination ports (inclusive ranges; empty: any) and ports that exclude.
    pub port_include: Vec<(u16, u16)>,
    pub port_exclude: Vec<(u16, u16)>,
    pub threshold: Option<KernelThreshold>,
    /// Tests of the configuration's egress allowlist (`agent_sensor.destination.allowed`).
    pub egress: EgressTest,
    /// A rule that is an `any` of connection conditions: each alternative is judged as its own
    /// kernel rule (the fields above then hold only `ops`, the union of theirs).
    pub alternatives: Vec<KernelForm>,
}

/// `agent_sensor.destination.allowed` in a kernel rule. The kernel has no verdict of the
/// allowlist; the sensor compiles the configuration's `egress.allow` into address and port tests
/// when it writes the policy (`enforce::egress`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EgressTest {
    /// `allowed: true` (or `false`): only destinations the allowlist admits (or does not); with
    /// no allowlist configured, nothing matches.
    pub allowed: Option<bool>,
    /// `{exists: true}` (or its negation): only while an allowlist is (or is not) configured.
    pub configured: Option<bool>,
}

/// Most kernel rule slots one rule may take (alternatives, port groups of the allowlist).
pub const MAX_SLOTS_PER_RULE: usize = 8;

impl KernelForm {
    /// The forms the kernel judges in separate slots: the alternatives, or the form itself.
    pub fn slots(&self) -> &[KernelForm] {
        if self.alternatives.is_empty() {
            std::slice::from_ref(self)
        } else {
            &self.alternatives
        }
    }

    pub fn empty() -> Self {
        KernelForm {
            ops: Ops(0),
            paths: Vec::new(),
            exclude: Vec::new(),
            excepts: Vec::new(),
            not_directory: false,
            written_by_session: false,
            existing: false,
            in_workspace: None,
            family: None,
            ip_include: Vec::new(),
            ip_exclude: Vec::new(),
            port_include: Vec::new(),
            port_exclude: Vec::new(),
            threshold: None,
            egress: EgressTest::default(),
            alternatives: Vec::new(),
        }
    }
}

/// Why a rule has no kernel form: where, and what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NotKernel {
    pub pos: Pos,
    pub message: String,
    pub advice: String,
}

const KERNEL_FIELDS: &str = "event.action, file.path (or agent_sensor.exec.filename / process.executable for exec, \
     agent_sensor.file.original.path for the old name of a rename), agent_sensor.open.write, \
     agent_sensor.file.created: false, not agent_sensor.open.flags: O_DIRECTORY, \
     agent_sensor.file.written_by_session, agent_sensor.file.in_workspace, destination.ip, destination.port, \
     network.type, agent_sensor.destination.allowed (true, false, exists); `any` of path tests or of connection \
     conditions; exceptions by process.name or process.executable (optionally with file.path)";

fn not_kernel(pos: Pos, message: impl Into<String>) -> NotKernel {
    NotKernel {
        pos,
        message: message.into(),
        advice: format!(
            "the kernel evaluates {KERNEL_FIELDS}; use `action: alert` (or `kill`/`kill-tree`, which the sensor then \
             carries out after detection), or split the rule (docs/enforcement.md)"
        ),
    }
}

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

/// Whether `action` asks for enforcement at all.
pub fn enforces(action: RuleAction) -> bool {
    action != RuleAction::Alert
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

/// The scalar values of a test's `eq`/`in` operators, lists expanded.
fn values(test: &TestAst, defs: &Definitions, allowed: &[Op]) -> Result<Vec<Scalar>, NotKernel> {
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

fn strings(test: &TestAst, defs: &Definitions) -> Result<Vec<String>, NotKernel> {
    values(test, defs, &[Op::Eq, Op::In])?
        .into_iter()
        .map(|scalar| match scalar {
            Scalar::Str(text) => Ok(text),
            other => Err(not_kernel(test.pos, format!("expected a name, not {other:?}"))),
        })
        .collect()
}

fn boolean(test: &TestAst, defs: &Definitions) -> Result<bool, NotKernel> {
    match values(test, defs, &[Op::Eq])?.as_slice() {
        [Scalar::Bool(value)] => Ok(*value),
        _ => Err(not_kernel(test.pos, "expected true or false")),
    }
}

fn path_globs(test: &TestAst, defs: &Definitions) -> Result<Vec<KernelGlob>, NotKernel> {
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

fn programs(test: &TestAst, defs: &Definitions) -> Result<Vec<Program>, NotKernel> {
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

fn networks(test: &TestAst, defs: &Definitions) -> Result<Vec<IpNet>, NotKernel> {
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

fn ports(test: &TestAst, defs: &Definitions) -> Result<Vec<(u16, u16)>, NotKernel> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{
        compile::{RuleEnforcement, compile},
        pack::parse_pack,
    };

    fn rule(body: &str) -> Result<RuleEnforcement, String> {
        let text = format!("rules:\n  - id: r\n    name: n\n    description: d\n    severity: high\n{body}");
        let (pack, problems) = parse_pack("t.yaml", &text);
        assert!(problems.is_empty(), "{problems:?}");
        match compile(&[pack.expect("pack")]) {
            Ok(set) => Ok(set.rules[0].enforcement.clone().expect("an enforcing rule")),
            Err(problems) => Err(problems.to_string()),
        }
    }

    fn kernel(body: &str) -> KernelForm {
        match rule(body) {
            Ok(RuleEnforcement::Kernel(form)) => (*form).clone(),
            other => panic!("expected a kernel form, got {other:?}"),
        }
    }

    #[test]
    fn a_deny_rule_becomes_its_kernel_form() {
        let form = kernel(
            "    action: deny
    when:
      all:
        - event.action: open
        - agent_sensor.open.write: false
        - file.path: {glob: ['~/.ssh/id_*', '/etc/{shadow,gshadow}']}
        - not: {file.path: {glob: '~/.ssh/*.pub'}}
        - not: {agent_sensor.open.flags: O_DIRECTORY}
    except:
      - {process.name: [ssh], agent_sensor.process.trusted: true}
      - {file.path: {prefix: /etc/}, process.executable: /usr/sbin/unix_chkpwd}
",
        );
        assert_eq!(form.ops, Ops(PolicyOp::OpenRead.bit()));
        let paths: Vec<&str> = form.paths.iter().map(|g| g.text.as_str()).collect();
        assert_eq!(paths, ["~/.ssh/id_*", "/etc/shadow", "/etc/gshadow"]);
        assert_eq!(form.exclude.len(), 1);
        assert!(form.not_directory);
        assert_eq!(form.excepts.len(), 2);
        assert_eq!(form.excepts[0].programs, [Program::Name("ssh".into())]);
        assert!(form.excepts[0].paths.is_empty());
        assert_eq!(
            form.excepts[1].programs,
            [Program::Path("/usr/sbin/unix_chkpwd".into())]
        );
        assert_eq!(form.excepts[1].paths[0].text, "/etc/**");
    }

    #[test]
    fn deny_rules_the_kernel_cannot_evaluate_are_errors_with_a_position() {
        let error = rule(
            "    action: deny
    when:
      all:
        - event.action: exec
        - process.command_line: {contains: curl}
",
        )
        .expect_err("not a kernel rule");
        assert!(error.contains("t.yaml:10:"), "{error}");
        assert!(error.contains("process.command_line"), "{error}");
        for (body, expected) in [
            (
                "    action: deny\n    when: {all: [{event.action: open}, {event.outcome: success}]}\n",
                "event.outcome",
            ),
            (
                "    action: deny\n    when: {all: [{event.action: open}, {file.path: {glob: '~/**/id_?sa'}}]}\n",
                "does not match `?`",
            ),
            (
                "    action: deny\n    when: {file.path: {glob: '/x/*'}}\n",
                "event.action",
            ),
            (
                "    action: deny\n    when: {all: [{event.action: [open, connect]}]}\n",
                "not both",
            ),
        ] {
            let error = rule(body).expect_err(body);
            assert!(error.contains(expected), "{body}: {error}");
        }
    }

    #[test]
    fn kill_rules_without_a_kernel_form_are_left_to_the_sensor() {
        let enforcement = rule(
            "    action: kill-tree
    when: {all: [{event.action: unlink}, {process.name: rm}]}
    threshold: {count: 50, within: 10s}
",
        )
        .expect("compiles");
        match enforcement {
            RuleEnforcement::Sensor { reason } => assert!(reason.contains("process.name"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn connection_rules_keep_networks_ports_and_families() {
        let form = kernel(
            "    action: deny
    when:
      all:
        - event.action: connect
        - network.type: ipv4
        - not: {destination.ip: {cidr: 10.0.0.0/8}}
        - destination.port: {range: '1-1023'}
",
        );
        assert_eq!(form.family, Some(4));
        assert_eq!(form.ip_exclude.len(), 1);
        assert_eq!(form.port_include, [(1, 1023)]);
    }

    #[test]
    fn an_any_of_connection_conditions_becomes_alternatives_with_egress_tests() {
        let form = kernel(
            "    action: deny
    when:
      any:
        - all: [{event.action: connect}, {agent_sensor.destination.allowed: false}]
        - all:
            - event.action: connect
            - not: {agent_sensor.destination.allowed: {exists: true}}
            - not: {destination.ip: {cidr: [10.0.0.0/8]}}
            - not: {destination.port: [443]}
",
        );
        assert_eq!(form.ops, Ops(PolicyOp::Connect.bit()));
        assert_eq!(form.alternatives.len(), 2);
        assert_eq!(form.slots().len(), 2);
        let [first, second] = &form.alternatives[..] else {
            panic!("two alternatives");
        };
        assert_eq!(
            first.egress,
            EgressTest {
                allowed: Some(false),
                configured: None
            }
        );
        assert_eq!(
            second.egress,
            EgressTest {
                allowed: None,
                configured: Some(false)
            }
        );
        assert_eq!(second.ip_exclude.len(), 1);
        assert_eq!(second.port_exclude, [(443, 443)]);
        for (body, expected) in [
            (
                "    action: deny\n    when: {any: [{all: [{event.action: connect}, {destination.port: 53}]}, {event.action: open}]}\n",
                "judge connections in every branch",
            ),
            (
                "    action: deny\n    when: {any: [{all: [{event.action: connect}, {destination.port: 53}]}, {all: [{event.action: connect}, {destination.port: 853}]}]}\n    threshold: {count: 3, within: 10s}\n",
                "threshold",
            ),
            (
                "    action: deny\n    when: {all: [{event.action: connect}, {not: {agent_sensor.destination.allowed: false}}]}\n",
                "negation",
            ),
        ] {
            let error = rule(body).expect_err(body);
            assert!(error.contains(expected), "{body}: {error}");
        }
    }

    #[test]
    fn the_shipped_unexpected_egress_has_a_kernel_form_once_made_deny() {
        let mut sources = crate::rules::loader::read_sources(&[]).expect("shipped packs");
        sources.push((
            "site.yaml".into(),
            "ruleset: site\noverrides:\n  rules:\n    unexpected-egress: {action: deny}\n".into(),
        ));
        let (set, _) = crate::rules::loader::compile_sources(&sources).expect("compiles");
        let rule = set
            .rules
            .iter()
            .find(|rule| &*rule.meta.id == "unexpected-egress")
            .expect("rule");
        let form = rule.kernel_form().expect("a kernel form");
        assert_eq!(form.alternatives.len(), 2);
        assert_eq!(form.alternatives[0].egress.allowed, Some(false));
        assert_eq!(form.alternatives[1].egress.configured, Some(false));
        assert!(!form.alternatives[1].ip_exclude.is_empty() && !form.alternatives[1].port_exclude.is_empty());
        let dns = set
            .rules
            .iter()
            .find(|rule| &*rule.meta.id == "dns-unexpected-resolver")
            .expect("rule");
        let dns = dns.kernel_form().expect("a kernel form");
        assert_eq!(dns.port_include, [(53, 53), (853, 853)]);
    }
}
