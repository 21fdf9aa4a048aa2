#!/usr/bin/env bash
# Installs the Debian packages the tests and the demo need, when missing:
# Dovecot and Postfix (real mail servers), OpenDKIM (signs and verifies like a
# company's mail system), SIPp (a real SIP peer), baresip and linphonec (real
# desk softphones) with Kamailio (the company's SIP registrar), OpenLDAP's
# slapd (the company directory), PostgreSQL (the shared store of two
# server instances, scripts/postgres-server.sh), dnsmasq (a mail domain's MX and SRV records
# for tests/tests/mail_settings.rs), openssl
# (test certificates), Chromium with its chromedriver (the web board's
# browser tests), libssl-dev (to check the optional online-geocoding
# feature). Safe to run again; does nothing when all are there.
set -euo pipefail

need=()
command -v dovecot >/dev/null && [ -x /usr/lib/dovecot/imap ] || need+=(dovecot-imapd)
[ -x /usr/lib/dovecot/lmtp ] || need+=(dovecot-lmtpd)
command -v postfix >/dev/null || need+=(postfix)
command -v sipp >/dev/null || need+=(sip-tester)
# Real desk phones and a company registrar for tests/tests/desk_phones.rs;
# the baresip modules the tests load are in baresip-core.
[ -e /usr/lib/baresip/modules/ctrl_tcp.so ] && [ -e /usr/lib/baresip/modules/presence.so ] || need+=(baresip)
command -v linphonec >/dev/null || need+=(linphone-cli)
command -v kamailio >/dev/null || need+=(kamailio)
command -v opendkim >/dev/null || need+=(opendkim)
command -v opendkim-genkey >/dev/null || need+=(opendkim-tools)
command -v openssl >/dev/null || need+=(openssl)
# A real DNS server for finding mail settings (tests/tests/mail_settings.rs):
# dnsmasq-base is the binary alone, without a service that starts at install.
[ -x /usr/sbin/dnsmasq ] || need+=(dnsmasq-base)
# The company directory of tests/tests/directory.rs (scripts/ldap-server.sh).
[ -x /usr/sbin/slapd ] || need+=(slapd)
command -v ldapsearch >/dev/null || need+=(ldap-utils)
# The store's tests on PostgreSQL and the two-instance test
# (scripts/postgres-server.sh runs initdb and pg_ctl from the server package).
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
# The Debian package's test (scripts/test-package.sh): its unit checked by
# systemd-analyze, a fresh chroot by debootstrap, /metrics read with curl.
command -v systemd-analyze >/dev/null || need+=(systemd)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v curl >/dev/null || need+=(curl)
# The 16 KB page check of Android's native libraries (scripts/test-page-size.sh):
# readelf, gcc to link test libraries, unzip for the .aar.
command -v readelf >/dev/null || need+=(binutils)
command -v gcc >/dev/null || need+=(gcc)
command -v unzip >/dev/null || need+=(unzip)
# The web board in a real browser (tests/tests/board.rs); fonts for Japanese.
command -v chromium >/dev/null || need+=(chromium)
command -v chromedriver >/dev/null || need+=(chromium-driver)
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-noto-cjk)
# Only for checking the optional `online` geocoding feature (reqwest with native-tls).
dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
command -v pkg-config >/dev/null || need+=(pkg-config)
[ ${#need[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Another apt may hold the lock for a while on a fresh machine.
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
