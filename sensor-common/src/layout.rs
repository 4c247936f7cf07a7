//! Offsets the kernel programs need but cannot know at compile time.
//!
//! rustc emits no CO-RE relocations, so the kernel programs read kernel structures at offsets that
//! userspace derives at start-up from the running kernel's BTF (`/sys/kernel/btf/vmlinux`) and from
//! the tracepoint `format` files, and passes in through read-only globals. One object file then works
//! on every kernel whose BTF describes these fields.

/// Byte offsets of the kernel structure fields the programs read.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelLayout {
    /// Non-zero once userspace filled the structure in.
    pub valid: u32,
    /// `task_struct.mm`.
    pub task_mm: u32,
    /// `task_struct.fs`.
    pub task_fs: u32,
    /// `task_struct.files`.
    pub task_files: u32,
    /// `task_struct.real_parent`.
    pub task_real_parent: u32,
    /// `task_struct.tgid`.
    pub task_tgid: u32,
    /// `task_struct.exit_code`.
    pub task_exit_code: u32,
    /// `task_struct.signal`.
    pub task_signal: u32,
    /// `task_struct.start_boottime`.
    pub task_start_boottime: u32,
    /// `mm_struct.arg_start`.
    pub mm_arg_start: u32,
    /// `mm_struct.arg_end`.
    pub mm_arg_end: u32,
    /// `mm_struct.exe_file`.
    pub mm_exe_file: u32,
    /// `fs_struct.pwd`.
    pub fs_pwd: u32,
    /// `files_struct.fdt`.
    pub files_fdt: u32,
    /// `fdtable.max_fds`.
    pub fdt_max_fds: u32,
    /// `fdtable.fd`.
    pub fdt_fd: u32,
    /// `file.f_path`.
    pub file_f_path: u32,
    /// `path.mnt`.
    pub path_mnt: u32,
    /// `path.dentry`.
    pub path_dentry: u32,
    /// `dentry.d_parent`.
    pub dentry_d_parent: u32,
    /// `dentry.d_name`.
    pub dentry_d_name: u32,
    /// `qstr.name`.
    pub qstr_name: u32,
    /// `vfsmount.mnt_root`.
    pub vfsmount_mnt_root: u32,
    /// `mount.mnt`.
    pub mount_mnt: u32,
    /// `mount.mnt_parent`.
    pub mount_mnt_parent: u32,
    /// `mount.mnt_mountpoint`.
    pub mount_mnt_mountpoint: u32,
    /// `signal_struct.live`.
    pub signal_live: u32,
    /// `file.f_flags`.
    pub file_f_flags: u32,
    /// `file.f_mode`.
    pub file_f_mode: u32,
    /// `file.f_inode`.
    pub file_f_inode: u32,
    /// `inode.i_ino`.
    pub inode_i_ino: u32,
    /// `inode.i_sb`.
    pub inode_i_sb: u32,
    /// `super_block.s_dev`.
    pub sb_s_dev: u32,
    /// `linux_binprm.file`.
    pub binprm_file: u32,
    /// `inode.i_mode` (u16).
    pub inode_i_mode: u32,
    /// `vfsmount.mnt_sb`.
    pub vfsmount_mnt_sb: u32,
    /// `dentry.d_inode`.
    pub dentry_d_inode: u32,
    /// `task_struct.thread_info` + `thread_info.status` (x86: `TS_COMPAT` marks a 32-bit syscall).
    pub task_ti_status: u32,
    /// `file.private_data` (a `struct socket *` for sockets), `socket.sk`.
    pub file_private_data: u32,
    /// `socket.sk`.
    pub socket_sk: u32,
    /// `sock_common` fields (at the start of `struct sock`): family, bound port (host order),
    /// bound IPv4 address, bound IPv6 address.
    pub skc_family: u32,
    /// `sock_common.skc_num`.
    pub skc_num: u32,
    /// `sock_common.skc_rcv_saddr`.
    pub skc_rcv_saddr: u32,
    /// `sock_common.skc_v6_rcv_saddr`.
    pub skc_v6_rcv_saddr: u32,
}

/// Offsets the hand-off hook (`unix_stream_connect`) needs to find who listens on a unix socket
/// and what it runs. `valid` is 0 when this kernel's BTF lacks one of them (the hook is then not
/// attached).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PeerLayout {
    /// Non-zero once userspace filled the structure in and every field was found.
    pub valid: u32,
    /// `sock.sk_peer_pid` (set by `listen()` to the listener's thread-group pid).
    pub sock_peer_pid: u32,
    /// `pid.numbers` (`numbers[0].nr` is the pid in the initial namespace; `upid.nr` is first).
    pub pid_numbers: u32,
    /// `pid.tasks` (`tasks[PIDTYPE_PID]` is first).
    pub pid_tasks: u32,
    /// `task_struct.pid_links` (`pid_links[PIDTYPE_PID]` is first).
    pub task_pid_links: u32,
    /// `unix_sock.addr`.
    pub unix_addr: u32,
    /// `unix_address.len`.
    pub unix_address_len: u32,
    /// `unix_address.name` (a `struct sockaddr_un`).
    pub unix_address_name: u32,
}

/// Offsets of io_uring's request structures, where the kernel copied an operation's arguments
/// when it was submitted. Every field is [`FIELD_ABSENT`] on kernels whose BTF lacks them (the
/// submissions are then reported without their paths).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IoUringLayout {
    /// Non-zero once userspace filled the structure in and every field was found.
    pub valid: u32,
    /// `io_kiocb.cmd`: the per-operation data (`struct io_open`, `io_unlink`, …).
    pub kiocb_cmd: u32,
    /// `io_open.dfd`.
    pub open_dfd: u32,
    /// `io_open.filename`.
    pub open_filename: u32,
    /// `io_open.how`.
    pub open_how: u32,
    /// `io_unlink.dfd`.
    pub unlink_dfd: u32,
    /// `io_unlink.flags`.
    pub unlink_flags: u32,
    /// `io_unlink.filename`.
    pub unlink_filename: u32,
    /// `struct io_rename` (renameat) and `struct io_link` (linkat, symlinkat) share a shape.
    pub rename_old_dfd: u32,
    /// `io_rename.new_dfd`.
    pub rename_new_dfd: u32,
    /// `io_rename.oldpath`.
    pub rename_oldpath: u32,
    /// `io_rename.newpath`.
    pub rename_newpath: u32,
    /// `io_rename.flags`.
    pub rename_flags: u32,
    /// `io_link.old_dfd`.
    pub link_old_dfd: u32,
    /// `io_link.new_dfd`.
    pub link_new_dfd: u32,
    /// `io_link.oldpath`.
    pub link_oldpath: u32,
    /// `io_link.newpath`.
    pub link_newpath: u32,
    /// `io_link.flags`.
    pub link_flags: u32,
    /// `filename.name`.
    pub filename_name: u32,
    /// `io_uring_submit_req` tracepoint: offsets of `req` and `opcode`.
    pub tp_req: u32,
    /// See `tp_req`.
    pub tp_opcode: u32,
}

/// Marks an optional tracepoint field that this kernel does not have.
pub const FIELD_ABSENT: u32 = u32::MAX;

/// Offsets of tracepoint fields whose layout differs between kernels (read from `format` files).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TracepointLayout {
    /// Non-zero once userspace filled the structure in.
    pub valid: u32,
    /// `sched_process_exec`: the `__data_loc char[] filename` field.
    pub exec_filename: u32,
    /// `task_newtask`: `pid` of the new task.
    pub newtask_pid: u32,
    /// `task_newtask`: `clone_flags`.
    pub newtask_clone_flags: u32,
    /// `task_newtask`: size of `clone_flags` in bytes (4 or 8).
    pub newtask_clone_flags_size: u32,
    /// `sched_process_exit`: `group_dead`, or [`FIELD_ABSENT`] on kernels that lack it.
    pub exit_group_dead: u32,
    /// `signal_generate`: the signal number.
    pub signal_sig: u32,
    /// `signal_generate`: the pid of the task the signal is for.
    pub signal_pid: u32,
    /// `signal_generate`: the result (delivered, ignored, …).
    pub signal_result: u32,
}

/// Run-time settings of the capture programs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureSettings {
    /// Non-zero: an exec whose program matches `EXEC_NAMES` starts a new session.
    pub match_profiles: u32,
    /// The sensor's own thread-group id: never tracked, never reported.
    pub sensor_tgid: u32,
    /// Boot-time ns within which repeated identical operations of a process are counted into
    /// one record (0: every operation gets its own record).
    pub repeat_window_ns: u64,
    /// Boot-time ns between two wake-ups of the event ring's reader (records in between are
    /// read at the next wake-up or by the reader's own 1 ms re-poll).
    pub wakeup_interval_ns: u64,
}
