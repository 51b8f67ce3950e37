#!/usr/bin/env bash
# Smoke-tests a cross-built aarch64 tracksd under qemu-user: --version, then serve
# on a free port, answer GET /healthz and GET /, and exit 0 on SIGTERM. Skips
# (exit 0, with a message) when qemu-aarch64 is missing (Debian: apt-get install qemu-user).
#
#   bash tests/cross_smoke.sh target/aarch64-unknown-linux-gnu/release/tracksd
set -euo pipefail

bin=${1:?usage: cross_smoke.sh PATH-TO-AARCH64-TRACKSD}
qemu=${QEMU_AARCH64:-qemu-aarch64}
sysroot=${QEMU_LD_PREFIX:-/usr/aarch64-linux-gnu}

if ! command -v "$qemu" >/dev/null 2>&1; then
    echo "cross smoke test: SKIPPED ($qemu not found; Debian: apt-get install qemu-user)"
    exit 0
fi
export QEMU_LD_PREFIX=$sysroot

echo "cross smoke test: $("$qemu" "$bin" --version) (under $qemu)"

work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT

TRACKSD_STATE_DIR=$work/state "$qemu" "$bin" serve --listen 127.0.0.1:0 2>"$work/log" &
pid=$!
addr=
for _ in $(seq 1 200); do
    addr=$(sed -n 's|^tracksd listening on http://\([^ ]*\).*|\1|p' "$work/log" | head -n1)
    [ -n "$addr" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/log" >&2; echo "cross smoke test: server exited" >&2; exit 1; }
    sleep 0.1
done
[ -n "$addr" ] || { cat "$work/log" >&2; echo "cross smoke test: server did not start" >&2; exit 1; }

check() {
    local path=$1 want=$2 got
    got=$(curl -sS --max-time 20 "http://$addr$path")
    if [ "$got" != "$want" ]; then
        echo "cross smoke test: GET $path gave $got, want $want" >&2
        cat "$work/log" >&2
        exit 1
    fi
    echo "cross smoke test: GET $path -> $got"
}
check /healthz '{"status":"ok"}'
check / '{"Hello":"World!"}'

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
if [ "$status" -ne 0 ]; then
    cat "$work/log" >&2
    echo "cross smoke test: SIGTERM gave exit status $status, want 0" >&2
    exit 1
fi
echo "cross smoke test: SIGTERM -> exit 0; ok"
