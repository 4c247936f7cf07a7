//! Agent Sensor kernel programs.
//!
//! Every program starts with one map lookup (is this process part of a tracked agent session?) and
//! leaves at once when it is not. Tracked processes get their events assembled in a per-CPU
//! buffer and copied into a ring buffer (records that hit a kernel rule or a protected file into a
//! ring of their own); every failure to do so is counted, per session.
#![no_std]
#![no_main]

mod bounds;
mod calls;
mod capture;
mod counters;
mod kernel;
mod maps;
mod matching;
mod paths;
mod pending;
mod policy;
mod programs;
mod record;
mod repeat;
mod settings;
mod tracking;

use aya_ebpf::{
    macros::{cgroup_sock_addr, lsm, raw_tracepoint, tracepoint},
    programs::{LsmContext, RawTracePointContext, SockAddrContext, TracePointContext},
};
use sensor_common::{
    maps::{
        RAW_TAIL_COMPAT_RECORD, RAW_TAIL_ENTER_POLICY, RAW_TAIL_ENTER_SECOND, TAIL_EXEC_FINISH, TAIL_EXEC_JUDGE,
        TAIL_EXEC_SCRIPT, TAIL_EXIT_OPEN, TAIL_EXIT_OPERATION, TAIL_OPEN_POLICY, TAIL_URING_POLICY,
    },
    policy::PolicyOp,
};

use capture::{enter, exec, exit, io_uring, lifecycle, open, ops};
use programs::{fallback, handoff, lsm, sock_addr, tamper};

// Process lifecycle.

#[tracepoint]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    if exec::on_exec(&ctx) == Some(true) {
        // Does not return when the tail call happens.
        let _ = unsafe { maps::TAILS.tail_call(&ctx, TAIL_EXEC_SCRIPT) };
        exec::send_unfinished();
    }
    0
}

/// The workspace of a new session and an interpreter's script; tail-called by
/// `sched_process_exec`.
#[tracepoint]
pub fn exec_script(ctx: TracePointContext) -> u32 {
    let _ = exec::exec_script();
    let _ = unsafe { maps::TAILS.tail_call(&ctx, TAIL_EXEC_FINISH) };
    exec::send_unfinished();
    0
}

/// Finishes the exec record; tail-called by `sched_process_exec`.
#[tracepoint]
pub fn exec_finish(ctx: TracePointContext) -> u32 {
    if exec::exec_finish() == Some(true) {
        let _ = unsafe { maps::TAILS.tail_call(&ctx, TAIL_EXEC_JUDGE) };
    }
    0
}

/// Judges an exec for the tracepoint backend; tail-called by `exec_finish`.
#[tracepoint]
pub fn exec_judge(_ctx: TracePointContext) -> u32 {
    let _ = exec::exec_judge();
    0
}

#[tracepoint]
pub fn task_newtask(ctx: TracePointContext) -> u32 {
    let _ = lifecycle::on_newtask(&ctx);
    0
}

#[tracepoint]
pub fn sched_process_exit(ctx: TracePointContext) -> u32 {
    let _ = lifecycle::on_exit(&ctx);
    0
}

// Syscalls: every entry through one raw tracepoint, the exits of the 64-bit calls through
// their own tracepoints.

#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn sys_enter(ctx: RawTracePointContext) -> i32 {
    match enter::on_enter(&ctx) {
        Some(enter::Next::Judge) => {
            // Does not return when the tail call happens.
            let _ = unsafe { maps::RAW_TAILS.tail_call(&ctx, RAW_TAIL_ENTER_POLICY) };
        }
        Some(enter::Next::Compat) => {
            let _ = unsafe { maps::RAW_TAILS.tail_call(&ctx, RAW_TAIL_COMPAT_RECORD) };
            exit::forget_current();
        }
        _ => {}
    }
    0
}

/// Judges a call at entry for the tracepoint backend; tail-called by `sys_enter` (64-bit calls)
/// and by `compat_record` (32-bit calls, which the pending entry marks: one program verified for
/// both doors).
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn enter_policy(ctx: RawTracePointContext) -> i32 {
    if fallback::judge_at_entry(fallback::Part::First) == Some(true) {
        let _ = unsafe { maps::RAW_TAILS.tail_call(&ctx, RAW_TAIL_ENTER_SECOND) };
        // The second program did not run: a 32-bit call has no exit that would forget it.
        fallback::forget_compat();
    }
    0
}

/// Judges a call's second path argument at entry; tail-called by `enter_policy`.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn enter_policy_second(_ctx: RawTracePointContext) -> i32 {
    let _ = fallback::judge_at_entry(fallback::Part::Second);
    0
}

/// Reports a 32-bit call at entry, then has it judged; tail-called by `sys_enter`.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn compat_record(ctx: RawTracePointContext) -> i32 {
    ops::emit_pending_compat();
    let _ = unsafe { maps::RAW_TAILS.tail_call(&ctx, RAW_TAIL_ENTER_POLICY) };
    exit::forget_current();
    0
}

/// One program for every syscall exit: the pending entry says which syscall it was.
#[tracepoint]
pub fn sys_exit(ctx: TracePointContext) -> u32 {
    let index = match exit::on_exit(&ctx) {
        Some(exit::Next::Open) => TAIL_EXIT_OPEN,
        Some(exit::Next::Operation) => TAIL_EXIT_OPERATION,
        None => return 0,
    };
    // Does not return when the tail call happens.
    let _ = unsafe { maps::TAILS.tail_call(&ctx, index) };
    exit::forget_current();
    0
}

/// The record of a finished open; tail-called by `sys_exit`.
#[tracepoint]
pub fn exit_open(ctx: TracePointContext) -> u32 {
    if open::on_exit_open(&ctx) == Some(true) {
        let _ = unsafe { maps::TAILS.tail_call(&ctx, TAIL_OPEN_POLICY) };
        exit::forget_current();
    }
    0
}

/// The policy's work on a finished open; tail-called by `exit_open`.
#[tracepoint]
pub fn open_policy(_ctx: TracePointContext) -> u32 {
    let _ = open::open_policy();
    0
}

/// The record of a finished generic operation; tail-called by `sys_exit`.
#[tracepoint]
pub fn exit_operation(ctx: TracePointContext) -> u32 {
    let _ = ops::on_exit_operation(&ctx);
    0
}

/// io_uring submissions of tracked processes.
#[tracepoint]
pub fn io_uring_submit_req(ctx: TracePointContext) -> u32 {
    if io_uring::on_submit(&ctx) == Some(true) {
        let _ = unsafe { maps::TAILS.tail_call(&ctx, TAIL_URING_POLICY) };
    }
    0
}

/// Judges an io_uring request for the tracepoint backend; tail-called by `io_uring_submit_req`.
#[tracepoint]
pub fn uring_policy(_ctx: TracePointContext) -> u32 {
    let _ = io_uring::judge_submitted();
    0
}

// BPF LSM hooks (the strongest backend; absent where the kernel refuses BPF LSM).

#[lsm(hook = "file_open")]
pub fn lsm_file_open(ctx: LsmContext) -> i32 {
    lsm::file_open(&ctx)
}

#[lsm(hook = "path_unlink")]
pub fn lsm_path_unlink(ctx: LsmContext) -> i32 {
    lsm::path_remove(&ctx, PolicyOp::Unlink)
}

#[lsm(hook = "path_rmdir")]
pub fn lsm_path_rmdir(ctx: LsmContext) -> i32 {
    lsm::path_remove(&ctx, PolicyOp::Rmdir)
}

#[lsm(hook = "path_rename")]
pub fn lsm_path_rename(ctx: LsmContext) -> i32 {
    lsm::path_rename(&ctx)
}

#[lsm(hook = "path_link")]
pub fn lsm_path_link(ctx: LsmContext) -> i32 {
    lsm::path_link(&ctx)
}

#[lsm(hook = "path_symlink")]
pub fn lsm_path_symlink(ctx: LsmContext) -> i32 {
    lsm::path_symlink(&ctx)
}

#[lsm(hook = "path_truncate")]
pub fn lsm_path_truncate(ctx: LsmContext) -> i32 {
    lsm::path_truncate(&ctx)
}

/// `file_truncate` exists from kernel 6.2 (ftruncate and `O_TRUNC` go through it there).
#[lsm(hook = "file_truncate")]
pub fn lsm_file_truncate(ctx: LsmContext) -> i32 {
    lsm::file_truncate(&ctx)
}

#[lsm(hook = "bprm_check_security")]
pub fn lsm_bprm_check_security(ctx: LsmContext) -> i32 {
    lsm::bprm_check_security(&ctx)
}

#[lsm(hook = "socket_connect")]
pub fn lsm_socket_connect(ctx: LsmContext) -> i32 {
    lsm::socket_connect(&ctx)
}

#[lsm(hook = "socket_sendmsg")]
pub fn lsm_socket_sendmsg(ctx: LsmContext) -> i32 {
    lsm::socket_sendmsg(&ctx)
}

// Protecting the sensor: the `signal_generate` tracepoint and the syscall entry report, LSM
// hooks deny (docs/enforcement.md).

#[tracepoint]
pub fn signal_generate(ctx: TracePointContext) -> u32 {
    let _ = tamper::on_signal_generate(&ctx);
    0
}

#[lsm(hook = "unix_stream_connect")]
pub fn lsm_unix_stream_connect(ctx: LsmContext) -> i32 {
    handoff::unix_stream_connect(&ctx)
}

#[lsm(hook = "task_kill")]
pub fn lsm_task_kill(ctx: LsmContext) -> i32 {
    tamper::task_kill(&ctx)
}

#[lsm(hook = "ptrace_access_check")]
pub fn lsm_ptrace_access_check(ctx: LsmContext) -> i32 {
    tamper::ptrace_access_check(&ctx)
}

/// `bpf` before kernel 6.9: three arguments, then the previous answer.
#[lsm(hook = "bpf")]
pub fn lsm_bpf(ctx: LsmContext) -> i32 {
    tamper::bpf::<3>(&ctx)
}

/// `bpf` since kernel 6.9: a fourth argument (the BPF token), then the previous answer.
#[lsm(hook = "bpf")]
pub fn lsm_bpf_token(ctx: LsmContext) -> i32 {
    tamper::bpf::<4>(&ctx)
}

// cgroup socket-address programs: the routes to the network no connect call shows, and the
// network backend without BPF LSM.

#[cgroup_sock_addr(connect4)]
pub fn cgroup_connect4(ctx: SockAddrContext) -> i32 {
    sock_addr::judge(&ctx, true, false)
}

#[cgroup_sock_addr(connect6)]
pub fn cgroup_connect6(ctx: SockAddrContext) -> i32 {
    sock_addr::judge(&ctx, false, false)
}

#[cgroup_sock_addr(sendmsg4)]
pub fn cgroup_sendmsg4(ctx: SockAddrContext) -> i32 {
    sock_addr::judge(&ctx, true, true)
}

#[cgroup_sock_addr(sendmsg6)]
pub fn cgroup_sendmsg6(ctx: SockAddrContext) -> i32 {
    sock_addr::judge(&ctx, false, true)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
