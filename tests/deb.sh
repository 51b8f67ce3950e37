#!/usr/bin/env bash
# Checks the Debian packages `make deb` writes, without root: the files and their modes
# and owners (dpkg-deb -c), the conffiles, the control fields, the maintainer scripts'
# syntax, the unpacked package (dpkg-deb -x into a scratch dir: the config without users
# passes `tracksd check-config`, the units, the sysusers line, man page and changelog),
# and lintian with no error or warning left (required under CI=true). The arm64 binary
# runs under qemu-aarch64 where it is installed.
#
#   bash tests/deb.sh target/dist/tracksd_0.2.0_amd64.deb [target/dist/tracksd_0.2.0_arm64.deb]
set -euo pipefail

[ $# -ge 1 ] || { echo "usage: deb.sh DEB..." >&2; exit 2; }
top=$(cd "$(dirname "$0")/.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$top/Cargo.toml" | head -n 1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
deb=""
fail() { echo "deb test: FAIL: ${deb:+$(basename "$deb"): }$*" >&2; exit 1; }

# mode owner path, for every file (not directory) the package installs
want_files="-rw-r--r-- root/root ./etc/tracksd/tracksd.toml
-rwxr-xr-x root/root ./usr/bin/tracksd
-rw-r--r-- root/root ./usr/lib/systemd/system/tracksd.service
-rw-r--r-- root/root ./usr/lib/systemd/system/tracksd.socket
-rw-r--r-- root/root ./usr/lib/sysusers.d/tracksd.conf
-rw-r--r-- root/root ./usr/share/doc/tracksd/README.md
-rw-r--r-- root/root ./usr/share/doc/tracksd/changelog.gz
-rw-r--r-- root/root ./usr/share/doc/tracksd/copyright
$(cd "$top" && for f in docs/*.md; do echo "-rw-r--r-- root/root ./usr/share/doc/tracksd/$f"; done)
-rw-r--r-- root/root ./usr/share/lintian/overrides/tracksd
-rw-r--r-- root/root ./usr/share/man/man1/tracksd.1.gz"

for deb in "$@"; do
    [ -f "$deb" ] || fail "no such file"
    arch=${deb##*_}; arch=${arch%.deb}
    [ "$(basename "$deb")" = "tracksd_${version}_$arch.deb" ] || fail "want the name tracksd_${version}_<arch>.deb"

    # Contents: exactly these files, root-owned, and directories root-owned 0755.
    listing=$(dpkg-deb -c "$deb") || fail "dpkg-deb -c failed"
    files=$(awk '$1 !~ /^d/ { print $1, $2, $6 }' <<<"$listing" | LC_ALL=C sort)
    [ "$files" = "$(LC_ALL=C sort <<<"$want_files")" ] \
        || fail "files differ from the expected layout:"$'\n'"$(diff <(LC_ALL=C sort <<<"$want_files") - <<<"$files" || true)"
    odd_dirs=$(awk '$1 ~ /^d/ && ($1 != "drwxr-xr-x" || $2 != "root/root") { print $1, $2, $6 }' <<<"$listing")
    [ -z "$odd_dirs" ] || fail "directories not root/root 0755: $odd_dirs"

    # Control: the conffile, the fields, no dependencies, scripts that parse.
    mkdir -p "$work/$arch/ctrl"
    dpkg-deb -e "$deb" "$work/$arch/ctrl"
    conffiles=$(cat "$work/$arch/ctrl/conffiles" 2>/dev/null || echo "(no DEBIAN/conffiles)")
    [ "$conffiles" = /etc/tracksd/tracksd.toml ] || fail "conffiles is '$conffiles', want /etc/tracksd/tracksd.toml"
    field() { dpkg-deb -f "$deb" "$1"; }
    [ "$(field Package)" = tracksd ] || fail "Package: $(field Package)"
    [ "$(field Version)" = "$version" ] || fail "Version: $(field Version), Cargo.toml says $version"
    [ "$(field Architecture)" = "$arch" ] || fail "Architecture: $(field Architecture)"
    [ "$(field Section)" = net ] && [ "$(field Priority)" = optional ] || fail "Section/Priority: $(field Section)/$(field Priority)"
    [[ "$(field Maintainer)" =~ ^[^\<]+\ \<[^@\>]+@[^\>]+\>$ ]] || fail "Maintainer: '$(field Maintainer)'"
    [[ "$(field Installed-Size)" =~ ^[0-9]+$ ]] || fail "Installed-Size: '$(field Installed-Size)'"
    [ -n "$(field Description)" ] || fail "no Description"
    for f in Depends Pre-Depends; do [ -z "$(field $f)" ] || fail "$f: $(field $f) (the static binary needs nothing)"; done
    for s in postinst prerm postrm; do
        script=$work/$arch/ctrl/$s
        [ -x "$script" ] || fail "no executable $s"
        [ "$(head -n 1 "$script")" = '#!/bin/sh' ] || fail "$s is not a #!/bin/sh script"
        grep -qx 'set -e' "$script" || fail "$s lacks set -e"
        sh -n "$script" || fail "$s does not parse"
        if command -v dash >/dev/null; then dash -n "$script" || fail "$s does not parse in dash"; fi
        # every systemctl call sits inside an `if [ -d /run/systemd/system ]` block
        awk -v s="$s" '/\[ -d \/run\/systemd\/system \]/ { g++ } /^ *fi$/ && g { g-- }
            /systemctl / && !/^ *#/ && !g { print s ": unguarded systemctl: " $0; bad = 1 } END { exit bad }' "$script" \
            || fail "systemctl outside [ -d /run/systemd/system ]"
    done

    # The unpacked tree.
    root=$work/$arch/root
    dpkg-deb -x "$deb" "$root"
    conf=$root/etc/tracksd/tracksd.toml
    if grep -q '^\[\[users\]\]' "$conf"; then fail "the packaged config has a [[users]] entry"; fi
    grep -qx 'users_file = "/etc/tracksd/users"' "$conf" || fail "the packaged config does not name /etc/tracksd/users"
    # What the package holds is what the checkout has, and the packaged config sets the same
    # keys as config/tracksd.example.toml (users_file aside: the package's is absolute, the
    # example may or may not set one), so a new key reaches both.
    cmp -s "$conf" "$top/config/deb/tracksd.toml" || fail "etc/tracksd/tracksd.toml differs from config/deb/tracksd.toml"
    for u in tracksd.service tracksd.socket; do
        cmp -s "$root/usr/lib/systemd/system/$u" "$top/config/$u" || fail "usr/lib/systemd/system/$u differs from config/$u"
    done
    keys() { awk '/^\[/ { sec = $0; print sec; next } /^[a-z_]+ = / { print sec " " $1 }' "$1"; }
    key_diff=$(diff <(keys "$top/config/tracksd.example.toml" | grep -vx ' users_file') <(keys "$conf" | grep -vx ' users_file') || true)
    [ -z "$key_diff" ] || fail "config/deb/tracksd.toml and config/tracksd.example.toml set different keys: $key_diff"
    grep -qx 'ExecStart=/usr/bin/tracksd serve --config /etc/tracksd/tracksd.toml' \
        "$root/usr/lib/systemd/system/tracksd.service" || fail "ExecStart is not /usr/bin/tracksd with the packaged config"
    grep -qx 'DynamicUser=yes' "$root/usr/lib/systemd/system/tracksd.service" || fail "the service lost DynamicUser=yes"
    grep -qx 'ListenStream=8000' "$root/usr/lib/systemd/system/tracksd.socket" || fail "tracksd.socket does not listen on port 8000"
    grep -Eq '^u tracksd - ' "$root/usr/lib/sysusers.d/tracksd.conf" || fail "sysusers.d/tracksd.conf declares no user tracksd"
    zcat "$root/usr/share/man/man1/tracksd.1.gz" | grep -q '^\.TH TRACKSD 1' || fail "the man page has no .TH"
    zcat "$root/usr/share/doc/tracksd/changelog.gz" | head -n 1 | grep -q "^tracksd ($version) " \
        || fail "changelog.gz does not start with version $version"
    grep -q '^License: MIT' "$root/usr/share/doc/tracksd/copyright" || fail "copyright names no license"
    runner=()
    case $arch in arm64) [ "$(uname -m)" = aarch64 ] || runner=("${QEMU_AARCH64:-qemu-aarch64}") ;; esac
    if [ ${#runner[@]} -eq 0 ] || command -v "${runner[0]}" >/dev/null 2>&1; then
        bin=$root/usr/bin/tracksd
        [ "$("${runner[@]}" "$bin" --version)" = "tracksd $version" ] || fail "usr/bin/tracksd --version is not 'tracksd $version'"
        out=$("${runner[@]}" "$bin" check-config --config "$conf" 2>&1) \
            || fail "check-config refuses the packaged config: $out"
    elif [ "${CI:-}" = true ]; then
        fail "${runner[0]} not found (required in CI)"
    else
        echo "deb test: note: ${runner[0]} not found; $arch binary and config not run"
    fi

    # lintian: no error and no warning (the justified overrides are in the package).
    if command -v lintian >/dev/null; then
        lint_rc=0
        # TMPDIR: lintian leaves an mldbm-elf-* file in the temp directory on every run.
        lint=$(TMPDIR=$work lintian --fail-on error,warning "$deb" 2>&1) || lint_rc=$?
        lint=$(grep -v 'running with root privileges' <<<"$lint" || true)
        [ $lint_rc = 0 ] || fail "lintian (exit $lint_rc): $lint"
        lint_note="lintian clean${lint:+ ($(wc -l <<<"$lint") info/pedantic line(s))}"
    elif [ "${CI:-}" = true ]; then
        fail "lintian not found (required in CI: apt-get install lintian)"
    else
        lint_note="lintian not installed, skipped"
    fi
    echo "deb test: $(basename "$deb") ok ($(stat -c %s "$deb") bytes; $(wc -l <<<"$files") files; $lint_note)"
done
