//! Agent Sensor kernel programs.
//!
//! Every program starts with one map lookup (is this process part of a tracked agent session?) and
//! leaves at once when it is not. Tracked processes get their events assembled in a per-CPU
//! buffer and copied into one ring buffer; every failure to do so is counted.
#![no_std]
#![no_main]

mod counters;
mod kernel;
mod maps;
mod matching;
mod paths;
mod pending;
mod programs;
mod record;
mod settings;

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use sensor_common::event::Syscall;

use programs::{process, syscalls};

#[tracepoint]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    let _ = process::on_exec(&ctx);
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
            let _ = syscalls::on_enter::<$args>(&ctx, Syscall::$syscall);
            0
        }
    )*};
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
    let _ = syscalls::on_exit(&ctx);
    0
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
