#!/bin/bash
# `make systemd-check`: check.sh against this checkout, with its logs in target/livesystemd/
# (not /tmp: nothing is left there) and never two runs at once on this host (a second
# booted system would share the machine's two cores and skew every timing limit).
# Where it cannot run it says why and exits 0 ("systemd-check: SKIPPED (...)"); it is
# not part of `make test`. Exit codes otherwise are check.sh's (see README.md).
set -u
here=$(dirname "$(realpath "$0")")
work=$(realpath "$here/../..")
skip() { echo "systemd-check: SKIPPED ($*)"; exit 0; }

[ "$(id -u)" = 0 ] || skip "needs root: it mounts file systems and boots systemd in namespaces"
[ -x /lib/systemd/systemd ] || skip "no /lib/systemd/systemd on this machine"
for c in unshare nsenter flock curl make sysctl; do
  command -v "$c" >/dev/null || skip "$c not found"
done
[ -x /usr/bin/python3 ] || skip "no /usr/bin/python3 (the checks' clients use it)"
[ "$(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null)" = cgroup2fs ] \
  || skip "no cgroup2 tree at /sys/fs/cgroup/unified (the harness needs the hybrid cgroup layout of this machine kind)"
[ -x "$work/target/release/tracksd" ] || { echo "systemd-check: no $work/target/release/tracksd (make build)" >&2; exit 2; }

ctl=$work/target/livesystemd
mkdir -p "$ctl"
# -o: the lock stays with flock itself, so the booted system does not inherit it.
flock -n -o -E 75 /run/lock/tracksd-systemd-check.lock "$here/check.sh" "$work" "$ctl"
rc=$?
[ $rc = 75 ] && echo "systemd-check: another run holds /run/lock/tracksd-systemd-check.lock; not started" >&2
exit $rc
