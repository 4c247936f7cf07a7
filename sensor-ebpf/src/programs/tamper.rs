//! Protecting the sensor from the agents it watches: signals sent to the sensor, ptrace aimed at
//! it and any bpf() call by a tracked process are reported; the BPF LSM hooks deny them (in
//! enforce mode). Untracked processes leave after one map lookup.

use aya_ebpf::{cty::c_void, helpers::bpf_get_current_uid_gid, programs::LsmContext, programs::TracePointContext};
use sensor_common::{
    abi::EPERM,
    event::{
        EVENT_TAMPER, HEADER_PRIORITY, TAMPER_ATTEMPT, TAMPER_BPF, TAMPER_DENIED, TAMPER_PTRACE, TAMPER_SEEN,
        TAMPER_SIGNAL, TAMPER_WOULD_DENY, TamperEvent,
    },
    maps::TrackedProcess,
};

use crate::{
    kernel, policy,
    record::{Ring, fill_header, output_fixed},
    settings,
};

const PTRACE_MODE_ATTACH: u32 = 0x02;

#[inline(always)]
fn tracked() -> Option<TrackedProcess> {
    crate::tracking::current()
}

/// Writes one tamper record (on the priority ring).
#[inline(always)]
fn emit(process: &TrackedProcess, kind: u32, detail: u32, target: u32, verdict: u32) {
    let mut event = TamperEvent {
        kind,
        detail,
        target,
        verdict,
        ..TamperEvent::default()
    };
    fill_header(
        &mut event.header,
        EVENT_TAMPER,
        HEADER_PRIORITY,
        process.session_id,
        size_of::<TamperEvent>() as u32,
    );
    output_fixed(Ring::Priority, &event, process.session_id);
}

/// `signal/signal_generate`: a tracked process signalled the sensor (and the signal went ahead).
pub fn on_signal_generate(ctx: &TracePointContext) -> Option<()> {
    let process = tracked()?;
    let (sig_at, pid_at, _) = settings::signal_fields();
    let target: i32 = unsafe { ctx.read_at(pid_at as usize) }.ok()?;
    let sensor = settings::sensor_tgid();
    if sensor == 0 || target as u32 != sensor {
        return None;
    }
    let sig: i32 = unsafe { ctx.read_at(sig_at as usize) }.ok()?;
    emit(&process, TAMPER_SIGNAL, sig as u32, target as u32, TAMPER_SEEN);
    Some(())
}

/// A tracked process sends `signal` to `target` (syscall entry). Only an unprivileged caller is
/// reported here: the kernel refuses it before any LSM hook or `signal_generate` runs, so this is
/// the only trace of the attempt. A root caller's signal reaches those, which report it.
#[inline(always)]
pub fn signal_attempt(process: &TrackedProcess, target: u32, signal: u32) {
    let sensor = settings::sensor_tgid();
    if sensor == 0 || target != sensor || signal == 0 {
        return;
    }
    let uid = bpf_get_current_uid_gid() as u32;
    if uid == 0 {
        return;
    }
    emit(process, TAMPER_SIGNAL, signal, target, TAMPER_ATTEMPT);
}

/// A tracked process called bpf(), or aimed ptrace at the sensor (seen at syscall entry,
/// without BPF LSM: the call goes ahead).
#[inline(always)]
pub fn seen(process: &TrackedProcess, kind: u32, detail: u32, target: u32) {
    emit(process, kind, detail, target, TAMPER_SEEN);
}

/// What an LSM hook answers for a tracked process reaching for the sensor.
#[inline(always)]
fn deny(process: &TrackedProcess, kind: u32, detail: u32, target: u32) -> i32 {
    let enforce = policy::config().is_some_and(|config| config.enforce != 0);
    let verdict = if enforce { TAMPER_DENIED } else { TAMPER_WOULD_DENY };
    emit(process, kind, detail, target, verdict);
    if enforce { -EPERM } else { 0 }
}

/// `task_kill(struct task_struct *p, struct kernel_siginfo *info, int sig, const struct cred *cred)`.
pub fn task_kill(ctx: &LsmContext) -> i32 {
    let previous: i32 = ctx.arg(4);
    if previous != 0 {
        return previous;
    }
    let Some(process) = tracked() else {
        return 0;
    };
    let task = ctx.arg::<*const c_void>(0) as u64;
    let sig: i32 = ctx.arg(2);
    let target = kernel::tgid(task);
    let sensor = settings::sensor_tgid();
    // Signal 0 only probes whether the process exists.
    if sensor == 0 || target != sensor || sig == 0 {
        return 0;
    }
    deny(&process, TAMPER_SIGNAL, sig as u32, target)
}

/// `ptrace_access_check(struct task_struct *child, unsigned int mode)`: attach access to the
/// sensor is tampering; to another process outside the caller's session, a hand-off (`handoff`).
pub fn ptrace_access_check(ctx: &LsmContext) -> i32 {
    let previous: i32 = ctx.arg(2);
    if previous != 0 {
        return previous;
    }
    let Some(process) = tracked() else {
        return 0;
    };
    let task = ctx.arg::<*const c_void>(0) as u64;
    let mode: u32 = ctx.arg(1);
    // Reading /proc/PID/stat and the like asks for READ access: `ps` and `top` may; attaching
    // (PTRACE_ATTACH/SEIZE, /proc/PID/mem) may not.
    if mode & PTRACE_MODE_ATTACH == 0 {
        return 0;
    }
    let target = kernel::tgid(task);
    let sensor = settings::sensor_tgid();
    if sensor == 0 || target != sensor {
        return super::handoff::attach(&process, target);
    }
    deny(&process, TAMPER_PTRACE, mode, target)
}

/// `bpf(int cmd, union bpf_attr *attr, unsigned int size[, struct bpf_token *token])`: no
/// tracked process may use bpf(). The previous answer follows the arguments, so kernels with BPF
/// tokens (6.9+) get their own program (`RET_ARG` 4 instead of 3); userspace attaches the one
/// that matches the kernel's BTF.
#[inline(always)]
pub fn bpf<const RET_ARG: usize>(ctx: &LsmContext) -> i32 {
    let previous: i32 = ctx.arg(RET_ARG);
    if previous != 0 {
        return previous;
    }
    let Some(process) = tracked() else {
        return 0;
    };
    let cmd: i32 = ctx.arg(0);
    deny(&process, TAMPER_BPF, cmd as u32, 0)
}
