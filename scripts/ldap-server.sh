#!/usr/bin/env bash
# A throwaway OpenLDAP (slapd from Debian) for the directory tests, on a free
# loopback port, with its files in DIR; stopped by its own pid.
#   scripts/ldap-server.sh start DIR   prints `export MAILPRESENCE_LDAP_…` lines
#   scripts/ldap-server.sh stop DIR
# One MDB database, suffix dc=example,dc=test, with the memberof overlay (as
# AD, a member's entry lists its direct groups in memberOf), the core, cosine
# and inetOrgPerson schemas and an AD-shaped one (tests/ldap/ad-shaped.ldif).
# The admin cn=admin,dc=example,dc=test (password `secret`) writes; the
# server's bind account cn=presence-reader,dc=example,dc=test (password
# `reader-secret`) may only read. Entries are added by the tests themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:?usage: ldap-server.sh start|stop DIR} dir=${2:?usage: ldap-server.sh start|stop DIR}

stop() {
  if [ -f "$dir/slapd.pid" ]; then
    pid=$(cat "$dir/slapd.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$dir/slapd.pid"
  fi
}

case "$action" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: ldap-server.sh start|stop DIR" >&2; exit 2 ;;
esac

if ! command -v slapd >/dev/null && [ ! -x /usr/sbin/slapd ]; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends slapd ldap-utils >/dev/null
fi
stop
rm -rf "$dir/slapd.d" "$dir/data"
mkdir -p "$dir/slapd.d" "$dir/data"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reader_hash=$(/usr/sbin/slappasswd -s reader-secret)
cat >"$dir/config.ldif" <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $dir/slapd.pid

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: /usr/lib/ldap
olcModuleLoad: back_mdb
olcModuleLoad: memberof

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file:///etc/ldap/schema/core.ldif
include: file:///etc/ldap/schema/cosine.ldif
include: file:///etc/ldap/schema/inetorgperson.ldif
include: file://$(pwd)/tests/ldap/ad-shaped.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: 5000

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: $dir/data
olcDbMaxSize: 104857600
olcSuffix: dc=example,dc=test
olcRootDN: cn=admin,dc=example,dc=test
olcRootPW: secret
olcAccess: to attrs=userPassword by anonymous auth by * none
olcAccess: to * by dn.exact="cn=presence-reader,dc=example,dc=test" read by * none

dn: olcOverlay={0}memberof,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcMemberOf
olcOverlay: {0}memberof
olcMemberOfRefint: TRUE
olcMemberOfGroupOC: groupOfNames
olcMemberOfMemberAD: member
olcMemberOfMemberOfAD: memberOf
LDIF
/usr/sbin/slapadd -n 0 -F "$dir/slapd.d" -l "$dir/config.ldif" >/dev/null 2>"$dir/slapadd.log" ||
  { cat "$dir/slapadd.log" >&2; exit 1; }
cat >"$dir/base.ldif" <<LDIF
dn: dc=example,dc=test
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: cn=presence-reader,dc=example,dc=test
objectClass: person
objectClass: simpleSecurityObject
cn: presence-reader
sn: reader
userPassword: $reader_hash

dn: ou=people,dc=example,dc=test
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=example,dc=test
objectClass: organizationalUnit
ou: groups
LDIF
/usr/sbin/slapadd -n 1 -F "$dir/slapd.d" -l "$dir/base.ldif" >/dev/null 2>>"$dir/slapadd.log" ||
  { cat "$dir/slapadd.log" >&2; exit 1; }
/usr/sbin/slapd -h "ldap://127.0.0.1:$port/" -F "$dir/slapd.d" 2>"$dir/slapd.log"
for _ in $(seq 1 100); do
  [ -f "$dir/slapd.pid" ] && ldapsearch -x -H "ldap://127.0.0.1:$port/" -D cn=presence-reader,dc=example,dc=test \
    -w reader-secret -b dc=example,dc=test -s base '(objectClass=*)' dn >/dev/null 2>&1 && break
  sleep 0.1
done
[ -f "$dir/slapd.pid" ] || { cat "$dir/slapd.log" >&2; echo "ldap-server: slapd did not start" >&2; exit 1; }
echo "ldap-server: slapd up in $dir on port $port (pid $(cat "$dir/slapd.pid"))" >&2
echo "export MAILPRESENCE_LDAP_URL=ldap://127.0.0.1:$port"
echo "export MAILPRESENCE_LDAP_DIR=$dir"
