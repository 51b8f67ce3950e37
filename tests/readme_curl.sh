#!/usr/bin/env bash
# Runs the curl examples of README.md and docs/*.md against a freshly started server.
#
# Usage: readme_curl.sh BINARY FILE... In each FILE, examples sit between `<!-- curl-examples:start -->` and
# `<!-- curl-examples:end -->`. Every line starting with `curl ` is run (with
# localhost:8000 pointed at the test server); a following line `# => PATTERN`
# is the expected output, a bash glob (`*` matches anything).
set -euo pipefail
bin=$(realpath "$1"); shift
docs=(); for f in "$@"; do docs+=("$(realpath "$f")"); done
work=$(mktemp -d); trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
cd "$work"

TRACKSD_STATE_DIR="$work/state" "$bin" serve --listen 127.0.0.1:0 2>"$work/log" & pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/log" && break; sleep 0.1; done
addr=$(sed -n 's|^tracksd listening on http://||p' "$work/log")
[ -n "$addr" ] || { echo "server did not start:"; cat "$work/log"; exit 1; }

pass=0; fail=0; last_out=""; ran=0
while IFS= read -r line; do
  case "$line" in
    curl\ *)
      cmd=${line//localhost:8000/$addr}
      last_out=$(eval "$cmd" 2>&1 || true); ran=1 ;;
    "# => "*)
      [ "$ran" = 1 ] || continue
      want=${line#"# => "}
      # Only `*` is a wildcard: escape the other glob characters JSON is full of.
      want=$(printf '%s' "$want" | sed 's/[][?\\]/\\&/g')
      # shellcheck disable=SC2053
      if [[ "$last_out" == $want ]]; then pass=$((pass+1)); else
        fail=$((fail+1)); echo "FAIL: $cmd"; echo "  want: $want"; echo "  got:  $last_out"; fi
      ran=0 ;;
  esac
done < <(for f in "${docs[@]}"; do sed -n '/<!-- curl-examples:start -->/,/<!-- curl-examples:end -->/p' "$f"; done)

echo "readme-curl: $pass passed, $fail failed"
[ "$fail" = 0 ] && [ "$pass" -gt 0 ]
