//! Judging one operation: which of the rules for its kind fire.

use aya_ebpf::{
    cty::c_void,
    helpers::generated::bpf_loop,
    macros::map,
    maps::{PerCpuArray, lpm_trie::Key},
};
use sensor_common::{
    abi::AF_INET,
    decide::{self, Scope, file_flags_admit, in_ports},
    event::FileIdentity,
    policy::{
        CIDR_KEY_BYTES, MAX_RULES, PolicyConfig, PolicyOp, PolicyRule, RULE_DISTINCT, RULE_IPV4_ONLY, RULE_IPV6_ONLY,
    },
};

use super::{path_key::PATH_KEY, path_sets::path_sets, threshold};
use crate::maps::{POLICY_CIDRS, POLICY_PROGRAMS, POLICY_RULES, WORKSPACES};

/// An operation of a tracked process, as the rules see it. It lives in a per-CPU map
/// (`SUBJECT`), not on the stack: the programs' call chains must fit in 512 bytes of stack.
#[repr(C)]
pub struct Subject {
    pub op: PolicyOp,
    pub session: u64,
    /// The process's executable (`policy::path_hash`) and base name (`policy::component_hash`).
    pub exe_hash: u64,
    pub name_hash: u64,
    /// Non-zero when the operation has a path (in the per-CPU `PATH_KEY`).
    pub has_path: u32,
    /// Open flags, for opens.
    pub open_flags: u32,
    /// Non-zero: the file was opened for writing by this session before (exec).
    pub written: u32,
    /// Non-zero: the file existed before the operation (an open that did not create it).
    pub existing: u32,
    /// Path sets found by identity (protected files and directories, whatever their names).
    pub identity_sets: u64,
    /// Those of the file itself (not of the directories above it): they outweigh a rule's path
    /// exclusions (a key renamed to `x.pub` is still the key), where a directory's do not (a
    /// public key in a protected directory stays public).
    pub own_identity_sets: u64,
    /// The file's identity, when known (reported with the verdict).
    pub object: FileIdentity,
    /// Destination, for connect: family, address as IPv6 (IPv4 mapped), port in host order.
    pub family: u16,
    pub port: u16,
    pub addr: [u8; 16],
}

/// Per-CPU operation being judged.
#[map]
pub static SUBJECT: PerCpuArray<Subject> = PerCpuArray::with_max_entries(1, 0);

/// The rules that fired, the strongest of their actions, and how they escalate (the longest
/// window, the fewest denials, and every follow-up of the escalating rules).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Verdict {
    pub fired: u64,
    pub action: u32,
    pub escalate_then: u32,
    pub escalate_window_ns: u64,
    pub escalate_after: u32,
    pub reserved: u32,
}

/// Per-CPU verdict being built by the rule scan.
#[map]
pub static JUDGEMENT: PerCpuArray<Verdict> = PerCpuArray::with_max_entries(1, 0);

/// What every step of the rule scan needs (constant during the scan); the verdict being built
/// lives in map memory (`JUDGEMENT`), so the verifier checks one step, not every outcome.
#[repr(C)]
struct RuleScan {
    subject: *const Subject,
    verdict: *mut Verdict,
    rules: u64,
    /// The path's sets, those found by identity alone (they outweigh path exclusions), and
    /// those where the program is excepted.
    scope: Scope,
    in_workspace: u32,
}

/// Judges `subject` with the rules the policy has for its operation: connections when `NET`,
/// file operations otherwise (two programs' worth of checks the verifier never mixes).
#[inline(never)]
pub fn judge<const NET: bool>(config: &PolicyConfig, subject: &Subject) -> Verdict {
    let rules = config.op_rules[super::op_index(subject.op)];
    if rules == 0 {
        return Verdict::default();
    }
    let Some(verdict) = JUDGEMENT.get_ptr_mut(0) else {
        return Verdict::default();
    };
    unsafe { *verdict = Verdict::default() };
    let mut sets = config.always_sets | subject.identity_sets;
    let mut in_workspace = 0;
    if !NET
        && subject.has_path != 0
        && let Some(key) = PATH_KEY.get_ptr_mut(0)
    {
        let key = unsafe { &mut *key };
        sets |= path_sets(key, config.dir_depths);
        if let Some(workspace) = unsafe { WORKSPACES.get(&subject.session) } {
            in_workspace = key.is_below(workspace.hash, workspace.depth) as u32;
        }
    }
    let exempt = program_sets(subject.exe_hash) | program_sets(subject.name_hash);
    let mut scan = RuleScan {
        subject: subject as *const Subject,
        verdict,
        rules,
        scope: Scope {
            sets,
            identity: subject.own_identity_sets,
            exempt,
        },
        in_workspace,
    };
    unsafe {
        bpf_loop(
            MAX_RULES as u32,
            rule_step::<NET> as *mut c_void,
            &mut scan as *mut RuleScan as *mut c_void,
            0,
        );
        *verdict
    }
}

#[inline(always)]
fn program_sets(hash: u64) -> u64 {
    if hash == 0 {
        return 0;
    }
    unsafe { POLICY_PROGRAMS.get(&hash) }.copied().unwrap_or(0)
}

extern "C" fn rule_step<const NET: bool>(slot: u64, ctx: *mut c_void) -> i64 {
    let scan = unsafe { &mut *(ctx as *mut RuleScan) };
    if slot >= MAX_RULES as u64 {
        return 1;
    }
    let bit = 1u64 << slot;
    if scan.rules & bit == 0 {
        return if scan.rules >> slot == 0 { 1 } else { 0 };
    }
    let Some(rule) = POLICY_RULES.get(slot as u32) else {
        return 0;
    };
    let subject = unsafe { &*scan.subject };
    let applies = if NET {
        applies_to_connection(rule, scan, subject)
    } else {
        applies_to_file(rule, scan, subject)
    };
    if applies && counted::<NET>(rule, slot as u32, subject) {
        let verdict = unsafe { &mut *scan.verdict };
        verdict.fired |= bit;
        if rule.action > verdict.action {
            verdict.action = rule.action;
        }
        if rule.escalate_window_ns > 0 {
            if rule.escalate_window_ns > verdict.escalate_window_ns {
                verdict.escalate_window_ns = rule.escalate_window_ns;
            }
            if verdict.escalate_after == 0 || rule.escalate_after < verdict.escalate_after {
                verdict.escalate_after = rule.escalate_after;
            }
            verdict.escalate_then |= rule.escalate_then;
        }
    }
    0
}

/// The tests every rule has: paths, path exclusions, program exceptions (`decide::in_scope`).
#[inline(always)]
fn in_scope(rule: &PolicyRule, scan: &RuleScan) -> bool {
    decide::in_scope(rule, &scan.scope)
}

#[inline(always)]
fn applies_to_file(rule: &PolicyRule, scan: &RuleScan, subject: &Subject) -> bool {
    in_scope(rule, scan)
        && file_flags_admit(
            rule.flags,
            subject.open_flags,
            subject.written != 0,
            subject.existing != 0,
            scan.in_workspace != 0,
        )
}

#[inline(always)]
fn applies_to_connection(rule: &PolicyRule, scan: &RuleScan, subject: &Subject) -> bool {
    if !in_scope(rule, scan) {
        return false;
    }
    let flags = rule.flags;
    let ipv4 = subject.family == AF_INET;
    if (flags & RULE_IPV4_ONLY != 0 && !ipv4) || (flags & RULE_IPV6_ONLY != 0 && ipv4) {
        return false;
    }
    if rule.ip_include != 0 && !in_cidrs(rule.ip_include - 1, &subject.addr) {
        return false;
    }
    if rule.ip_exclude != 0 && in_cidrs(rule.ip_exclude - 1, &subject.addr) {
        return false;
    }
    if rule.port_include_count != 0 && !in_ports(&rule.port_include, subject.port) {
        return false;
    }
    !in_ports(&rule.port_exclude, subject.port)
}

#[inline(always)]
fn counted<const NET: bool>(rule: &PolicyRule, slot: u32, subject: &Subject) -> bool {
    if rule.threshold == 0 {
        return true;
    }
    let value = match PATH_KEY.get(0) {
        Some(key) if !NET && subject.has_path != 0 && rule.flags & RULE_DISTINCT != 0 => key.full(),
        _ => 0,
    };
    threshold::reached(subject.session, slot, rule, value)
}

#[inline(always)]
fn in_cidrs(set: u32, addr: &[u8; 16]) -> bool {
    let mut data = [0u8; CIDR_KEY_BYTES];
    data[..4].copy_from_slice(&set.to_be_bytes());
    data[4..].copy_from_slice(addr);
    let key = Key::new(32 + 128, data);
    POLICY_CIDRS.get(&key).is_some()
}
