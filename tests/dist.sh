#!/usr/bin/env bash
# Checks the tarballs `make dist` wrote: each unpacks with INSTALL's first command and
# verifies with its SHA256SUMS, holds the expected files (units pointing at
# /usr/local/bin/tracksd, no tracksd.toml, a production example without users), and
# INSTALL's second command, run against a scratch root instead of /, lays out a
# config that `tracksd check-config` accepts (the binary runs natively or under qemu).
#
#   bash tests/dist.sh target/dist
set -euo pipefail

dist=${1:?usage: dist.sh DIST-DIR}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "dist test: FAIL: $*" >&2; exit 1; }

want_files="INSTALL
SHA256SUMS
etc/tracksd/tracksd.toml.example
usr/local/bin/tracksd
usr/local/lib/systemd/system/tracksd.service
usr/local/lib/systemd/system/tracksd.socket
usr/local/share/doc/tracksd/README.md
$(cd "$(dirname "$0")/.." && ls docs/*.md | sed 's|^|usr/local/share/doc/tracksd/|')
usr/local/share/man/man1/tracksd.1"

(cd "$dist" && sha256sum --quiet -c SHA256SUMS) || fail "$dist/SHA256SUMS does not match"
count=0
for tarball in "$dist"/tracksd-*.tar.gz; do
    [ -f "$tarball" ] || fail "no tarball in $dist"
    name=$(basename "$tarball" .tar.gz)
    box=$work/$name
    mkdir -p "$box/root"
    cp "$tarball" "$box/"
    # INSTALL's commands, as a Pi owner would paste them.
    step1=$(tar -xzOf "$tarball" "$name/INSTALL" | sed -n 's/^  \(tar -xzf .*\)/\1/p')
    step2=$(tar -xzOf "$tarball" "$name/INSTALL" | sed -n 's/^  \(sudo cp -r .*\)/\1/p')
    [ -n "$step1" ] && [ -n "$step2" ] || fail "$name/INSTALL lacks the tar or cp command"
    (cd "$box" && eval "$step1" >/dev/null) || fail "$name: '$step1' failed"
    files=$(cd "$box/$name" && find . -type f | sed 's|^\./||' | LC_ALL=C sort)
    [ "$files" = "$want_files" ] || fail "$name holds: $files"
    # The second command against a scratch root: no sudo, / -> $box/root/.
    root=$box/root
    step2=${step2//sudo /}
    step2=${step2// \/ / $root/ }
    step2=${step2//\/etc\/tracksd/$root/etc/tracksd}
    (cd "$box/$name" && eval "$step2") || fail "$name: '$step2' failed"
    [ -x "$root/usr/local/bin/tracksd" ] || fail "$name: no executable usr/local/bin/tracksd"
    grep -qx 'ExecStart=/usr/local/bin/tracksd serve --config /etc/tracksd/tracksd.toml' \
        "$root/usr/local/lib/systemd/system/tracksd.service" || fail "$name: ExecStart not /usr/local/bin/tracksd"
    if grep -q '^\[\[users\]\]' "$root/etc/tracksd/tracksd.toml"; then fail "$name: the example config has users"; fi
    runner=()
    case $name in *aarch64*) [ "$(uname -m)" = aarch64 ] || runner=("${QEMU_AARCH64:-qemu-aarch64}") ;; esac
    if [ ${#runner[@]} -eq 0 ] || command -v "${runner[0]}" >/dev/null 2>&1; then
        "${runner[@]}" "$root/usr/local/bin/tracksd" check-config --config "$root/etc/tracksd/tracksd.toml" >/dev/null \
            || fail "$name: check-config refuses the installed example"
    elif [ "${CI:-}" = true ]; then
        fail "${runner[0]} not found (required in CI)"
    fi
    echo "dist test: $name.tar.gz ok ($(stat -c %s "$tarball") bytes; INSTALL's commands lay out a valid config)"
    count=$((count + 1))
done
[ "$count" -ge 2 ] || fail "want a tarball per target, found $count"
