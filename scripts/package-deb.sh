#!/usr/bin/env bash
# Builds the Debian package of the presence server: the binary, the map pack,
# the example configuration as /etc/mailpresence/server.toml (a conffile),
# the hardened systemd unit, and the scripts that add the system user.
#   scripts/package-deb.sh [--debug] [OUT_DIR]     (default: target/debian)
# Uses the release build in CARGO_TARGET_DIR (or target/), building it when
# missing or older than the sources. --debug packages the debug build instead
# (stripped, gzip): what the test command installs, to spare it a release
# build; never ship that one. Needs dpkg-deb (Debian's dpkg).
set -euo pipefail
cd "$(dirname "$0")/.."
profile=release compression=xz
if [ "${1:-}" = --debug ]; then
  profile=debug compression=gzip
  shift
fi
target_dir="${CARGO_TARGET_DIR:-target}"
out="${1:-$target_dir/debian}"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
arch=$(dpkg --print-architecture)
echo "package-deb: building mailpresence-server $version ($arch, $profile)" >&2
if [ "$profile" = release ]; then
  cargo build --quiet --release -p mailpresence-server
else
  cargo build --quiet -p mailpresence-server
fi
binary="$target_dir/$profile/mailpresence-server"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$binary" "$root/usr/bin/mailpresence-server"
[ "$profile" = release ] || strip --strip-debug "$root/usr/bin/mailpresence-server"
install -D -m 0644 assets/mappack.bin "$root/usr/share/mailpresence/mappack.bin"
install -D -m 0644 packaging/mailpresence-server.service \
  "$root/lib/systemd/system/mailpresence-server.service"
# The example configuration, with the paths the package uses.
install -d "$root/etc/mailpresence"
sed -e 's|^# *map_pack = .*|map_pack = "/usr/share/mailpresence/mappack.bin"|' \
  docs/server.example.toml >"$root/etc/mailpresence/server.toml"
chmod 0640 "$root/etc/mailpresence/server.toml"
install -D -m 0644 README.md "$root/usr/share/doc/mailpresence-server/README.md"
install -D -m 0644 assets/README.md "$root/usr/share/doc/mailpresence-server/DATA.md"
cat >"$root/usr/share/doc/mailpresence-server/copyright" <<COPY
MailPresence presence server. Licence: $(sed -n 's/^license = "\(.*\)"/\1/p' Cargo.toml | head -1).
The map pack's data sources and their licences and credits: DATA.md.
COPY

install -d "$root/DEBIAN"
install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
echo /etc/mailpresence/server.toml >"$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<CONTROL
Package: mailpresence-server
Version: $version
Architecture: $arch
Maintainer: MailPresence <it@example.co.jp>
Installed-Size: $size
Depends: libc6 (>= 2.36), libgcc-s1, adduser, procps
Section: net
Priority: optional
Homepage: https://example.co.jp/mailpresence
Description: presence server for field staff over e-mail and SIP
 Keeps everyone's presence (state, place, schedule), reads the phones'
 presence mails over IMAP and answers them over SMTP, speaks SIP presence
 (PUBLISH, SUBSCRIBE/NOTIFY, PIDF) to desk phones, and serves the presence
 board to desk staff in the browser.
CONTROL
mkdir -p "$out"
deb="$out/mailpresence-server_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Z"$compression" --build "$root" "$deb" >/dev/null
echo "$deb"
