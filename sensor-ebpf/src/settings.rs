//! Read-only globals that userspace fills in before loading (see `sensor_common::layout`).

use sensor_common::layout::{CaptureSettings, IoUringLayout, KernelLayout, PeerLayout, TracepointLayout};

#[unsafe(no_mangle)]
pub(crate) static KERNEL_LAYOUT: KernelLayout = KernelLayout {
    valid: 0,
    task_mm: 0,
    task_fs: 0,
    task_files: 0,
    task_real_parent: 0,
    task_tgid: 0,
    task_exit_code: 0,
    task_signal: 0,
    task_start_boottime: 0,
    mm_arg_start: 0,
    mm_arg_end: 0,
    mm_exe_file: 0,
    fs_pwd: 0,
    files_fdt: 0,
    fdt_max_fds: 0,
    fdt_fd: 0,
    file_f_path: 0,
    path_mnt: 0,
    path_dentry: 0,
    dentry_d_parent: 0,
    dentry_d_name: 0,
    qstr_name: 0,
    vfsmount_mnt_root: 0,
    mount_mnt: 0,
    mount_mnt_parent: 0,
    mount_mnt_mountpoint: 0,
    signal_live: 0,
    file_f_flags: 0,
    file_f_mode: 0,
    file_f_inode: 0,
    inode_i_ino: 0,
    inode_i_sb: 0,
    sb_s_dev: 0,
    binprm_file: 0,
    inode_i_mode: 0,
    vfsmount_mnt_sb: 0,
    dentry_d_inode: 0,
    task_ti_status: 0,
    file_private_data: 0,
    socket_sk: 0,
    skc_family: 0,
    skc_num: 0,
    skc_rcv_saddr: 0,
    skc_v6_rcv_saddr: 0,
};

#[unsafe(no_mangle)]
pub(crate) static IO_URING_LAYOUT: IoUringLayout = IoUringLayout {
    valid: 0,
    kiocb_cmd: 0,
    open_dfd: 0,
    open_filename: 0,
    open_how: 0,
    unlink_dfd: 0,
    unlink_flags: 0,
    unlink_filename: 0,
    rename_old_dfd: 0,
    rename_new_dfd: 0,
    rename_oldpath: 0,
    rename_newpath: 0,
    rename_flags: 0,
    link_old_dfd: 0,
    link_new_dfd: 0,
    link_oldpath: 0,
    link_newpath: 0,
    link_flags: 0,
    filename_name: 0,
    tp_req: 0,
    tp_opcode: 0,
};

#[unsafe(no_mangle)]
pub(crate) static PEER_LAYOUT: PeerLayout = PeerLayout {
    valid: 0,
    sock_peer_pid: 0,
    pid_numbers: 0,
    pid_tasks: 0,
    task_pid_links: 0,
    unix_addr: 0,
    unix_address_len: 0,
    unix_address_name: 0,
};

#[unsafe(no_mangle)]
static TRACEPOINT_LAYOUT: TracepointLayout = TracepointLayout {
    valid: 0,
    exec_filename: 0,
    newtask_pid: 0,
    newtask_clone_flags: 0,
    newtask_clone_flags_size: 0,
    exit_group_dead: 0,
    signal_sig: 0,
    signal_pid: 0,
    signal_result: 0,
};

#[unsafe(no_mangle)]
static CAPTURE_SETTINGS: CaptureSettings = CaptureSettings {
    match_profiles: 0,
    sensor_tgid: 0,
    repeat_window_ns: 0,
    wakeup_interval_ns: 0,
};

/// Reads one field of a global; volatile so the compiler keeps the load (the value is patched
/// into the object after compilation).
macro_rules! global {
    ($global:ident . $field:ident) => {
        unsafe { core::ptr::read_volatile(&raw const $global.$field) }
    };
}

/// Offset of a kernel structure field (see `KernelLayout`), as a `u64` ready for address arithmetic.
macro_rules! offset {
    ($field:ident) => {
        unsafe { core::ptr::read_volatile(&raw const $crate::settings::KERNEL_LAYOUT.$field) as u64 }
    };
}
pub(crate) use offset;

#[inline(always)]
pub fn exec_filename_offset() -> u32 {
    global!(TRACEPOINT_LAYOUT.exec_filename)
}

#[inline(always)]
pub fn newtask_pid_offset() -> u32 {
    global!(TRACEPOINT_LAYOUT.newtask_pid)
}

#[inline(always)]
pub fn newtask_clone_flags() -> (u32, u32) {
    (
        global!(TRACEPOINT_LAYOUT.newtask_clone_flags),
        global!(TRACEPOINT_LAYOUT.newtask_clone_flags_size),
    )
}

#[inline(always)]
pub fn exit_group_dead_offset() -> u32 {
    global!(TRACEPOINT_LAYOUT.exit_group_dead)
}

#[inline(always)]
pub fn match_profiles() -> bool {
    global!(CAPTURE_SETTINGS.match_profiles) != 0
}

#[inline(always)]
pub fn sensor_tgid() -> u32 {
    global!(CAPTURE_SETTINGS.sensor_tgid)
}

#[inline(always)]
pub fn repeat_window_ns() -> u64 {
    global!(CAPTURE_SETTINGS.repeat_window_ns)
}

#[inline(always)]
pub fn wakeup_interval_ns() -> u64 {
    global!(CAPTURE_SETTINGS.wakeup_interval_ns)
}

/// Offset of a field of `PeerLayout`, as a `u64`.
macro_rules! peer_offset {
    ($field:ident) => {
        unsafe { core::ptr::read_volatile(&raw const $crate::settings::PEER_LAYOUT.$field) as u64 }
    };
}
pub(crate) use peer_offset;

/// True when userspace found every field of `PeerLayout` in this kernel's BTF.
#[inline(always)]
pub fn peer_layout_valid() -> bool {
    global!(PEER_LAYOUT.valid) != 0
}

/// Offset of an io_uring field (see `IoUringLayout`), as a `u64`.
macro_rules! uring_offset {
    ($field:ident) => {
        unsafe { core::ptr::read_volatile(&raw const $crate::settings::IO_URING_LAYOUT.$field) as u64 }
    };
}
pub(crate) use uring_offset;

/// True when userspace found every io_uring field in this kernel's BTF.
#[inline(always)]
pub fn io_uring_layout_valid() -> bool {
    global!(IO_URING_LAYOUT.valid) != 0
}

/// Offsets of `signal_generate`'s `sig`, `pid` and `result` fields.
#[inline(always)]
pub fn signal_fields() -> (u32, u32, u32) {
    (
        global!(TRACEPOINT_LAYOUT.signal_sig),
        global!(TRACEPOINT_LAYOUT.signal_pid),
        global!(TRACEPOINT_LAYOUT.signal_result),
    )
}
