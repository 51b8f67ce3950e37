#!/usr/bin/env bash
# Checks a static tracksd build (`make static`, `make cross`): the ELF has no INTERP and
# no NEEDED entry (so it starts on any Linux of its architecture, whatever its libc),
# then the binary serves on a free port: GET /healthz, the login flow with the embedded
# demo user (login, /users/me, logout, the old cookie refused), and exit 0 on SIGTERM.
# A binary for another architecture runs under qemu-user (qemu-aarch64).
#
#   bash tests/cross_smoke.sh target/x86_64-unknown-linux-musl/release/tracksd
#   bash tests/cross_smoke.sh target/aarch64-unknown-linux-musl/release/tracksd
#
# Without readelf or a needed qemu it skips with a notice, except under CI=true, where
# it fails (`.ci/run` installs binutils and qemu-user).
set -euo pipefail

bin=${1:?usage: cross_smoke.sh PATH-TO-STATIC-TRACKSD}
name="smoke test of $bin"
fail() { echo "$name: FAIL: $*" >&2; exit 1; }
skip() {
    if [ "${CI:-}" = true ]; then fail "$* (required in CI)"; fi
    echo "$name: SKIPPED ($*)"
    exit 0
}
[ -x "$bin" ] || fail "not an executable file"

command -v readelf >/dev/null 2>&1 || skip "readelf not found; Debian: apt-get install binutils"
headers=$(readelf -lWd "$bin")
if grep -q 'INTERP' <<<"$headers"; then fail "has an INTERP program header (dynamically linked)"; fi
if grep -q '(NEEDED)' <<<"$headers"; then
    fail "needs shared libraries: $(grep '(NEEDED)' <<<"$headers" | tr -s ' ' | tr '\n' ' ')"
fi
machine=$(readelf -hW "$bin" | sed -n 's/^ *Machine: *//p')
echo "$name: static ($machine, $(readelf -hW "$bin" | sed -n 's/^ *Type: *//p'), no INTERP, no NEEDED), $(stat -c %s "$bin") bytes"

runner=()
case $machine in
*X86-64*) [ "$(uname -m)" = x86_64 ] || skip "an x86-64 binary on $(uname -m)" ;;
*AArch64*)
    if [ "$(uname -m)" != aarch64 ]; then
        qemu=${QEMU_AARCH64:-qemu-aarch64}
        command -v "$qemu" >/dev/null 2>&1 || skip "$qemu not found; Debian: apt-get install qemu-user"
        runner=("$qemu")
    fi
    ;;
*) skip "no way to run a $machine binary here" ;;
esac

version=$("${runner[@]}" "$bin" --version) || fail "--version failed"
echo "$name: $version${runner[*]:+ (under ${runner[*]})}"

work=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
show_log() { cat "$work/log" >&2; }

# The embedded development config: demo user john/password, 600,000-round hash.
TRACKSD_STATE_DIR=$work/state "${runner[@]}" "$bin" serve --listen 127.0.0.1:0 2>"$work/log" &
pid=$!
addr=
for _ in $(seq 1 300); do
    addr=$(sed -n 's|^tracksd listening on http://\([^ ]*\).*|\1|p' "$work/log" | head -n1)
    [ -n "$addr" ] && break
    kill -0 "$pid" 2>/dev/null || { show_log; fail "server exited at start"; }
    sleep 0.1
done
[ -n "$addr" ] || { show_log; fail "server did not start within 30 s"; }

# expect WANT CURL-ARGS... : the response body must equal WANT.
expect() {
    local want=$1 got
    shift
    got=$(curl -sS --max-time 60 "$@") || { show_log; fail "curl $* failed"; }
    # shellcheck disable=SC2053 # $want may end in * (the rest of the body varies)
    [[ "$got" == $want ]] || { show_log; fail "curl $* gave $got, want $want"; }
    echo "$name: ${*: -1} -> $got"
}
jar=$work/jar
expect '{"status":"ok",*' "http://$addr/healthz"
expect '{"success":true}' -c "$jar" -d username=john -d password=password "http://$addr/login"
expect '{"username":"john"}' -b "$jar" "http://$addr/users/me"
cp "$jar" "$work/old-jar"
expect '{"success":true}' -b "$jar" -c "$jar" -X POST "http://$addr/logout"
expect '{"detail":"Not authenticated"}' -b "$work/old-jar" "http://$addr/users/me"

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=
[ "$status" -eq 0 ] || { show_log; fail "SIGTERM gave exit status $status, want 0"; }
echo "$name: SIGTERM -> exit 0; ok"
