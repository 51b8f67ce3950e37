#!/usr/bin/env bash
# make bench: throughput, latency, served connections and footprint of tracksd,
# side by side with a bare tiny_http hello server (bench/hello, the ceiling).
#
# Prints one Markdown report on stdout (progress goes to stderr):
#   bash bench/run.sh > bench/results/$(date -u +%F).md
#
# Knobs (environment):
#   BENCH_SECS=10        seconds per wrk run
#   BENCH_RUNS=3         wrk runs per row (median, min–max reported)
#   BENCH_CONNS="1 16 64"  connection counts
#   BENCH_CHECK_SECS=2   seconds per conncheck run (served connections)
#   BENCH_STARTS=10      starts for "exec to first 200"
#   BENCH_LOGIN=1        0 skips the POST /login rows (each costs a 600,000-round hash)
#   BENCH_STATIC=1       0 skips the static (musl, `make static`) build's rows
#   BENCH_BASELINE=REV   also builds git revision REV (in target/bench-baseline, removed
#                        after) and runs its rows interleaved with this build's, with
#                        the new/baseline ratios (issue 10: ≥ 0.95× at 16 connections)
#   BENCH_KEEP_BASELINE=1  keeps target/bench-baseline for the next run (same REV: no rebuild)
#   BENCH_EXTRA="NAME=PATH ..."  more tracksd binaries to compare, run like the static one
#   BENCH_BUILD_CONNS="16"  connection counts at which the static and baseline builds run
#   BENCH_NGINX=1        0 skips the nginx rows (the yardstick of issue 19: Debian's
#                        nginx-light, one worker, access log off, the same JSON bodies as
#                        static files); skipped with a note when nginx is not installed
# Every tracksd build also gets the mixed row: `GET /users/me` at 16 connections while
# 2 more connections log in back to back (real 600,000-round hashes).
# Quick check: BENCH_SECS=1 BENCH_RUNS=1 BENCH_CHECK_SECS=1 BENCH_STARTS=3 make bench
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
CARGO=${CARGO:-cargo}
SECS=${BENCH_SECS:-10}
RUNS=${BENCH_RUNS:-3}
CONNS=${BENCH_CONNS:-"1 16 64"}
CHECK_SECS=${BENCH_CHECK_SECS:-2}
STARTS=${BENCH_STARTS:-10}
LOGIN=${BENCH_LOGIN:-1}
STATIC=${BENCH_STATIC:-1}
BASELINE=${BENCH_BASELINE:-}
BUILD_CONNS=${BENCH_BUILD_CONNS:-16}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
case $TARGET_DIR in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
BIN=$TARGET_DIR/release/tracksd
STATIC_BIN=$TARGET_DIR/x86_64-unknown-linux-musl/release/tracksd
BASE_DIR=$TARGET_DIR/bench-baseline
BENCH_TARGET=$ROOT/bench/target
HELLO=$BENCH_TARGET/release/hello
CONNCHECK=$BENCH_TARGET/release/conncheck
LUA=$ROOT/bench/wrk/report.lua

say() { printf '%s\n' "bench: $*" >&2; }
die() {
    say "error: $*"
    exit 1
}

# --- tools and builds -------------------------------------------------------------

if ! command -v wrk >/dev/null 2>&1; then
    say "wrk not found; installing it with apt-get"
    SUDO=
    [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y wrk >&2
fi
command -v curl >/dev/null 2>&1 || die "curl is needed"

# --- temp state (removed on exit, with the baseline's build) ---------------------------

TMP=$(mktemp -d "${TMPDIR:-/tmp}/tracksd-bench.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
    [ "${BENCH_KEEP_BASELINE:-0}" = 1 ] || rm -rf "$BASE_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "building target/release/tracksd and the bench packages"
$CARGO build --release --locked >&2
for pkg in hello conncheck; do
    $CARGO build --release --locked --manifest-path "$ROOT/bench/$pkg/Cargo.toml" \
        --target-dir "$BENCH_TARGET" >&2
done
# The tracksd builds compared, by name: the glibc one (`make build`) is "tracksd".
BUILDS=(tracksd)
declare -A BUILD_BIN=([tracksd]=$BIN)
if [ "$STATIC" != 0 ]; then
    say "building the static build (make static)"
    make --no-print-directory static CARGO="$CARGO" >&2
    BUILDS+=(static)
    BUILD_BIN[static]=$STATIC_BIN
fi
for extra in ${BENCH_EXTRA:-}; do
    [ -x "${extra#*=}" ] || die "BENCH_EXTRA: ${extra#*=} is not an executable"
    BUILDS+=("${extra%%=*}")
    BUILD_BIN[${extra%%=*}]=${extra#*=}
done
if [ -n "$BASELINE" ]; then
    base_rev=$(git rev-parse --verify "$BASELINE^{commit}") || die "BENCH_BASELINE=$BASELINE is no commit"
    say "building the baseline ${base_rev:0:10} in $BASE_DIR (removed after)"
    if [ "$(cat "$BASE_DIR/rev" 2>/dev/null)" != "$base_rev" ]; then
        rm -rf "$BASE_DIR"
        mkdir -p "$BASE_DIR/src"
        git archive "$base_rev" | tar -x -C "$BASE_DIR/src"
        echo "$base_rev" >"$BASE_DIR/rev"
    fi
    $CARGO build --release --locked --manifest-path "$BASE_DIR/src/Cargo.toml" \
        --target-dir "$BASE_DIR/target" >&2
    BUILDS+=(baseline)
    BUILD_BIN[baseline]=$BASE_DIR/target/release/tracksd
fi

# --- servers -------------------------------------------------------------------------

say "hashing the bench user's password (600,000 iterations)"
HASH=$(echo password | "$BIN" hash-password)
case $HASH in '$pbkdf2-sha256$i=600000,'*) ;; *) die "unexpected hash-password output: $HASH" ;; esac

write_config() { # FILE STATE_DIR
    cat >"$1" <<EOF
listen = "127.0.0.1:0"
state_dir = "$2"

[[users]]
username = "john"
password_hash = "$HASH"
EOF
}
mkdir -p "$TMP/state-startup"
write_config "$TMP/startup.toml" "$TMP/state-startup"

# start_server NAME LOGFILE PREFIX CMD... : runs CMD in the background with stderr
# appended to LOGFILE (O_APPEND, so run.sh can truncate it between runs), waits for
# the line "PREFIX ADDR", and sets ${NAME}_PID and ${NAME}_ADDR.
start_server() {
    local name=$1 log=$2 prefix=$3
    shift 3
    : >"$log"
    "$@" </dev/null >/dev/null 2>>"$log" &
    local pid=$! addr= i
    PIDS+=("$pid")
    for ((i = 0; i < 2000; i++)); do
        addr=$(sed -n "s|^${prefix}||p" "$log" | head -n 1)
        [ -n "$addr" ] && break
        kill -0 "$pid" 2>/dev/null || die "$name exited at start: $(cat "$log")"
        sleep 0.01
    done
    [ -n "$addr" ] || die "$name did not print its address: $(cat "$log")"
    printf -v "${name}_PID" '%s' "$pid"
    printf -v "${name}_ADDR" '%s' "$addr"
}

mem_kib() { # PID FIELD -> KiB
    awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"
}

# Each tracksd build gets its own state, log and session cookie: B_ADDR[build] etc.
declare -A B_ADDR B_PID B_COOKIE B_IDLE_RSS B_LOAD_RSS B_LOGIN_MS
for b in "${BUILDS[@]}"; do
    mkdir -p "$TMP/state-$b"
    write_config "$TMP/$b.toml" "$TMP/state-$b"
    start_server "${b^^}" "$TMP/$b.log" 'tracksd listening on http://' \
        "${BUILD_BIN[$b]}" serve --config "$TMP/$b.toml"
    v=${b^^}_ADDR && B_ADDR[$b]=${!v}
    v=${b^^}_PID && B_PID[$b]=${!v}
done
start_server HELLO "$TMP/hello.log" 'listening on http://' "$HELLO" 127.0.0.1:0

# --- nginx, the yardstick (issue 19) ---------------------------------------------------
# One worker, access log off, GET /users/me and GET /tracks answered from static files
# holding tracksd's own bodies, with its Content-Type. Its CPU is master + worker.
NGINX=${BENCH_NGINX:-1}
NGINX_BIN=$(command -v nginx || echo /usr/sbin/nginx)
NGINX_NOTE=
if [ "$NGINX" = 0 ]; then
    NGINX_NOTE="nginx rows skipped (BENCH_NGINX=0)."
elif [ ! -x "$NGINX_BIN" ]; then
    NGINX=0
    NGINX_NOTE="nginx rows skipped: nginx is not installed (apt-get install nginx-light)."
    say "$NGINX_NOTE"
fi
NGINX_PIDS=
start_nginx() { # writes $TMP/nginx/, starts nginx on a free port; sets NGINX_ADDR, NGINX_PIDS
    local dir=$TMP/nginx port i
    mkdir -p "$dir"
    chmod 711 "$TMP" # the worker runs as nobody
    chmod 755 "$dir"
    curl -sf -H "Cookie: ${B_COOKIE[tracksd]}" -o "$dir/me.json" "http://${B_ADDR[tracksd]}/users/me"
    curl -sf -H "Cookie: ${B_COOKIE[tracksd]}" -o "$dir/tracks.json" "http://${B_ADDR[tracksd]}/tracks"
    NGINX_TYPE=$(curl -s -D - -o /dev/null "http://${B_ADDR[tracksd]}/tracks" |
        sed -n 's/^[Cc]ontent-[Tt]ype: *\([^\r]*\).*/\1/p')
    chmod 644 "$dir"/*.json
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    cat >"$dir/nginx.conf" <<NGINX_CONF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;
    types { }
    default_type $NGINX_TYPE;
    keepalive_requests 100000000;
    server {
        listen 127.0.0.1:$port;
        location = /users/me { alias $dir/me.json; }
        location = /tracks { alias $dir/tracks.json; }
        location = / { alias $dir/me.json; }
    }
}
NGINX_CONF
    "$NGINX_BIN" -p "$dir" -c "$dir/nginx.conf" </dev/null >/dev/null 2>>"$dir/error.log" &
    local master=$!
    PIDS+=("$master")
    NGINX_ADDR=127.0.0.1:$port
    for ((i = 0; i < 500; i++)); do
        curl -sf -o /dev/null "http://$NGINX_ADDR/users/me" && break
        kill -0 "$master" 2>/dev/null || die "nginx exited at start: $(cat "$dir/error.log")"
        sleep 0.01
    done
    NGINX_PIDS="$master $(cat "/proc/$master/task/$master/children")"
    say "nginx on $NGINX_ADDR (pids $NGINX_PIDS), Content-Type $NGINX_TYPE"
}
for b in "${BUILDS[@]}"; do say "$b (${BUILD_BIN[$b]}) on ${B_ADDR[$b]} (pid ${B_PID[$b]})"; done
say "hello on $HELLO_ADDR (pid $HELLO_PID)"

for b in "${BUILDS[@]}"; do
    curl -sf -o /dev/null "http://${B_ADDR[$b]}/" || die "$b does not answer GET /"
done
curl -sf -o /dev/null "http://$HELLO_ADDR/" || die "hello does not answer GET /"
sleep 0.5
for b in "${BUILDS[@]}"; do
    B_IDLE_RSS[$b]=$(mem_kib "${B_PID[$b]}" VmRSS)
done
IDLE_RSS=${B_IDLE_RSS[tracksd]}
IDLE_HWM=$(mem_kib "$TRACKSD_PID" VmHWM)
HELLO_IDLE_RSS=$(mem_kib "$HELLO_PID" VmRSS)

say "logging in"
for b in "${BUILDS[@]}"; do
    login_body=$(curl -s -D "$TMP/login.headers" -d username=john -d password=password \
        "http://${B_ADDR[$b]}/login")
    [ "$login_body" = '{"success":true}' ] || die "$b: login failed: $login_body"
    # The session cookie (a login also sets the device cookie of the lockout rule).
    B_COOKIE[$b]=$(sed -n 's/^[Ss]et-[Cc]ookie: *\(my_session_id=[^;]*\).*/\1/p' "$TMP/login.headers" | head -n 1)
    [ -n "${B_COOKIE[$b]}" ] || die "$b: no Set-Cookie in the login response"
    me=$(curl -s -H "Cookie: ${B_COOKIE[$b]}" "http://${B_ADDR[$b]}/users/me")
    [ "$me" = '{"username":"john"}' ] || die "$b: GET /users/me with the cookie gave: $me"
done
COOKIE=${B_COOKIE[tracksd]}
[ "$NGINX" = 0 ] || start_nginx

# --- measurements ------------------------------------------------------------------

WRK_DATA=$TMP/wrk.tsv     # server request conns run rps p50_us p99_us status_err socket_err cpu_us_per_request
CHECK_DATA=$TMP/check.tsv # server request conns served first_p50_ms first_p100_ms
: >"$WRK_DATA"
: >"$CHECK_DATA"

# The server's CPU time (user + system, all threads) in clock ticks: CPU per request
# is steadier than req/s when other jobs share the machine.
CLK_TCK=$(getconf CLK_TCK)
cpu_ticks() { # PID... -> their user + system ticks, summed
    local p t=0
    for p in "$@"; do t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
    echo "$t"
}

# Waits until everything the server has queued is answered (its queue is FIFO).
drain() { curl -s -o /dev/null -m 300 "http://$1/" || true; }

# run_wrk SERVER ADDR REQUEST CONNS RUN TIMEOUT [wrk args...]
run_wrk() {
    local server=$1 addr=$2 request=$3 conns=$4 run=$5 timeout=$6
    shift 6
    local threads=$((conns < 2 ? conns : 2)) out line path=${request#* } pid cpu0
    path=${path%% *} # "GET /users/me (mixed)" -> /users/me
    pid=${B_PID[$server]:-$HELLO_PID}
    [ "$server" != nginx ] || pid=$NGINX_PIDS
    # shellcheck disable=SC2086 # nginx: several pids
    cpu0=$(cpu_ticks $pid)
    out=$(wrk -t "$threads" -c "$conns" -d "${SECS}s" --timeout "$timeout" --latency \
        -s "$LUA" "$@" "http://$addr$path") || die "wrk failed: $out"
    # shellcheck disable=SC2086
    local cpu=$(($(cpu_ticks $pid) - cpu0))
    line=$(grep '^BENCH ' <<<"$out") || die "no BENCH line from wrk: $out"
    local requests duration_us p50_us p99_us status_errors socket_errors
    local connect_errors read_errors write_errors timeouts
    eval "$(sed 's/^BENCH //' <<<"$line")"
    awk -v s="$server" -v q="$request" -v c="$conns" -v r="$run" -v n="$requests" \
        -v d="$duration_us" -v p50="$p50_us" -v p99="$p99_us" -v se="$status_errors" \
        -v ke="$socket_errors" -v cpu="$cpu" -v hz="$CLK_TCK" \
        'BEGIN { printf "%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%.2f\n", s, q, c, r, n / (d / 1e6), p50, p99, se, ke, (n > 0) ? cpu / hz * 1e6 / n : 0 }' \
        >>"$WRK_DATA"
    say "  $server $request c=$conns run $run: $requests requests, p99 ${p99_us}us, errors: status $status_errors, connect $connect_errors, read $read_errors, write $write_errors, timeout $timeouts"
}

# run_check SERVER ADDR REQUEST CONNS SECS [conncheck args...]
run_check() {
    local server=$1 addr=$2 request=$3 conns=$4 secs=$5 out
    shift 5
    out=$("$CONNCHECK" load "$addr" --conns "$conns" --secs "$secs" --method "${request%% *}" \
        --path "${request#* }" "$@") || die "conncheck failed: $out"
    local served first_p50_ms first_p100_ms responses bad_status io_errors
    eval "$out"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$server" "$request" "$conns" "$served" \
        "$first_p50_ms" "$first_p100_ms" >>"$CHECK_DATA"
    say "  $server $request c=$conns conncheck: $out"
}

# Empties the servers' logs (they append), keeping the last tracksd line of the GET rows.
LOG_SAMPLE=
truncate_logs() {
    if [ -z "$LOG_SAMPLE" ]; then LOG_SAMPLE=$(grep -v '^GET / ' "$TMP/tracksd.log" | tail -n 1); fi
    for b in "${BUILDS[@]}"; do : >"$TMP/$b.log"; done
    : >"$TMP/hello.log"
}
rotate() { # N WORDS... -> the words, starting from the N-th (cyclically)
    local n=$1
    shift
    local i k=$((($n - 1) % $#))
    for ((i = 0; i < $#; i++)); do
        local j=$(((k + i) % $# + 1))
        echo "${!j}"
    done
}
# The other builds (static, baseline) run at these connection counts only.
other_builds() { # CONNS -> names
    local b
    case " $BUILD_CONNS " in *" $1 "*) for b in "${BUILDS[@]:1}"; do echo "$b"; done ;; esac
}

COOKIE_HEADER="Cookie: $COOKIE"
GET_REQUESTS=("GET /tracks" "GET /users/me")
for request in "${GET_REQUESTS[@]}"; do
    for c in $CONNS; do
        say "$request, $c connections"
        # Interleave the builds' and hello's runs so all see the same machine noise; the
        # builds' order rotates from run to run, so that none always follows the same one.
        for ((run = 1; run <= RUNS; run++)); do
            for b in $(rotate "$run" tracksd $(other_builds "$c")); do
                run_wrk "$b" "${B_ADDR[$b]}" "$request" "$c" "$run" 2s -H "Cookie: ${B_COOKIE[$b]}"
                drain "${B_ADDR[$b]}"
            done
            run_wrk hello "$HELLO_ADDR" "$request" "$c" "$run" 2s -H "$COOKIE_HEADER"
            drain "$HELLO_ADDR"
            if [ "$NGINX" != 0 ]; then
                run_wrk nginx "$NGINX_ADDR" "$request" "$c" "$run" 2s -H "$COOKIE_HEADER"
            fi
            truncate_logs
        done
        run_check tracksd "$TRACKSD_ADDR" "$request" "$c" "$CHECK_SECS" --header "$COOKIE_HEADER"
        run_check hello "$HELLO_ADDR" "$request" "$c" "$CHECK_SECS" --header "$COOKIE_HEADER"
        truncate_logs
    done
done

LOGIN_FORM="username=john&password=password"
FORM_TYPE="application/x-www-form-urlencoded"

# The mixed row: GET /users/me at 16 connections while 2 other connections log in back
# to back with the real hash, for every build, interleaved.
MIXED_CONNS=16
MIXED_LOGINS=2
say "mixed: GET /users/me, $MIXED_CONNS connections, while $MIXED_LOGINS connections log in"
for ((run = 1; run <= RUNS; run++)); do
    for b in $(rotate "$run" "${BUILDS[@]}"); do
        BENCH_METHOD=POST BENCH_BODY=$LOGIN_FORM BENCH_CONTENT_TYPE=$FORM_TYPE \
            run_wrk "$b" "${B_ADDR[$b]}" "POST /login (mixed)" "$MIXED_LOGINS" "$run" 60s &
        logins=$!
        run_wrk "$b" "${B_ADDR[$b]}" "GET /users/me (mixed)" "$MIXED_CONNS" "$run" 10s \
            -H "Cookie: ${B_COOKIE[$b]}"
        wait "$logins" || die "$b: the mixed row's login wrk failed"
        drain "${B_ADDR[$b]}"
        truncate_logs
    done
done
if [ "$LOGIN" != 0 ]; then
    for c in $CONNS; do
        say "POST /login, $c connections"
        for ((run = 1; run <= RUNS; run++)); do
            BENCH_METHOD=POST BENCH_BODY=$LOGIN_FORM BENCH_CONTENT_TYPE=$FORM_TYPE \
                run_wrk tracksd "$TRACKSD_ADDR" "POST /login" "$c" "$run" 60s
            drain "$TRACKSD_ADDR"
            truncate_logs
        done
        # One login per connection, all at once: the last one waits for c hashes.
        run_check tracksd "$TRACKSD_ADDR" "POST /login" "$c" 0 --timeout 300 \
            --header "Content-Type: $FORM_TYPE" --body "$LOGIN_FORM"
        truncate_logs
    done
fi

sleep 1
for b in "${BUILDS[@]}"; do B_LOAD_RSS[$b]=$(mem_kib "${B_PID[$b]}" VmRSS); done
LOAD_RSS=$(mem_kib "$TRACKSD_PID" VmRSS)
LOAD_HWM=$(mem_kib "$TRACKSD_PID" VmHWM)
HELLO_LOAD_RSS=$(mem_kib "$HELLO_PID" VmRSS)
HELLO_LOAD_HWM=$(mem_kib "$HELLO_PID" VmHWM)

say "exec to first 200 ($STARTS starts each)"
"$CONNCHECK" startup --runs 1 -- "$BIN" serve --config "$TMP/startup.toml" --listen '{addr}' \
    >/dev/null # first start creates the session key; not measured
eval "$("$CONNCHECK" startup --runs "$STARTS" -- "$BIN" serve --config "$TMP/startup.toml" \
    --listen '{addr}' | sed 's/^/T_/; s/ / T_/g')"
eval "$("$CONNCHECK" startup --runs "$STARTS" -- "$HELLO" '{addr}' | sed 's/^/H_/; s/ / H_/g')"

# One 600,000-round hash, wall clock of `hash-password` (process start included),
# median of 3 per build, interleaved.
say "one password hash per build (3 each)"
HASH_TIMES=$TMP/hash.tsv
: >"$HASH_TIMES"
for i in 1 2 3; do
    for b in "${BUILDS[@]}"; do
        t0=$(date +%s%N)
        echo password | "${BUILD_BIN[$b]}" hash-password >/dev/null 2>&1
        printf '%s\t%s\n' "$b" $((($(date +%s%N) - t0) / 1000000)) >>"$HASH_TIMES"
    done
done
for b in "${BUILDS[@]}"; do
    B_LOGIN_MS[$b]=$(awk -F'\t' -v b="$b" '$1 == b { print $2 }' "$HASH_TIMES" | sort -n | sed -n 2p)
done

BIN_SIZE=$(stat -c %s "$BIN")
HELLO_SIZE=$(stat -c %s "$HELLO")

# --- report --------------------------------------------------------------------------

# stats SERVER REQUEST CONNS COLUMN -> "median min max" over the runs (column 5 = rps,
# 6 = p50_us, 7 = p99_us); sum SERVER REQUEST CONNS COLUMN -> total over the runs.
stats() {
    awk -F'\t' -v s="$1" -v q="$2" -v c="$3" -v k="$4" \
        '$1 == s && $2 == q && $3 == c { print $k }' "$WRK_DATA" | sort -g |
        awk '{ v[NR] = $1 } END {
            if (NR == 0) { print "nan nan nan"; exit }
            m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            print m, v[1], v[NR] }'
}
sum() {
    awk -F'\t' -v s="$1" -v q="$2" -v c="$3" -v k="$4" \
        '$1 == s && $2 == q && $3 == c { t += $k } END { print t + 0 }' "$WRK_DATA"
}
check() { # SERVER REQUEST CONNS -> "served p50 p100"
    awk -F'\t' -v s="$1" -v q="$2" -v c="$3" \
        '$1 == s && $2 == q && $3 == c { print $4, $5, $6 }' "$CHECK_DATA"
}
fmt_rps() { awk -v m="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.0f (%.0f–%.0f)", m, a, b }'; }
ms() { awk -v u="$1" 'BEGIN { printf "%.2f", u / 1000 }'; }
fmt_ms_range() { awk -v m="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.2f (%.2f–%.2f)", m / 1000, a / 1000, b / 1000 }'; }
le() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 <= b + 0) }'; }
verdict() { if "$@"; then echo PASS; else echo FAIL; fi; }
mib() { awk -v k="$1" 'BEGIN { printf "%.2f MiB", k / 1024 }'; }

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
echo "# tracksd benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo
echo "Machine: $(nproc) CPUs, ${cpu:-unknown CPU}, Linux $(uname -r); $(rustc --version 2>/dev/null || echo rustc ?);"
echo "$(wrk --version 2>&1 | head -n 1 | cut -d' ' -f1-2). Loopback, keep-alive; wrk, tracksd and the hello server"
echo "share the same CPUs. ${SECS} s per wrk run, ${RUNS} run(s) per row, median (min–max);"
echo "wrk \`-t\` = min(2, connections). tracksd writes its per-request log line to a file"
echo "(the logging cost is included). \"Served\" comes from bench/conncheck: N connections opened"
echo "at once, each sending requests for ${CHECK_SECS} s; a connection counts if it got a response"
echo "within that window (first-response latency p50/p100 in ms)."
echo
echo "| request | conns | tracksd req/s | p50 ms | p99 ms | errors | served (first p50/p100 ms) | hello req/s | hello p99 ms | hello served | tracksd/hello | targets |"
echo "|---|---:|---:|---:|---:|---:|---|---:|---:|---|---:|---|"
for request in "${GET_REQUESTS[@]}"; do
    for c in $CONNS; do
        read -r rps rps_min rps_max <<<"$(stats tracksd "$request" "$c" 5)"
        read -r p50 _ _ <<<"$(stats tracksd "$request" "$c" 6)"
        read -r p99 p99_min p99_max <<<"$(stats tracksd "$request" "$c" 7)"
        errs=$(($(sum tracksd "$request" "$c" 8) + $(sum tracksd "$request" "$c" 9)))
        read -r served f50 f100 <<<"$(check tracksd "$request" "$c")"
        read -r h_rps h_min h_max <<<"$(stats hello "$request" "$c" 5)"
        read -r h_p99 _ _ <<<"$(stats hello "$request" "$c" 7)"
        read -r h_served _ _ <<<"$(check hello "$request" "$c")"
        ratio=$(awk -v a="$rps" -v b="$h_rps" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
        case $c in
        16) targets="ratio ≥ 0.8 $(verdict le 0.8 "$ratio"); p99 ≤ 1 ms $(verdict le "$p99" 1000)" ;;
        64) targets="p99 ≤ 3 ms $(verdict le "$p99" 3000); all served $(verdict test "$served" = "$c/$c")" ;;
        *) targets="—" ;;
        esac
        echo "| \`$request\` | $c | $(fmt_rps "$rps" "$rps_min" "$rps_max") | $(ms "$p50") | $(fmt_ms_range "$p99" "$p99_min" "$p99_max") | $errs | $served ($f50/$f100) | $(fmt_rps "$h_rps" "$h_min" "$h_max") | $(ms "$h_p99") | $h_served | $ratio | $targets |"
    done
done
if [ "$LOGIN" != 0 ]; then
    echo
    echo "\`POST /login\` (form, password hash of 600,000 PBKDF2-SHA256 rounds by design; wrk timeout 60 s;"
    echo "\"served\" here: one login per connection, all sent at once, each waiting up to 300 s):"
    echo
    echo "| request | conns | req/s | p50 ms | p99 ms | errors | served (first p50/p100 ms) |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    for c in $CONNS; do
        read -r rps rps_min rps_max <<<"$(stats tracksd "POST /login" "$c" 5)"
        read -r p50 _ _ <<<"$(stats tracksd "POST /login" "$c" 6)"
        read -r p99 p99_min p99_max <<<"$(stats tracksd "POST /login" "$c" 7)"
        errs=$(($(sum tracksd "POST /login" "$c" 8) + $(sum tracksd "POST /login" "$c" 9)))
        read -r served f50 f100 <<<"$(check tracksd "POST /login" "$c")"
        echo "| \`POST /login\` | $c | $(awk -v m="$rps" -v a="$rps_min" -v b="$rps_max" 'BEGIN { printf "%.1f (%.1f–%.1f)", m, a, b }') | $(ms "$p50") | $(fmt_ms_range "$p99" "$p99_min" "$p99_max") | $errs | $served ($f50/$f100) |"
    done
fi
echo
echo "| footprint | tracksd | hello (reference) | target | result |"
echo "|---|---:|---:|---:|---|"
echo "| RSS idle (VmRSS after start) | $(mib "$IDLE_RSS") | $(mib "$HELLO_IDLE_RSS") | ≤ 3 MiB | $(verdict le "$IDLE_RSS" 3072) |"
echo "| RSS after the load (VmRSS) | $(mib "$LOAD_RSS") | $(mib "$HELLO_LOAD_RSS") | ≤ 8 MiB | $(verdict le "$LOAD_RSS" 8192) |"
echo "| peak RSS (VmHWM) | $(mib "$LOAD_HWM") | $(mib "$HELLO_LOAD_HWM") | ≤ 8 MiB | $(verdict le "$LOAD_HWM" 8192) |"
echo "| exec to first 200, median of $STARTS (min–max) | $T_startup_ms_median ms ($T_startup_ms_min–$T_startup_ms_max) | $H_startup_ms_median ms | ≤ 10 ms | $(verdict le "$T_startup_ms_median" 10) |"
echo "| stripped binary size | $BIN_SIZE B | $HELLO_SIZE B | ≤ 1,500,000 B | $(verdict le "$BIN_SIZE" 1500000) |"
# The /ui/ page: every file it loads, as served (issue 18: under 30 KB).
UI_BYTES=0
for asset in /ui/ /ui/app.css /ui/app.js /favicon.ico; do
    UI_BYTES=$((UI_BYTES + $(curl -sf -o /dev/null -w '%{size_download}' "http://$TRACKSD_ADDR$asset")))
done
echo "| /ui/ page, everything it loads (HTML, CSS, JS, icon) | $UI_BYTES B | — | < 30,720 B | $(verdict le "$UI_BYTES" 30719) |"
echo
echo "Idle VmHWM was $(mib "$IDLE_HWM"). A tracksd log line under load: \`${LOG_SAMPLE:-none}\`."

# --- the builds side by side, the mixed row, the baseline ----------------------------

# ratios NUM DEN REQUEST CONNS -> "ratio-of-medians (min–max of the per-run ratios)"
ratios() {
    awk -F'\t' -v a="$1" -v b="$2" -v q="$3" -v c="$4" '
        $2 == q && $3 == c && $1 == a { x[$4] = $5 }
        $2 == q && $3 == c && $1 == b { y[$4] = $5 }
        END {
            n = 0
            for (r in x) if ((r in y) && y[r] > 0) { v[++n] = x[r] / y[r] }
            if (n == 0) { print "—"; exit }
            lo = hi = v[1]
            for (i = 2; i <= n; i++) { if (v[i] < lo) lo = v[i]; if (v[i] > hi) hi = v[i] }
            printf "(%.2f–%.2f)", lo, hi
        }' "$WRK_DATA"
}
ratio_of_medians() { # NUM DEN REQUEST CONNS
    local a b
    read -r a _ _ <<<"$(stats "$1" "$3" "$4" 5)"
    read -r b _ _ <<<"$(stats "$2" "$3" "$4" 5)"
    awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "—" }'
}
label() { case $1 in tracksd) echo "glibc (\`make build\`)" ;; static) echo "static musl (\`make static\`)" ;; baseline) echo "baseline ${base_rev:0:7}" ;; *) echo "$1" ;; esac; }

if [ ${#BUILDS[@]} -gt 1 ]; then
    echo
    echo "Builds side by side (interleaved runs; ratio = ratio of the req/s medians, with the range"
    echo "of the per-run ratios; CPU µs/req = the server's user + system CPU time over its requests):"
    echo
    header="| request | conns |"
    rule="|---|---:|"
    for b in "${BUILDS[@]}"; do header+=" $(label "$b") req/s | p99 ms | CPU µs/req |"; rule+="---:|---:|---:|"; done
    for b in "${BUILDS[@]:1}"; do header+=" $b/glibc |"; rule+="---:|"; done
    echo "$header"
    echo "$rule"
    for request in "${GET_REQUESTS[@]}"; do
        for c in $BUILD_CONNS; do
            line="| \`$request\` | $c |"
            for b in "${BUILDS[@]}"; do
                read -r rps rps_min rps_max <<<"$(stats "$b" "$request" "$c" 5)"
                read -r p99 _ _ <<<"$(stats "$b" "$request" "$c" 7)"
                read -r cpu cpu_min cpu_max <<<"$(stats "$b" "$request" "$c" 10)"
                line+=" $(fmt_rps "$rps" "$rps_min" "$rps_max") | $(ms "$p99") | $(awk -v m="$cpu" -v a="$cpu_min" -v b="$cpu_max" 'BEGIN { printf "%.1f (%.1f–%.1f)", m, a, b }') |"
            done
            for b in "${BUILDS[@]:1}"; do
                line+=" $(ratio_of_medians "$b" tracksd "$request" "$c") $(ratios "$b" tracksd "$request" "$c") |"
            done
            echo "$line"
        done
    done
fi

echo
echo "Mixed row: \`GET /users/me\` at $MIXED_CONNS connections while $MIXED_LOGINS more connections log in"
echo "back to back (600,000-round hashes), both for ${SECS} s:"
echo
echo "| build | GET req/s | GET p50 ms | GET p99 ms | GET errors | logins/s | login p50 ms | login errors |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
for b in "${BUILDS[@]}"; do
    read -r rps rps_min rps_max <<<"$(stats "$b" "GET /users/me (mixed)" "$MIXED_CONNS" 5)"
    read -r p50 _ _ <<<"$(stats "$b" "GET /users/me (mixed)" "$MIXED_CONNS" 6)"
    read -r p99 p99_min p99_max <<<"$(stats "$b" "GET /users/me (mixed)" "$MIXED_CONNS" 7)"
    errs=$(($(sum "$b" "GET /users/me (mixed)" "$MIXED_CONNS" 8) + $(sum "$b" "GET /users/me (mixed)" "$MIXED_CONNS" 9)))
    read -r lps lps_min lps_max <<<"$(stats "$b" "POST /login (mixed)" "$MIXED_LOGINS" 5)"
    read -r lp50 _ _ <<<"$(stats "$b" "POST /login (mixed)" "$MIXED_LOGINS" 6)"
    lerrs=$(($(sum "$b" "POST /login (mixed)" "$MIXED_LOGINS" 8) + $(sum "$b" "POST /login (mixed)" "$MIXED_LOGINS" 9)))
    echo "| $(label "$b") | $(fmt_rps "$rps" "$rps_min" "$rps_max") | $(ms "$p50") | $(fmt_ms_range "$p99" "$p99_min" "$p99_max") | $errs | $(awk -v m="$lps" -v a="$lps_min" -v b="$lps_max" 'BEGIN { printf "%.1f (%.1f–%.1f)", m, a, b }') | $(ms "$lp50") | $lerrs |"
done

if [ -n "$BASELINE" ]; then
    echo
    echo "This build against the baseline ${base_rev:0:7} (\`BENCH_BASELINE=$BASELINE\`), interleaved in this run:"
    echo
    echo "| row | this build req/s | baseline req/s | this/baseline | target | CPU µs/req this / baseline |"
    echo "|---|---:|---:|---:|---|---:|"
    for request in "GET /users/me" "GET /tracks"; do
        for c in $BUILD_CONNS; do
            read -r a a_min a_max <<<"$(stats tracksd "$request" "$c" 5)"
            read -r b b_min b_max <<<"$(stats baseline "$request" "$c" 5)"
            r=$(ratio_of_medians tracksd baseline "$request" "$c")
            read -r ca _ _ <<<"$(stats tracksd "$request" "$c" 10)"
            read -r cb _ _ <<<"$(stats baseline "$request" "$c" 10)"
            echo "| \`$request\`, $c conns | $(fmt_rps "$a" "$a_min" "$a_max") | $(fmt_rps "$b" "$b_min" "$b_max") | $r $(ratios tracksd baseline "$request" "$c") | ≥ 0.95 $(verdict le 0.95 "$r") | $ca / $cb |"
        done
    done
    r=$(ratio_of_medians tracksd baseline "GET /users/me (mixed)" "$MIXED_CONNS")
    read -r a _ _ <<<"$(stats tracksd "GET /users/me (mixed)" "$MIXED_CONNS" 5)"
    read -r b _ _ <<<"$(stats baseline "GET /users/me (mixed)" "$MIXED_CONNS" 5)"
    echo "| mixed row \`GET /users/me\` | $(fmt_rps "$a" "$a" "$a") | $(fmt_rps "$b" "$b" "$b") | $r $(ratios tracksd baseline "GET /users/me (mixed)" "$MIXED_CONNS") | — | — |"
fi

echo
echo "| footprint per build | $(for b in "${BUILDS[@]}"; do printf '%s | ' "$(label "$b")"; done)"
echo "|---|$(for b in "${BUILDS[@]}"; do printf -- '---:|'; done)"
echo "| stripped binary size | $(for b in "${BUILDS[@]}"; do printf '%s B | ' "$(stat -c %s "${BUILD_BIN[$b]}")"; done)"
echo "| RSS idle (VmRSS after start) | $(for b in "${BUILDS[@]}"; do printf '%s | ' "$(mib "${B_IDLE_RSS[$b]}")"; done)"
echo "| RSS after the load (VmRSS) | $(for b in "${BUILDS[@]}"; do printf '%s | ' "$(mib "${B_LOAD_RSS[$b]}")"; done)"
echo "| one 600,000-round hash (\`hash-password\`, median of 3) | $(for b in "${BUILDS[@]}"; do printf '%s ms | ' "${B_LOGIN_MS[$b]}"; done)"


# --- nginx, the yardstick: issue 19's ratios -----------------------------------------

echo
if [ "$NGINX" = 0 ]; then
    echo "$NGINX_NOTE"
else
    echo "tracksd (glibc) against nginx $("$NGINX_BIN" -v 2>&1 | sed 's|.*nginx/||') (one worker, access log off, the same"
    echo "bodies as static files with Content-Type \`$NGINX_TYPE\`), interleaved in this run. CPU µs/req ="
    echo "user + system CPU of the server process(es) (nginx: master + worker) over the requests answered."
    echo "Targets (issue 19) apply at 16 connections."
    echo
    echo "| request | conns | tracksd req/s | nginx req/s | req/s ratio | tracksd CPU µs/req | nginx CPU µs/req | CPU ratio | tracksd p99 ms | nginx p99 ms | p99 ratio |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for request in "${GET_REQUESTS[@]}"; do
        for c in $CONNS; do
            read -r rps rps_min rps_max <<<"$(stats tracksd "$request" "$c" 5)"
            read -r n_rps n_min n_max <<<"$(stats nginx "$request" "$c" 5)"
            read -r cpu _ _ <<<"$(stats tracksd "$request" "$c" 10)"
            read -r n_cpu _ _ <<<"$(stats nginx "$request" "$c" 10)"
            read -r p99 _ _ <<<"$(stats tracksd "$request" "$c" 7)"
            read -r n_p99 _ _ <<<"$(stats nginx "$request" "$c" 7)"
            r_rps=$(awk -v a="$rps" -v b="$n_rps" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
            r_cpu=$(awk -v a="$cpu" -v b="$n_cpu" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
            r_p99=$(awk -v a="$p99" -v b="$n_p99" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }')
            if [ "$c" = 16 ]; then
                r_rps+=" (≥ 0.55 $(verdict le 0.55 "$r_rps"))"
                r_cpu+=" (≤ 1.8 $(verdict le "$r_cpu" 1.8))"
                r_p99+=" (≤ 2 $(verdict le "$r_p99" 2))"
            fi
            echo "| \`$request\` | $c | $(fmt_rps "$rps" "$rps_min" "$rps_max") | $(fmt_rps "$n_rps" "$n_min" "$n_max") | $r_rps | $cpu | $n_cpu | $r_cpu | $(ms "$p99") | $(ms "$n_p99") | $r_p99 |"
        done
    done
fi
echo
echo "The original FastAPI app is not in this repository, so this run has no row for it; issue 19's"
echo "target (≥ 30× its req/s) is checked by hand against the figures in bench/results/."

echo
echo "| footprint target (issue 19) | measured | target | result |"
echo "|---|---:|---:|---|"
if [ "$STATIC" != 0 ]; then
    s_size=$(stat -c %s "${BUILD_BIN[static]}")
    echo "| static x86_64 binary size | $s_size B | ≤ 1,500,000 B | $(verdict le "$s_size" 1500000) |"
    echo "| static build idle RSS | $(mib "${B_IDLE_RSS[static]}") | ≤ 1.5 MiB | $(verdict le "${B_IDLE_RSS[static]}" 1536) |"
fi
echo "| glibc build idle RSS | $(mib "${B_IDLE_RSS[tracksd]}") | ≤ 3 MiB | $(verdict le "${B_IDLE_RSS[tracksd]}" 3072) |"
