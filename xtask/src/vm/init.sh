#!/bin/busybox sh
# The guest's first process: mount what the sensor needs, run one test binary, report its status
# on the console, power off. Written by `cargo xtask vm-test`; @…@ fields are filled in there.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t securityfs securityfs /sys/kernel/security
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# A workspace under /tmp or /run is in the initramfs: keep it visible.
case @WORKSPACE@ in /tmp/*) ;; *) mount -t tmpfs -o mode=1777 tmpfs /tmp ;; esac
case @WORKSPACE@ in /run/*) ;; *) mount -t tmpfs -o mode=755 tmpfs /run ;; esac
ip link set lo up
hostname -F /etc/hostname
echo "vm: Linux $(uname -r), LSMs: $(cat /sys/kernel/security/lsm)"

# As a login would set them: without SHELL, every bash looks the user up (and glibc tries nscd's
# socket, a connect the tests would see).
export HOME=/root SHELL=/bin/bash USER=root LOGNAME=root TMPDIR=/tmp
export CI=true AGENT_SENSOR_VM=1 RUST_BACKTRACE=1
if cd @WORKSPACE@; then
    @COMMAND@
    status=$?
else
    status=125
fi
echo "AGENT_SENSOR_VM_RESULT=$status"
sync
poweroff -f
