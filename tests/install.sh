#!/usr/bin/env bash
# Checks `make install` / `make uninstall` in a scratch DESTDIR with PREFIX=/usr:
# the file layout and modes, the unit files' rewritten paths, the man page, that an
# existing tracksd.toml survives a re-install, and that uninstall removes
# everything but a changed config.
#
#   bash tests/install.sh            (uses the release binary; builds it if missing)
set -euo pipefail

make=${MAKE:-make}
dest=$(mktemp -d)
trap 'rm -rf "$dest"' EXIT
fail() { echo "install test: $*" >&2; exit 1; }

run_make() { "$make" --no-print-directory "$@" DESTDIR="$dest" PREFIX=/usr >/dev/null; }

run_make install

expect() { # MODE PATH
    [ -f "$dest$2" ] || fail "missing $2"
    local mode
    mode=$(stat -c %a "$dest$2")
    [ "$mode" = "$1" ] || fail "$2 has mode $mode, want $1"
}
expect 755 /usr/bin/tracksd
expect 644 /usr/lib/systemd/system/tracksd.service
expect 644 /usr/lib/systemd/system/tracksd.socket
expect 644 /usr/share/man/man1/tracksd.1
expect 644 /usr/share/doc/tracksd/README.md
for doc in docs/*.md; do expect 644 "/usr/share/doc/tracksd/$doc"; done
expect 644 /etc/tracksd/tracksd.toml.example
expect 644 /etc/tracksd/tracksd.toml

"$dest/usr/bin/tracksd" --version | grep -q '^tracksd ' || fail "installed binary does not run"
grep -qx 'ExecStart=/usr/bin/tracksd serve --config /etc/tracksd/tracksd.toml' \
    "$dest/usr/lib/systemd/system/tracksd.service" || fail "ExecStart not as expected"
grep -q '^\.TH TRACKSD 1' "$dest/usr/share/man/man1/tracksd.1" || fail "man page has no .TH"
grep -q '^\.SH SYNOPSIS' "$dest/usr/share/man/man1/tracksd.1" || fail "man page has no SYNOPSIS"
"$dest/usr/bin/tracksd" check-config --config "$dest/etc/tracksd/tracksd.toml" >/dev/null \
    || fail "installed tracksd.toml does not pass check-config"
if grep -q '^\[\[users\]\]' "$dest/etc/tracksd/tracksd.toml.example"; then
    fail "the production example must not contain users"
fi

# Another PREFIX rewrites the unit's paths.
other=$(mktemp -d)
"$make" --no-print-directory install DESTDIR="$other" PREFIX=/opt/tracksd >/dev/null
grep -qx 'ExecStart=/opt/tracksd/bin/tracksd serve --config /etc/tracksd/tracksd.toml' \
    "$other/opt/tracksd/lib/systemd/system/tracksd.service" || { rm -rf "$other"; fail "PREFIX not applied to ExecStart"; }
rm -rf "$other"

# A changed config survives re-install and uninstall; the rest goes.
echo '# local change' >>"$dest/etc/tracksd/tracksd.toml"
run_make install
grep -q '^# local change' "$dest/etc/tracksd/tracksd.toml" || fail "re-install replaced tracksd.toml"
run_make uninstall
left=$(cd "$dest" && find . -type f | sort)
[ "$left" = "./etc/tracksd/tracksd.toml" ] || fail "uninstall left: $left"

# An unchanged config is removed with the rest.
rm -f "$dest/etc/tracksd/tracksd.toml"
run_make install
run_make uninstall
left=$(cd "$dest" && find . -type f | sort)
[ -z "$left" ] || fail "uninstall left: $left"
echo "install test: make install/uninstall DESTDIR=... PREFIX=/usr ok"
