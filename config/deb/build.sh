#!/usr/bin/env bash
# Builds one Debian package from a static tracksd build with dpkg-deb alone (no
# debhelper, no cargo-deb): the tree below is laid out in a scratch directory, every
# file owned by root (--root-owner-group) and dated to the last commit, so the same
# checkout gives the same .deb.
#
#   bash config/deb/build.sh BIN DEB-ARCH RUST-TARGET MAN-PAGE OUT-DIR
#   e.g. bash config/deb/build.sh target/aarch64-unknown-linux-musl/release/tracksd arm64 \
#            aarch64-unknown-linux-musl target/tracksd.1 target/dist
#
# Writes OUT-DIR/tracksd_<version>_<arch>.deb (the version is Cargo.toml's; it must be
# the top entry of config/deb/changelog) and prints its path and size.
set -euo pipefail

bin=${1:?usage: build.sh BIN DEB-ARCH RUST-TARGET MAN-PAGE OUT-DIR}
arch=${2:?}
triple=${3:?}
man=${4:?}
out=${5:?}
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
fail() { echo "deb: $*" >&2; exit 1; }

[ -x "$bin" ] || fail "no executable $bin"
[ -s "$man" ] || fail "no man page $man"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$top/Cargo.toml" | head -n 1)
logged=$(sed -n '1s/^tracksd (\([^)]*\)).*/\1/p' "$here/changelog")
[ "$version" = "$logged" ] || fail "Cargo.toml says $version, config/deb/changelog's top entry $logged: add a changelog entry"

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
doc=$root/usr/share/doc/tracksd

install -d "$root/usr/bin" "$root/usr/lib/systemd/system" "$root/usr/lib/sysusers.d" \
    "$root/usr/share/man/man1" "$doc/docs" "$root/usr/share/lintian/overrides" "$root/etc/tracksd" \
    "$root/DEBIAN"
install -m 0755 "$bin" "$root/usr/bin/tracksd"
# The units as `make install` ships them: ExecStart is already /usr/bin/tracksd.
install -m 0644 "$top/config/tracksd.service" "$top/config/tracksd.socket" "$root/usr/lib/systemd/system/"
install -m 0644 "$here/sysusers.conf" "$root/usr/lib/sysusers.d/tracksd.conf"
install -m 0644 "$here/tracksd.toml" "$root/etc/tracksd/tracksd.toml"
install -m 0644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/tracksd"
gzip -9n <"$man" >"$root/usr/share/man/man1/tracksd.1.gz"
gzip -9n <"$here/changelog" >"$doc/changelog.gz"
install -m 0644 "$top/README.md" "$doc/README.md"
install -m 0644 "$top"/docs/*.md "$doc/docs/"
# copyright: what the static binary holds, from Cargo.lock (proc macros and build
# scripts run at build time only and are left out).
components=$(cd "$top" && cargo tree --locked --offline -e normal,no-proc-macro --target "$triple" \
    --prefix none -f '{p} {l}' | grep -v '^tracksd ' | sed 's/ (\*)$//' | LC_ALL=C sort -u \
    | awk '{ printf " %s %s: %s\n", $1, $2, substr($0, length($1) + length($2) + 3) }')
[ -n "$components" ] || fail "cargo tree listed no crates for $triple"
awk -v c="$components" '$0 == "@COMPONENTS@" { print c; next } { print }' "$here/copyright.in" >"$doc/copyright"
chmod 0644 "$doc/copyright" "$doc/changelog.gz" "$root/usr/share/man/man1/tracksd.1.gz"

install -m 0644 "$here/conffiles" "$root/DEBIAN/conffiles"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$root/DEBIAN/"
(cd "$root" && find usr etc -type f | LC_ALL=C sort | xargs md5sum >DEBIAN/md5sums)
chmod 0644 "$root/DEBIAN/md5sums"
# Installed-Size as dpkg-gencontrol counts it: KiB per file rounded up, plus one per directory.
size=$(cd "$root" && find usr etc \( -type f -printf '%s\n' \) -o \( -type d -printf '1024\n' \) \
    | awk '{ s += int(($1 + 1023) / 1024) } END { print s }')
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" "$here/control.in" >"$root/DEBIAN/control"

epoch=$(git -C "$top" log -1 --format=%ct 2>/dev/null || echo 0)
find "$root" -exec touch -h -d "@$epoch" {} +
mkdir -p "$out"
deb=$out/tracksd_${version}_${arch}.deb
SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zxz --build "$root" "$deb.tmp" >/dev/null
mv "$deb.tmp" "$deb"
echo "deb: $deb ($(stat -c %s "$deb") bytes, Installed-Size $size KiB)"
