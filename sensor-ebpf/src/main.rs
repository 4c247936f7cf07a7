//! Agent Sensor kernel programs.
//!
//! Every program starts with one map lookup (is this process part of a tracked agent session?) and
//! leaves at once when it is not. Tracked processes get their events assembled in a per-CPU
//! buffer and copied into one ring buffer; every failure to do so is counted.
#![no_std]
#![no_main]

mod bounds;
mod counters;
mod kernel;
mod maps;
mod matching;
mod paths;
mod pending;
mod policy;
mod programs;
mod record;
mod settings;

use aya_ebpf::{
    macros::{cgroup_sock_addr, lsm, tracepoint},
    programs::{LsmContext, SockAddrContext, TracePointContext},
};
use sensor_common::{
    event::Syscall,
    maps::{TAIL_EXEC_POLICY, TAIL_OPEN_POLICY, TAIL_REMOVE_POLICY},
    policy::PolicyOp,
};

use programs::{lsm, process, sock_addr, syscalls, tamper};

#[tracepoint]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    if process::on_exec(&ctx).is_some() {
        // Does not return when the tail call happens (it fails when no policy is loaded).
        let _ = unsafe { maps::TAILS.tail_call(&ctx, TAIL_EXEC_POLICY) };
    }
    0
}

/// The policy's work at exec of a tracked process; tail-called by `sched_process_exec`.
#[tracepoint]
pub fn exec_policy(ctx: TracePointContext) -> u32 {
    let _ = process::exec_policy(&ctx);
    0
}

#[tracepoint]
pub fn task_newtask(ctx: TracePointContext) -> u32 {
    let _ = process::on_newtask(&ctx);
    0
}

#[tracepoint]
pub fn sched_process_exit(ctx: TracePointContext) -> u32 {
    let _ = process::on_exit(&ctx);
    0
}

/// One program per syscall entry: it knows which syscall it saw and how many arguments it has.
macro_rules! syscall_entry {
    ($($name:ident => $syscall:ident / $args:literal),* $(,)?) => {$(
        #[tracepoint]
        pub fn $name(ctx: TracePointContext) -> u32 {
            if syscalls::on_enter::<$args>(&ctx, Syscall::$syscall) == Some(true) {
                // Does not return when the tail call happens.
                let _ = unsafe { maps::TAILS.tail_call(&ctx, TAIL_REMOVE_POLICY) };
            }
            0
        }
    )*};
}

/// Judges an unlink or rmdir for the tracepoint backend; tail-called by the three entries.
#[tracepoint]
pub fn remove_policy(_ctx: TracePointContext) -> u32 {
    let _ = syscalls::judge_pending_remove();
    0
}

syscall_entry! {
    sys_enter_open => Open / 3,
    sys_enter_openat => Openat / 4,
    sys_enter_openat2 => Openat2 / 4,
    sys_enter_creat => Creat / 2,
    sys_enter_unlink => Unlink / 1,
    sys_enter_unlinkat => Unlinkat / 3,
    sys_enter_rmdir => Rmdir / 1,
    sys_enter_connect => Connect / 3,
    sys_enter_chdir => Chdir / 1,
    sys_enter_fchdir => Fchdir / 1,
}

/// One program for every syscall exit: the pending entry says which syscall it was.
#[tracepoint]
pub fn sys_exit(ctx: TracePointContext) -> u32 {
    if syscalls::on_exit(&ctx) == Some(true) {
        // Does not return when the tail call happens.
        let _ = unsafe { maps::TAILS.tail_call(&ctx, TAIL_OPEN_POLICY) };
    }
    0
}

/// The policy's work for a successful open; tail-called by `sys_exit`.
#[tracepoint]
pub fn open_policy(ctx: TracePointContext) -> u32 {
    let _ = syscalls::open_policy(&ctx);
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

#[lsm(hook = "bprm_check_security")]
pub fn lsm_bprm_check_security(ctx: LsmContext) -> i32 {
    lsm::bprm_check_security(&ctx)
}

#[lsm(hook = "socket_connect")]
pub fn lsm_socket_connect(ctx: LsmContext) -> i32 {
    lsm::socket_connect(&ctx)
}

// Protecting the sensor: tracepoints report, LSM hooks deny (docs/enforcement.md).

#[tracepoint]
pub fn signal_generate(ctx: TracePointContext) -> u32 {
    let _ = tamper::on_signal_generate(&ctx);
    0
}

#[tracepoint]
pub fn sys_enter_ptrace(ctx: TracePointContext) -> u32 {
    let _ = tamper::on_ptrace(&ctx);
    0
}

#[tracepoint]
pub fn sys_enter_bpf(ctx: TracePointContext) -> u32 {
    let _ = tamper::on_bpf(&ctx);
    0
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

// cgroup socket-address programs (the network backend without BPF LSM).

#[cgroup_sock_addr(connect4)]
pub fn cgroup_connect4(ctx: SockAddrContext) -> i32 {
    sock_addr::judge(&ctx, true)
}

#[cgroup_sock_addr(connect6)]
pub fn cgroup_connect6(ctx: SockAddrContext) -> i32 {
    sock_addr::judge(&ctx, false)
}

#[cgroup_sock_addr(sendmsg4)]
pub fn cgroup_sendmsg4(ctx: SockAddrContext) -> i32 {
    sock_addr::judge(&ctx, true)
}

#[cgroup_sock_addr(sendmsg6)]
pub fn cgroup_sendmsg6(ctx: SockAddrContext) -> i32 {
    sock_addr::judge(&ctx, false)
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
