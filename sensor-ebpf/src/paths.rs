//! Reconstructing the absolute path of a `struct path` from its dentries and mounts.
//!
//! The walk goes from the leaf up to the root of the mount tree, crossing mount points, and writes
//! each component (NUL-terminated) in that order: leaf first. Userspace reverses the components.
//! Writing forward keeps every write at a bounded offset, which is what the verifier needs.
//!
//! Each step runs as a `bpf_loop` callback, so the verifier checks one step once instead of every
//! iteration of an unrolled walk.

use aya_ebpf::{cty::c_void, helpers::generated::bpf_loop};
use sensor_common::event::{MAX_PATH_DEPTH, STR_COMPONENTS, STR_MISSING, STR_TRUNCATED, StrRef};

use crate::{
    kernel::{read, read_ptr},
    record::Record,
    settings::offset,
};

const WALKING: u32 = 0;
const REACHED_ROOT: u32 = 1;
const STOPPED: u32 = 2;

#[repr(C)]
struct Walk {
    rec: *mut Record,
    dentry: u64,
    vfsmount: u64,
    mount: u64,
    state: u32,
}

/// Appends the components of the `struct path` at `path` to the record.
#[inline(always)]
pub fn append_path(rec: &mut Record, path: u64) -> StrRef {
    append_walk(
        rec,
        read_ptr(path + offset!(path_dentry)),
        read_ptr(path + offset!(path_mnt)),
    )
}

/// Appends the components of `dentry`, a file of the mount `vfsmount` (the directory's mount
/// for a file about to be unlinked).
#[inline(never)]
pub fn append_walk(rec: &mut Record, dentry: Option<u64>, vfsmount: Option<u64>) -> StrRef {
    let start = rec.offset();
    let (Some(dentry), Some(vfsmount)) = (dentry, vfsmount) else {
        return StrRef {
            offset: start as u16,
            len: 0,
            flags: STR_COMPONENTS | STR_MISSING,
            reserved: 0,
        };
    };
    let mut walk = Walk {
        rec: rec as *mut Record,
        dentry,
        vfsmount,
        mount: vfsmount - offset!(mount_mnt),
        state: WALKING,
    };
    unsafe {
        bpf_loop(
            MAX_PATH_DEPTH as u32,
            walk_step as *mut c_void,
            &mut walk as *mut Walk as *mut c_void,
            0,
        );
    }
    let mut flags = STR_COMPONENTS;
    if walk.state != REACHED_ROOT {
        flags |= STR_TRUNCATED;
    }
    StrRef {
        offset: start as u16,
        len: (rec.offset() - start) as u16,
        flags,
        reserved: 0,
    }
}

/// One step up the tree: returns 1 to stop the loop.
extern "C" fn walk_step(_index: u64, ctx: *mut c_void) -> i64 {
    let walk = unsafe { &mut *(ctx as *mut Walk) };
    let mnt_root = read::<u64>(walk.vfsmount + offset!(vfsmount_mnt_root)).unwrap_or(0);
    if walk.dentry == mnt_root {
        // At the root of this mount: continue from the mount point in the parent mount.
        let parent = read::<u64>(walk.mount + offset!(mount_mnt_parent)).unwrap_or(walk.mount);
        if parent == walk.mount {
            walk.state = REACHED_ROOT;
            return 1;
        }
        let Some(mountpoint) = read_ptr(walk.mount + offset!(mount_mnt_mountpoint)) else {
            walk.state = STOPPED;
            return 1;
        };
        walk.dentry = mountpoint;
        walk.mount = parent;
        walk.vfsmount = parent + offset!(mount_mnt);
        return 0;
    }
    let parent = read::<u64>(walk.dentry + offset!(dentry_d_parent)).unwrap_or(walk.dentry);
    if parent == walk.dentry {
        walk.state = REACHED_ROOT;
        return 1;
    }
    let Some(name) = read_ptr(walk.dentry + offset!(dentry_d_name) + offset!(qstr_name)) else {
        walk.state = STOPPED;
        return 1;
    };
    let rec = unsafe { &mut *walk.rec };
    if !rec.component(name) {
        walk.state = STOPPED;
        return 1;
    }
    walk.dentry = parent;
    0
}
