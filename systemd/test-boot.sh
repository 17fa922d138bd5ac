#!/bin/sh
# PID 1 of the test's PID+mount+net+uts namespace, before it becomes systemd (see the header of systemd/test.sh). Everything here is
# private to the namespace: /run, /tmp, /var/tmp and the journal are tmpfs, and /usr, /etc and /var are overlays
# whose upper layers live in that /run tmpfs, so `dpkg -i` and systemd write nothing to the host's disk.

set -eu

mount --make-rprivate /
# The cgroup file systems again, as seen from this cgroup namespace: rooted in the test's own cgroups.
if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    mount -t cgroup2 cgroup2 /sys/fs/cgroup
else
    unified=no
    [ "$(stat -fc %T /sys/fs/cgroup/unified 2>/dev/null)" != cgroup2fs ] || unified=yes
    mount -t tmpfs -o mode=0755 tmpfs /sys/fs/cgroup
    mkdir /sys/fs/cgroup/systemd
    mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
    if [ "$unified" = yes ]; then
        mkdir /sys/fs/cgroup/unified
        mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
    fi
fi
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/systest
for dir in usr etc var; do
    mkdir -p "/run/systest/overlay/$dir/upper" "/run/systest/overlay/$dir/work"
    mount -t overlay overlay \
        -o "lowerdir=/$dir,upperdir=/run/systest/overlay/$dir/upper,workdir=/run/systest/overlay/$dir/work" "/$dir"
done
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=1777 tmpfs /var/tmp
mkdir -p /var/log/journal
mount -t tmpfs -o mode=2755 tmpfs /var/log/journal
ip link set lo up
hostname systest

# Units that would touch the shared filesystem, devices or kernel, and every unit the host enabled (its servers,
# timers): masked, so that pulling in sysinit.target for our services starts none of them.
units="systemd-tmpfiles-setup.service systemd-tmpfiles-setup-dev.service systemd-tmpfiles-clean.timer
systemd-tmpfiles-clean.service systemd-sysctl.service systemd-modules-load.service systemd-binfmt.service
proc-sys-fs-binfmt_misc.automount proc-sys-fs-binfmt_misc.mount systemd-remount-fs.service systemd-sysusers.service
systemd-journal-flush.service systemd-update-utmp.service systemd-update-utmp-runlevel.service
systemd-random-seed.service console-getty.service getty.target systemd-timesyncd.service systemd-pstore.service
kmod-static-nodes.service systemd-machine-id-commit.service systemd-firstboot.service systemd-repart.service
systemd-pcrphase.service systemd-pcrphase-sysinit.service systemd-hwdb-update.service systemd-udevd.service
systemd-udev-trigger.service systemd-udev-settle.service systemd-fsck-root.service ldconfig.service
systemd-boot-update.service systemd-journal-catalog-update.service systemd-update-done.service"
mkdir -p /run/systemd/system
for wants in /etc/systemd/system/*.wants/* /lib/systemd/system/*.wants/*; do
    [ -e "$wants" ] || [ -L "$wants" ] || continue
    units="$units ${wants##*/}"
done
for unit in $units; do
    case "$unit" in
    systemd-journald.service | systemd-journald.socket | systemd-journald-dev-log.socket) continue ;;
    esac
    ln -sf /dev/null "/run/systemd/system/$unit"
done

cat >/run/systemd/system/systest.target <<'UNIT'
[Unit]
Description=supervisor systemd test
Wants=systemd-journald.service
UNIT
exec env container=unshare /lib/systemd/systemd --system --unit=systest.target
