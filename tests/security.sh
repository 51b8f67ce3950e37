#!/usr/bin/env bash
# Checks the systemd units in config/: `systemd-analyze security --offline=true`
# must rate tracksd.service's exposure at most THRESHOLD/10 (15 means 1.5), and
# `systemd-analyze verify` must accept both units; the service must keep
# RestartPreventExitStatus=2 and its SIGHUP ExecReload. Skips the systemd-analyze
# parts with a message where systemd-analyze is missing or too old (--offline and
# --threshold need systemd 250).
#
#   bash tests/security.sh [THRESHOLD] [PATH-TO-TRACKSD]
set -euo pipefail

threshold=${1:-15}
bin=${2:-target/release/tracksd}
analyze=${SYSTEMD_ANALYZE:-systemd-analyze}
units=config

# Restart policy and reload (issue 11): exit 2 is never retried, and reload is SIGHUP.
for line in 'RestartPreventExitStatus=2' 'ExecReload=/bin/kill -HUP $MAINPID'; do
    grep -qxF "$line" "$units/tracksd.service" || {
        echo "security: tracksd.service lacks the line: $line" >&2
        exit 1
    }
done
echo "security: tracksd.service has RestartPreventExitStatus=2 and ExecReload (SIGHUP)"

if ! command -v "$analyze" >/dev/null 2>&1; then
    echo "security: SKIPPED ($analyze not found; it comes with systemd)"
    exit 0
fi
help=$("$analyze" --help 2>&1 || true)
if ! grep -q -- '--offline' <<<"$help" || ! grep -q -- '--threshold' <<<"$help"; then
    echo "security: SKIPPED ($("$analyze" --version | head -n1) has no --offline/--threshold; needs systemd >= 250)"
    exit 0
fi

# The exposure score. --threshold makes systemd-analyze fail above the limit.
report=$("$analyze" security --offline=true --threshold="$threshold" "$units/tracksd.service" 2>&1) || {
    printf '%s\n' "$report" | grep -v '^✓' >&2
    echo "security: tracksd.service exposure is above $threshold/10 (see the ✗ lines above)" >&2
    exit 1
}
printf '%s\n' "$report" | grep 'Overall exposure level'

# verify needs ExecStart to name an existing executable: use the built binary
# (or /bin/true before a build) in a copy of the units.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
exe=/bin/true
[ -x "$bin" ] && exe=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
for unit in tracksd.service tracksd.socket; do
    sed "s|^ExecStart=/usr/bin/tracksd|ExecStart=$exe|" "$units/$unit" >"$work/$unit"
done
if ! out=$("$analyze" verify --man=no "$work/tracksd.service" "$work/tracksd.socket" 2>&1) || [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    echo "security: systemd-analyze verify found problems in the units" >&2
    exit 1
fi
echo "security: systemd-analyze verify: tracksd.service and tracksd.socket ok"

