#!/usr/bin/env bash
# Instructions per request of one or more tracksd binaries, counted by callgrind:
# deterministic where wall-clock req/s on a shared 2-core machine is not (it does not
# see lock contention or the kernel, so it complements `make bench`, never replaces it).
# For each binary and route: serve under valgrind, log in, warm up 2 s on one
# keep-alive connection (bench/conncheck), zero the counters, load for BENCH_SECS (5),
# dump, and divide the instructions by the responses.
#
#   bash bench/callgrind.sh NAME=PATH [NAME=PATH...]   (after `make bench` built conncheck)
#   CALLGRIND_KEEP=DIR keeps the callgrind.out files there (for callgrind_annotate).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${BENCH_SECS:-5}
CONNCHECK=bench/target/release/conncheck
[ -x "$CONNCHECK" ] || cargo build --release --locked --manifest-path bench/conncheck/Cargo.toml --target-dir bench/target >&2
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind not found (apt-get install valgrind)" >&2; exit 1; }
tmp=$(mktemp -d)
pid=
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT

echo "| binary | route | instructions / request | responses |"
echo "|---|---|---:|---:|"
for spec in "$@"; do
    name=${spec%%=*} bin=${spec#*=}
    for route in /tracks /users/me; do
        rm -rf "$tmp/state" "$tmp"/callgrind.out.*
        TRACKSD_STATE_DIR=$tmp/state valgrind --tool=callgrind --callgrind-out-file="$tmp/callgrind.out.%p" \
            "$bin" serve --listen 127.0.0.1:0 2>"$tmp/log" &
        pid=$!
        addr=
        for _ in $(seq 1 600); do
            addr=$(sed -n 's|^tracksd listening on http://||p' "$tmp/log" | head -n 1)
            [ -n "$addr" ] && break
            sleep 0.1
        done
        [ -n "$addr" ] || { cat "$tmp/log" >&2; exit 1; }
        cookie=$(curl -s -D - -o /dev/null -d username=john -d password=password "http://$addr/login" |
            sed -n 's/^[Ss]et-[Cc]ookie: *\(my_session_id=[^;]*\).*/\1/p' | head -n 1)
        # (a login also sets the device cookie of the lockout rule: keep the session's)
        "$CONNCHECK" load "$addr" --conns 1 --secs 2 --path "$route" --header "Cookie: $cookie" >/dev/null
        callgrind_control -z "$pid" >/dev/null
        eval "$("$CONNCHECK" load "$addr" --conns 1 --secs "$SECS" --path "$route" --header "Cookie: $cookie")"
        callgrind_control -d "$pid" >/dev/null
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        pid=
        # The first dump (`.1`) covers the load window alone, all threads together.
        dumped=$(ls "$tmp"/callgrind.out.*.1)
        ir=$(awk '/^summary:/ { print $2; exit }' "$dumped")
        if [ -n "${CALLGRIND_KEEP:-}" ]; then mkdir -p "$CALLGRIND_KEEP" && cp "$dumped" "$CALLGRIND_KEEP/$name${route//\//-}.out"; fi
        echo "| $name | \`GET $route\` | $(awk -v i="$ir" -v n="$responses" 'BEGIN { printf "%.0f", i / n }') | $responses |"
    done
done
