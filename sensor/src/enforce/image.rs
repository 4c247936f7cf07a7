//! The policy image: everything the kernel maps hold for a rule set, computed in userspace
//! (rule slots, path sets, name patterns, program exceptions, address sets), so it can be checked
//! in tests and written to the maps as a whole.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
};

use ipnet::IpNet;
use sensor_common::policy::{
    ACTION_DENY, ACTION_KILL, ACTION_KILL_TREE, AT_ANY_DEPTH, AT_CHILD, BELOW_CHILD, CIDR_KEY_BYTES, DirPatterns,
    ESCALATE_FREEZE, ESCALATE_KILL_TREE, MAX_DIR_PATTERNS, MAX_PATH_SETS, MAX_PORT_RANGES, MAX_RULES, NamePattern,
    PolicyConfig, PolicyOp, PolicyRule, PortRange, RULE_DISTINCT, RULE_IN_WORKSPACE, RULE_IPV4_ONLY, RULE_IPV6_ONLY,
    RULE_NOT_DIRECTORY, RULE_OUTSIDE_WORKSPACE, RULE_WRITTEN_BY_SESSION, component_hash, path_hash,
};

use super::{
    egress::{self, EgressPlan},
    expand::{ListDirs, Pattern, components, expand},
};
use crate::rules::{
    RuleAction,
    compile::RuleSet,
    kernel_form::{KernelForm, MAX_SLOTS_PER_RULE, Program},
    kernel_glob::{KernelGlob, NameTest, Tail},
    rule::EscalateTo,
    rule::RuleMeta,
};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImageError {
    #[error("{0} rules are carried out in the kernel; it holds {MAX_RULES} at most (turn some into alert rules)")]
    TooManyRules(usize),
    #[error(
        "the kernel rules need more than {MAX_PATH_SETS} distinct path sets and exceptions; merge rules that share paths"
    )]
    TooManySets,
    #[error("rule `{rule}`: more than {MAX_PORT_RANGES} port ranges in one test")]
    TooManyPorts { rule: String },
    #[error(
        "rule `{rule}` takes {slots} kernel slots; one rule may take {MAX_SLOTS_PER_RULE} (alternatives × port groups of the egress allowlist)"
    )]
    TooManySlots { rule: String, slots: usize },
    #[error("rule `{rule}`: {problem}")]
    Egress { rule: String, problem: egress::SlotError },
    #[error(
        "directory {dir} has more than {MAX_DIR_PATTERNS} name patterns across the kernel rules (first too many: `{glob}`)"
    )]
    TooManyPatterns { dir: String, glob: String },
}

/// A rule the kernel judges, by slot (a rule may take several: its alternatives, and the port
/// groups of the egress allowlist; `form` is then one of them, egress tests compiled away).
#[derive(Clone, Debug)]
pub struct SlotRule {
    pub meta: Arc<RuleMeta>,
    pub form: Arc<KernelForm>,
}

/// The contents of the policy maps.
#[derive(Clone, Debug, Default)]
pub struct PolicyImage {
    /// `config.enforce` and `config.backends` are left to the caller.
    pub config: PolicyConfig,
    pub rules: Vec<PolicyRule>,
    pub slots: Vec<SlotRule>,
    pub files: HashMap<u64, u64>,
    pub dirs: HashMap<u64, DirPatterns>,
    pub programs: HashMap<u64, u64>,
    /// LPM keys (prefix length, data).
    pub cidrs: Vec<(u32, [u8; CIDR_KEY_BYTES])>,
    /// Readable form of the directory patterns, for `agent-sensor policy` and tests.
    pub described: BTreeMap<String, Vec<String>>,
    /// Every concrete pattern of the path sets (for seeding protected files by identity).
    pub patterns: Vec<Pattern>,
}

/// What the image is built from besides the rules.
pub struct ImageInputs<'a> {
    pub seed: u64,
    /// Every home directory `~` stands for.
    pub homes: &'a [String],
    pub dirs: &'a dyn ListDirs,
    /// The configuration's egress allowlist, compiled (`None`: none configured).
    pub egress: Option<&'a EgressPlan>,
}

/// Allocates path-set bits, sharing a bit between identical glob lists.
struct Sets<'a> {
    next: usize,
    by_globs: HashMap<Vec<String>, u64>,
    image: &'a mut PolicyImage,
    inputs: &'a ImageInputs<'a>,
}

impl Sets<'_> {
    fn allocate(&mut self) -> Result<u64, ImageError> {
        if self.next >= MAX_PATH_SETS {
            return Err(ImageError::TooManySets);
        }
        let bit = 1u64 << self.next;
        self.next += 1;
        Ok(bit)
    }

    /// The bit of the set of paths `globs` match (shared with identical lists when `shared`).
    fn paths(&mut self, globs: &[KernelGlob], shared: bool) -> Result<u64, ImageError> {
        let key: Vec<String> = globs.iter().map(|glob| glob.text.clone()).collect();
        if shared && let Some(&bit) = self.by_globs.get(&key) {
            return Ok(bit);
        }
        let bit = self.allocate()?;
        if shared {
            self.by_globs.insert(key, bit);
        }
        if globs.is_empty() {
            self.image.config.always_sets |= bit;
            return Ok(bit);
        }
        for glob in globs {
            for pattern in expand(glob, self.inputs.homes, self.inputs.dirs) {
                self.image.add_pattern(self.inputs.seed, &pattern, bit, &glob.text)?;
            }
        }
        Ok(bit)
    }
}

impl PolicyImage {
    /// The image of every kernel rule in `rules`.
    pub fn build(rules: &RuleSet, inputs: &ImageInputs) -> Result<Self, ImageError> {
        let mut kernel: Vec<SlotRule> = Vec::new();
        for rule in &rules.rules {
            let Some(form) = rule.kernel_form() else {
                continue;
            };
            let mut slots = Vec::new();
            for alternative in form.slots() {
                let expanded = egress::expand(alternative, inputs.egress).map_err(|problem| ImageError::Egress {
                    rule: rule.meta.id.to_string(),
                    problem,
                })?;
                slots.extend(expanded);
            }
            if slots.len() > MAX_SLOTS_PER_RULE {
                return Err(ImageError::TooManySlots {
                    rule: rule.meta.id.to_string(),
                    slots: slots.len(),
                });
            }
            if slots.len() == 1 && form.alternatives.is_empty() && slots[0] == **form {
                kernel.push(SlotRule {
                    meta: rule.meta.clone(),
                    form: form.clone(),
                });
                continue;
            }
            kernel.extend(slots.into_iter().map(|slot| SlotRule {
                meta: rule.meta.clone(),
                form: Arc::new(slot),
            }));
        }
        if kernel.len() > MAX_RULES {
            return Err(ImageError::TooManyRules(kernel.len()));
        }
        let mut image = PolicyImage {
            config: PolicyConfig {
                seed: inputs.seed,
                ..PolicyConfig::default()
            },
            rules: vec![PolicyRule::default(); MAX_RULES],
            ..PolicyImage::default()
        };
        let mut address_sets: HashMap<Vec<IpNet>, u32> = HashMap::new();
        let mut cidrs = Vec::new();
        {
            let mut sets = Sets {
                next: 0,
                by_globs: HashMap::new(),
                image: &mut image,
                inputs,
            };
            for (slot, rule) in kernel.iter().enumerate() {
                let form = &rule.form;
                let mut entry = PolicyRule {
                    ops: form.ops.0,
                    action: match rule.meta.action {
                        RuleAction::Kill => ACTION_KILL,
                        RuleAction::KillTree => ACTION_KILL_TREE,
                        _ => ACTION_DENY,
                    },
                    flags: flags(form),
                    ..PolicyRule::default()
                };
                if let Some(escalate) = rule.meta.escalate {
                    entry.escalate_window_ns = escalate.window.as_nanos() as u64;
                    entry.escalate_after = escalate.after;
                    entry.escalate_then = match escalate.then {
                        EscalateTo::Freeze => ESCALATE_FREEZE,
                        EscalateTo::KillTree => ESCALATE_KILL_TREE,
                    };
                }
                if let Some(threshold) = &form.threshold {
                    entry.threshold = threshold.count;
                    entry.window_ns = threshold.within.as_nanos() as u64;
                    if !threshold.distinct {
                        for op in PolicyOp::ALL {
                            if form.ops.contains(op) {
                                sets.image.config.counting[op as usize] = 1;
                            }
                        }
                    }
                }
                if !form.paths.is_empty() {
                    entry.include_sets = sets.paths(&form.paths, true)?;
                }
                if !form.exclude.is_empty() {
                    entry.exclude_sets = sets.paths(&form.exclude, true)?;
                }
                for except in &form.excepts {
                    // Each exception has its own set: its programs are excepted there only.
                    let bit = sets.paths(&except.paths, false)?;
                    entry.except_sets |= bit;
                    for program in &except.programs {
                        for hash in program_hashes(inputs.seed, program) {
                            *sets.image.programs.entry(hash).or_default() |= bit;
                        }
                    }
                }
                for (nets, field) in [(&form.ip_include, 0), (&form.ip_exclude, 1)] {
                    if nets.is_empty() {
                        continue;
                    }
                    let next = address_sets.len() as u32;
                    let id = *address_sets.entry(nets.clone()).or_insert_with(|| {
                        cidrs.extend(nets.iter().map(|net| cidr_key(next, net)));
                        next
                    });
                    if field == 0 {
                        entry.ip_include = id + 1;
                    } else {
                        entry.ip_exclude = id + 1;
                    }
                }
                let ports = |ranges: &[(u16, u16)]| -> Result<([PortRange; MAX_PORT_RANGES], u32), ImageError> {
                    if ranges.len() > MAX_PORT_RANGES {
                        return Err(ImageError::TooManyPorts {
                            rule: rule.meta.id.to_string(),
                        });
                    }
                    let mut out = [PortRange::EMPTY; MAX_PORT_RANGES];
                    for (index, &(low, high)) in ranges.iter().enumerate() {
                        out[index] = PortRange { low, high };
                    }
                    Ok((out, ranges.len() as u32))
                };
                (entry.port_include, entry.port_include_count) = ports(&form.port_include)?;
                (entry.port_exclude, entry.port_exclude_count) = ports(&form.port_exclude)?;
                for op in PolicyOp::ALL {
                    if form.ops.contains(op) {
                        sets.image.config.op_rules[op as usize] |= 1 << slot;
                        sets.image.config.op_sets[op as usize] |= entry.include_sets;
                        if entry.include_sets == 0 {
                            sets.image.config.unscoped_ops |= 1 << op as u32;
                        }
                    }
                }
                if form.written_by_session {
                    sets.image.config.track_written = 1;
                }
                sets.image.rules[slot] = entry;
            }
        }
        image.cidrs = cidrs;
        image.slots = kernel;
        Ok(image)
    }

    fn add_pattern(&mut self, seed: u64, pattern: &Pattern, bit: u64, glob: &str) -> Result<(), ImageError> {
        if !self.patterns.contains(pattern) {
            self.patterns.push(pattern.clone());
        }
        if let Some(path) = pattern.exact_path() {
            *self.files.entry(path_hash(seed, path.as_bytes())).or_default() |= bit;
            self.described
                .entry(path)
                .or_default()
                .push(format!("exact [{bit:#x}]"));
            return Ok(());
        }
        let (place, test) = match &pattern.tail {
            Tail::Child(test) => (AT_CHILD, test),
            Tail::BelowChild(test) => (BELOW_CHILD, test),
            Tail::AnyDepth(test) => (AT_ANY_DEPTH, test),
        };
        let mut encoded = name_pattern(seed, test);
        encoded.kind |= place;
        encoded.sets = bit;
        let depth = super::expand::components(&pattern.dir).len();
        if depth < 64 {
            self.config.dir_depths |= 1 << depth;
        }
        let dir = self.dirs.entry(path_hash(seed, pattern.dir.as_bytes())).or_default();
        let count = dir.count as usize;
        if let Some(existing) = dir.patterns[..count]
            .iter_mut()
            .find(|existing| NamePattern { sets: 0, ..**existing } == encoded_without_sets(&encoded))
        {
            existing.sets |= bit;
        } else {
            if count >= MAX_DIR_PATTERNS {
                return Err(ImageError::TooManyPatterns {
                    dir: pattern.dir.clone(),
                    glob: glob.to_string(),
                });
            }
            dir.patterns[count] = encoded;
            dir.count += 1;
        }
        self.described
            .entry(pattern.dir.clone())
            .or_default()
            .push(format!("{} [{bit:#x}]", describe_tail(&pattern.tail)));
        Ok(())
    }

    /// The rule in `slot`.
    pub fn slot(&self, slot: usize) -> Option<&SlotRule> {
        self.slots.get(slot)
    }
}

fn encoded_without_sets(pattern: &NamePattern) -> NamePattern {
    NamePattern { sets: 0, ..*pattern }
}

fn describe_tail(tail: &Tail) -> String {
    let name = |test: &NameTest| match test {
        NameTest::Any => "*".to_string(),
        NameTest::Exact(name) => name.clone(),
        NameTest::Wildcard { prefix, suffix } => format!("{prefix}*{suffix}"),
    };
    match tail {
        Tail::Child(test) => name(test),
        Tail::BelowChild(test) => format!("{}/**", name(test)),
        Tail::AnyDepth(NameTest::Any) => "**".to_string(),
        Tail::AnyDepth(test) => format!("**/{}", name(test)),
    }
}

fn flags(form: &KernelForm) -> u32 {
    let mut flags = 0;
    if form.written_by_session {
        flags |= RULE_WRITTEN_BY_SESSION;
    }
    match form.in_workspace {
        Some(true) => flags |= RULE_IN_WORKSPACE,
        Some(false) => flags |= RULE_OUTSIDE_WORKSPACE,
        None => {}
    }
    if form.not_directory {
        flags |= RULE_NOT_DIRECTORY;
    }
    if form.threshold.as_ref().is_some_and(|threshold| threshold.distinct) {
        flags |= RULE_DISTINCT;
    }
    match form.family {
        Some(4) => flags |= RULE_IPV4_ONLY,
        Some(6) => flags |= RULE_IPV6_ONLY,
        _ => {}
    }
    flags
}

/// The kernel encoding of a name test.
pub fn name_pattern(seed: u64, test: &NameTest) -> NamePattern {
    match test {
        NameTest::Any => NamePattern::default(),
        NameTest::Exact(name) => NamePattern::exact(seed, name.as_bytes()),
        NameTest::Wildcard { prefix, suffix } => NamePattern::wildcard(prefix.as_bytes(), suffix.as_bytes()),
    }
}

/// The hashes a program is known by in the kernel: its base name, or its path (and the path it
/// resolves to, since the kernel sees the file actually executed).
pub fn program_hashes(seed: u64, program: &Program) -> Vec<u64> {
    match program {
        Program::Name(name) => vec![component_hash(seed, name.as_bytes())],
        Program::Path(path) => {
            let mut hashes = vec![path_hash(seed, normalise(path).as_bytes())];
            if let Ok(real) = std::fs::canonicalize(path) {
                let real = real.to_string_lossy().into_owned();
                hashes.push(path_hash(seed, real.as_bytes()));
            }
            hashes.dedup();
            hashes
        }
    }
}

fn normalise(path: &str) -> String {
    format!("/{}", components(path).join("/"))
}

/// The LPM key of network `net` in address set `set`.
pub fn cidr_key(set: u32, net: &IpNet) -> (u32, [u8; CIDR_KEY_BYTES]) {
    let mut data = [0u8; CIDR_KEY_BYTES];
    data[..4].copy_from_slice(&set.to_be_bytes());
    let bits = match net {
        IpNet::V4(v4) => {
            data[4..].copy_from_slice(&v4.network().to_ipv6_mapped().octets());
            96 + v4.prefix_len() as u32
        }
        IpNet::V6(v6) => {
            data[4..].copy_from_slice(&v6.network().octets());
            v6.prefix_len() as u32
        }
    };
    (32 + bits, data)
}

pub mod mirror;

#[cfg(test)]
mod tests;
