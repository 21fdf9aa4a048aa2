#!/usr/bin/env bash
# The Debian package as IT would meet it: built (from the debug build, see
# package-deb.sh --debug), installed with dpkg into a fresh Debian 12 chroot,
# its files, user and rights checked, its systemd unit checked by
# `systemd-analyze verify` and `systemd-analyze security` (exposure at most
# 2.0, "OK"), `--check-config` run on the installed example, and the installed
# server started as its system user against the test mail servers (the
# MAILPRESENCE_* variables of scripts/mail-servers.sh) until its /metrics say
# its IMAP intake runs; then stopped by its pid and the chroot removed.
# The clean Debian 12 base (debootstrap minbase with adduser, systemd, procps) is
# made once and kept as a tarball in /var/cache/mailpresence; every run
# unpacks a fresh copy of it.
#   scripts/test-package.sh [--prepare]   (--prepare: make the base only)
set -euo pipefail
cd "$(dirname "$0")/.."
cache=/var/cache/mailpresence
# The packages a Debian server has beside minbase (procps: `kill` for
# ExecReload); the name changes with the list, so a new list makes a new base.
extra=adduser,systemd,procps,curl
base="$cache/bookworm-base-$(echo "$extra" | cksum | cut -d" " -f1).tar"
fail() { echo "test-package: $*" >&2; exit 1; }

if [ ! -f "$base" ]; then
  echo "test-package: making the Debian 12 base chroot in $base (once, a few minutes)" >&2
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends debootstrap >/dev/null
  making=$(mktemp -d)
  debootstrap --variant=minbase --include="$extra" bookworm "$making" http://deb.debian.org/debian >/dev/null
  mkdir -p "$cache"
  tar -C "$making" -cf "$base.partial" .
  mv "$base.partial" "$base"
  rm -rf "$making"
fi
# `--prepare`: only the base above (scripts/test.sh makes it while it builds).
[ "${1:-}" = --prepare ] && exit 0
: "${MAILPRESENCE_IMAP_PORT:?start the mail servers first (scripts/mail-servers.sh start)}"

deb=$(scripts/package-deb.sh --debug)
root=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$root"
}
trap cleanup EXIT
tar -C "$root" -xf "$base"
# mktemp made it 0700: the service user must be able to walk from /.
chmod 0755 "$root"
cp "$deb" "$root/tmp/mailpresence-server.deb"

echo "test-package: installing $(basename "$deb")" >&2
chroot "$root" dpkg -i /tmp/mailpresence-server.deb >/dev/null
chroot "$root" getent passwd mailpresence >/dev/null || fail "no system user mailpresence"
for f in /usr/bin/mailpresence-server /usr/share/mailpresence/mappack.bin \
  /lib/systemd/system/mailpresence-server.service /etc/mailpresence/server.toml; do
  [ -e "$root$f" ] || fail "$f not installed"
done
owner=$(chroot "$root" stat -c '%a %U:%G' /etc/mailpresence/server.toml)
[ "$owner" = "640 root:mailpresence" ] || fail "server.toml is $owner, not 640 root:mailpresence (it holds the mail password)"
grep -qx /etc/mailpresence/server.toml "$root/var/lib/dpkg/info/mailpresence-server.conffiles" || fail "server.toml is no conffile"

echo "test-package: systemd-analyze verify and security" >&2
systemd-analyze verify --root="$root" mailpresence-server.service
systemd-analyze security --offline=yes --root="$root" --threshold=20 mailpresence-server.service >"$root/tmp/security.txt" ||
  { tail -3 "$root/tmp/security.txt" >&2; fail "the unit's exposure is above 2.0"; }
grep "Overall exposure level" "$root/tmp/security.txt" >&2

chroot "$root" mailpresence-server --check-config /etc/mailpresence/server.toml >/dev/null ||
  fail "the installed example configuration is not valid"

# A configuration for the test mail servers, as IT would write it.
metrics_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
domain=$MAILPRESENCE_MAIL_DOMAIN
cp "$MAILPRESENCE_MAIL_CA" "$root/etc/mailpresence/company-ca.pem"
cat >"$root/etc/mailpresence/server.toml" <<TOML
[server]
address = "presence.package@$domain"
storage = "/var/lib/mailpresence/presence.db"
[imap]
host = "127.0.0.1"
port = $MAILPRESENCE_IMAP_PORT
tls = "starttls"
user = "presence.package@$domain"
password = "secret"
ca_file = "/etc/mailpresence/company-ca.pem"
[smtp]
host = "127.0.0.1"
port = $MAILPRESENCE_SUBMISSION_PORT
tls = "starttls"
user = "presence.package@$domain"
password = "secret"
ca_file = "/etc/mailpresence/company-ca.pem"
[trust]
mode = "authentication-results"
authserv_id = "$MAILPRESENCE_AUTHSERV_ID"
[metrics]
listen = "127.0.0.1:$metrics_port"
[[person]]
account = "tanaka"
mail = "tanaka.package@$domain"
[[rule]]
watchers = ["*"]
may_see = ["*"]
TOML
chroot "$root" mailpresence-server --check-config /etc/mailpresence/server.toml >/dev/null
chroot "$root" setpriv --reuid=mailpresence --regid=mailpresence --init-groups \
  /usr/bin/mailpresence-server --config /etc/mailpresence/server.toml >"$root/tmp/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null | grep -qx 'mailpresence_loop_running{name="intake"} 1'; then
    echo "test-package: the installed server runs as mailpresence, its intake reading IMAP" >&2
    [ "$(stat -c %U "$root/var/lib/mailpresence/presence.db")" = "$(stat -c %U "$root/var/lib/mailpresence")" ] ||
      fail "the database is not the service user's"
    exit 0
  fi
  kill -0 "$server_pid" 2>/dev/null || { cat "$root/tmp/server.log" >&2; fail "the installed server stopped"; }
  sleep 0.2
done
cat "$root/tmp/server.log" >&2
fail "the installed server's intake did not run within 20 s"
