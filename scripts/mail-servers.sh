#!/usr/bin/env bash
# Real Dovecot (IMAP + LMTP) and Postfix (SMTP) on loopback, with a throwaway
# configuration in one folder, for the end-to-end tests and the demo.
#
#   scripts/mail-servers.sh install             apt packages, if missing
#   scripts/mail-servers.sh start [DIR]         write config, start all, print `export` lines
#   scripts/mail-servers.sh stop [DIR]          stop this instance (and nothing else)
#   scripts/mail-servers.sh env [DIR]           the `export` lines of a started instance
#   scripts/mail-servers.sh stop-postfix|start-postfix [DIR]
#   scripts/mail-servers.sh stop-dovecot|start-dovecot|restart-dovecot [DIR]
#   scripts/mail-servers.sh freeze-dovecot|thaw-dovecot [DIR]
#   scripts/mail-servers.sh freeze-postfix|thaw-postfix [DIR]
#   scripts/mail-servers.sh smtp-logins off|on [DIR]
#
# DIR defaults to $MAILPRESENCE_MAIL_DIR, else /tmp/mailpresence-mail.
#
# Every address @example.test exists (a static user database), password
# "secret". A mail sent to it over SMTP lands in its Maildir through LMTP.
#
# Ports. Each instance takes free loopback ports (20000 up to the kernel's
# ephemeral range, which clients' own ports come from), so that several
# checkouts can run their tests side by side. A port given in the environment
# is taken instead, and `start` fails if it is not free:
#   MAILPRESENCE_SMTP_PORT        SMTP, plain (AUTH optional): the inbound MX
#   MAILPRESENCE_SUBMISSION_PORT  submission, STARTTLS + AUTH
#   MAILPRESENCE_SMTPS_PORT       submission, implicit TLS + AUTH
#   MAILPRESENCE_RELAY_PORT       the internal hop from submission to the
#                                 verifier (a company's MSA-to-MX path, which
#                                 nobody outside reaches); no test sends here
#   MAILPRESENCE_IMAP_PORT        IMAP, plain/STARTTLS
#   MAILPRESENCE_IMAPS_PORT       IMAP, implicit TLS
#   MAILPRESENCE_LMTP_PORT        Dovecot's LMTP, where Postfix delivers
#   MAILPRESENCE_DKIM_SIGN_PORT   OpenDKIM milter that signs (submission)
#   MAILPRESENCE_DKIM_VERIFY_PORT OpenDKIM milter that verifies (inbound)
# The chosen ports are kept in DIR/ports.env: every other subcommand, and a
# later `start` in the same DIR (while they are still free), use them again.
# `start` and `env` print them as `export` lines, with the rest of the setup.
# The certificates are signed by a CA made here: DIR/tls/ca.crt.
#
# Processes. Each instance is found by its own process ids, never by a name:
# OpenDKIM's pid files (DIR/dkim/*.pid), Dovecot's master (DIR/dovecot/run/
# master.pid) and Postfix's master (DIR/postfix/queue/pid/master.pid). Both
# masters lead a process session of their own, and every process they start
# (imap, auth, lmtp; smtpd, qmgr, cleanup, ...) belongs to it: the session id,
# kept in DIR/dovecot/session and DIR/postfix/session, finds them all, even
# children a dead master left behind. Before a process is signalled its
# program is checked (and a master's folder), so a stale pid file from an
# earlier boot cannot hit a stranger. The Dovecot instance is named after DIR
# (process titles read dovecot-mailpresence-XXXXXXXX/imap ...).
#
# freeze-* sends SIGSTOP to every process of that server (master first, so it
# starts no new ones): a connection in progress stops mid-command, and a new
# one is accepted by the kernel but never greeted. thaw-* sends SIGCONT. `stop`
# also ends frozen processes.
#
# smtp-logins off|on: while off, every SMTP AUTH on this instance (submission,
# SMTPS, and the optional AUTH on the plain port) fails with
# "535 5.7.8 Error: authentication failed"; IMAP logins still work. Postfix
# asks Dovecot's auth service (smtpd_sasl_type = dovecot), which tells it the
# service ("smtp"). The first passdb is a deny list looked up by service name
# (passwd-file with username_format=%s): the switch writes or empties the
# entry "smtp" in DIR/dovecot/smtp-logins-off. Dovecot re-reads a passwd-file
# when it changes (checked at most once a second; the switch returns only when
# that second is over), so the switch holds for the very next login: no
# reload, no restart, no connection dropped, under a second. (Turning AUTH off in
# Postfix instead would need a reload that reaches only new smtpd processes,
# and the client would see "503 authentication not enabled", not a refusal.)
#
# Like a company's mail system, it proves senders with OpenDKIM: mail
# submitted with AUTH (submission and SMTPS: the phones' path) is DKIM-signed
# for example.test and then relayed to the plain port, which plays the inbound
# MX: there a verifying OpenDKIM checks every mail and stamps
# "Authentication-Results: mx.example.test; dkim=...". Keys for example.test
# and other.test (a stranger's domain) are made here; the verifier reads the
# public keys from DIR/dkim/keys.txt instead of DNS.
set -euo pipefail

ACTION="${1:-}"
SWITCH=""
if [ "$ACTION" = smtp-logins ]; then
  SWITCH="${2:-}"
  DIR="${3:-${MAILPRESENCE_MAIL_DIR:-/tmp/mailpresence-mail}}"
else
  DIR="${2:-${MAILPRESENCE_MAIL_DIR:-/tmp/mailpresence-mail}}"
fi
# The folder's path goes into configuration files and names the instance.
DIR=$(realpath -m -- "$DIR")
DOMAIN=example.test
AUTHSERV_ID=mx.example.test
VMAIL_UID=5000
# Every listener: NAME, whose port is ${NAME}_PORT here and
# MAILPRESENCE_${NAME}_PORT in the environment and in DIR/ports.env.
PORT_NAMES=(SMTP SUBMISSION SMTPS RELAY IMAP IMAPS LMTP DKIM_SIGN DKIM_VERIFY)
PORTS_FILE=$DIR/ports.env
# Held while ports are chosen and the servers start, so that two starts at
# the same moment cannot choose the same free port.
PORTS_LOCK=/tmp/mailpresence-ports.lock
INSTANCE="mailpresence-$(printf '%s' "$DIR" | cksum | { read -r crc _; printf '%08x' "$crc"; })"
POSTFIX_DAEMONS=$(postconf -h daemon_directory 2>/dev/null || echo /usr/lib/postfix/sbin)

log() { echo "mail-servers: $*" >&2; }
die() { log "$*"; exit 1; }

install_packages() {
  "$(dirname "$0")/install-deps.sh"
}

# --- ports ------------------------------------------------------------------

# True when nothing on this machine holds 127.0.0.1:$1: a bind test with
# SO_REUSEADDR, as the servers bind (connections of a stopped instance that
# linger in TIME_WAIT do not count). Perl is in every Debian.
port_free() {
  perl -MIO::Socket::INET -e '
    IO::Socket::INET->new(LocalAddr => "127.0.0.1", LocalPort => $ARGV[0],
                          Proto => "tcp", Listen => 1, ReuseAddr => 1) or exit 1' "$1"
}

# Who listens on port $1, for error messages (empty when ss is missing).
port_holder() {
  command -v ss >/dev/null || return 0
  ss -Hltnp "sport = :$1" 2>/dev/null | grep -o '"[^"]*",pid=[0-9]*' | sort -u | tr '\n' ' ' | sed 's/ $//' || true
}

# The ports recorded by the last start in DIR, as ${NAME}_PORT variables.
# Returns 1 when there are none.
load_ports() {
  local line name value
  [ -f "$PORTS_FILE" ] || return 1
  while IFS= read -r line; do
    case "$line" in
      MAILPRESENCE_*_PORT=*)
        name=${line%%=*}; name=${name#MAILPRESENCE_}; value=${line#*=}
        [[ "$value" =~ ^[0-9]+$ ]] || die "$PORTS_FILE: bad line '$line'"
        printf -v "$name" '%s' "$value" ;;
    esac
  done < "$PORTS_FILE"
  for name in "${PORT_NAMES[@]}"; do
    local var="${name}_PORT"
    [ -n "${!var:-}" ] || die "$PORTS_FILE lacks MAILPRESENCE_$var; start the instance again (scripts/mail-servers.sh start $DIR)"
  done
}

need_ports() {
  load_ports || die "no instance was started in $DIR ($PORTS_FILE is missing); run: scripts/mail-servers.sh start $DIR"
}

# Chooses ${NAME}_PORT for every listener: the environment's, else the port
# recorded in DIR when still free, else a free one at random. Called with the
# lock held and this DIR's old instance stopped.
choose_ports() {
  local name var env_var recorded port low high taken=" " tries line
  local -A old=()
  # The last start's ports, those that read well.
  if [ -f "$PORTS_FILE" ]; then
    while IFS= read -r line; do
      [[ "$line" =~ ^MAILPRESENCE_([A-Z_]+)_PORT=([0-9]+)$ ]] && old[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
    done < "$PORTS_FILE"
  fi
  read -r low high < /proc/sys/net/ipv4/ip_local_port_range
  # Below the ephemeral range, where no client's own port can be.
  if [ "$low" -gt 21000 ]; then high=$((low - 1)); low=20000; else low=$((high + 1)); high=65535; fi
  for name in "${PORT_NAMES[@]}"; do
    var="${name}_PORT"; env_var="MAILPRESENCE_$var"
    port="${!env_var:-}"
    if [ -n "$port" ]; then
      [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -ge 1 ] && [ "$port" -le 65535 ] \
        || die "$env_var=$port is not a port number"
      [[ "$taken" != *" $port "* ]] || die "$env_var=$port: that port is already given to another listener"
      if ! port_free "$port"; then
        die "port $port ($env_var, from the environment) is taken$(holder=$(port_holder "$port"); [ -n "$holder" ] && echo " by $holder")." \
            "Unset $env_var to take a free port (it may be left over from an earlier \`eval\` of another instance's export lines), or stop what holds it."
      fi
    else
      recorded="${old[$name]:-}"
      if [ -n "$recorded" ] && [[ "$taken" != *" $recorded "* ]] && port_free "$recorded"; then
        port=$recorded
      else
        [ -z "$recorded" ] || log "port $recorded ($name) recorded in $PORTS_FILE is taken now; choosing another"
        port=""
        for tries in $(seq 1 500); do
          port=$((low + (RANDOM * 32768 + RANDOM) % (high - low + 1)))
          [[ "$taken" != *" $port "* ]] && port_free "$port" && break
          port=""
        done
        [ -n "$port" ] || die "found no free port between $low and $high for $name after $tries tries"
      fi
    fi
    printf -v "$var" '%s' "$port"
    taken+="$port "
  done
  {
    echo "# Ports of the mail servers in $DIR, chosen by scripts/mail-servers.sh start."
    for name in "${PORT_NAMES[@]}"; do var="${name}_PORT"; echo "MAILPRESENCE_$var=${!var}"; done
  } > "$PORTS_FILE.new"
  mv "$PORTS_FILE.new" "$PORTS_FILE"
}

# mark FILE...: notes where these logs end now; `news` then prints the lines
# they gained since (this start's, not an earlier run's).
MARKS=()
mark() {
  local f; MARKS=()
  for f in "$@"; do MARKS+=("$(stat -c %s "$f" 2>/dev/null || echo 0):$f"); done
}
news() {
  local m f
  for m in "${MARKS[@]}"; do
    f=${m#*:}
    [ -s "$f" ] || continue
    tail -c "+$(( ${m%%:*} + 1 ))" "$f" | tail -n 8 | sed "s|^|  ${f#"$DIR"/}: |" >&2
  done
}

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  log "port $1 did not open"; return 1
}

# --- processes, by id -------------------------------------------------------

# The pid in file $1, when there is one.
pid_in() { tr -dc '0-9' 2>/dev/null <"$1" || true; }

# True while process $1 runs (a zombie, dead but not yet reaped, does not).
alive() {
  local stat; stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ "$stat" != Z* ]]
}

# True when process $1 runs a program whose path starts with one of $2...
runs() {
  local pid=$1 exe; shift
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  for prefix in "$@"; do [[ "$exe" == "$prefix"* ]] && return 0; done
  return 1
}

# Every process of session $1 whose program starts with one of $2...
session_members() {
  local sid=$1 pid s; shift
  [ -n "$sid" ] || return 0
  while read -r pid s; do
    [ "$s" = "$sid" ] && runs "$pid" "$@" && echo "$pid"
  done < <(ps -e -o pid=,sid=)
  return 0
}

# The session id recorded in file $1, while it is still this instance's: led
# by its master $2, or by no live process (children a dead master left). A
# live stranger with that pid (the id reused after a reboot) leads a session
# that is not ours.
our_session() {
  local sid; sid=$(pid_in "$1")
  [ -n "$sid" ] || return 0
  if [ "$sid" = "$2" ] || ! alive "$sid"; then echo "$sid"; fi
}

# Sends signal $1 to pids $2...
signal() { local sig=$1; shift; [ $# -eq 0 ] || kill "-$sig" "$@" 2>/dev/null || true; }

# Ends processes $@ all at once, as systemd ends a service's cgroup: SIGTERM
# (and SIGCONT, should they be frozen), then SIGKILL what is left after 5 s.
end_processes() {
  local pid left
  [ $# -gt 0 ] || return 0
  signal TERM "$@"; signal CONT "$@"
  wake_opendkim "$@"
  for _ in $(seq 1 50); do
    left=""
    for pid in "$@"; do alive "$pid" && left=1 && break; done
    [ -n "$left" ] || return 0
    sleep 0.1
  done
  signal KILL "$@"
}

# Starts Dovecot or Postfix, which work alike: the command returns once its
# master has gone to the background, which writes its pid a moment later; the
# master leads a session of its own (it calls setsid) that its children share.
# Waits for the master, records its session (read by dovecot_pids and
# postfix_pids) and waits until every port listens.
#   start_master NAME FOLDER PID_FUNCTION LOG "PORTS" COMMAND...
# FOLDER gets the command's stdout.log and the session file; LOG is the
# daemon's own log, whose news is shown when the start fails.
start_master() {
  local name=$1 folder=$2 pid_function=$3 daemon_log=$4 ports=$5 master sid port
  shift 5
  mark "$folder/stdout.log" "$daemon_log"
  if ! "$@" >>"$folder/stdout.log" 2>&1 </dev/null 9>&-; then
    log "$name did not start:"; news; return 1
  fi
  for _ in $(seq 1 100); do master=$($pid_function); [ -z "$master" ] || break; sleep 0.1; done
  [ -n "$master" ] || { log "$name did not start (no master pid):"; news; return 1; }
  sid=$(ps -o sid= -p "$master" | tr -d ' ')
  [ "$sid" = "$master" ] || { log "$name's master ($master) does not lead its own session ($sid); cannot track its processes"; return 1; }
  echo "$sid" > "$folder/session"
  for port in $ports; do
    wait_port "$port" || { log "$name did not open its ports:"; news; return 1; }
  done
}

# --- OpenDKIM ---------------------------------------------------------------

make_dkim_keys() {
  local k="$DIR/dkim" domain record
  [ -f "$k/keys.txt" ] && return
  mkdir -p "$k"
  : > "$k/keys.txt.new"
  for domain in $DOMAIN other.test; do
    mkdir -p "$k/$domain"
    opendkim-genkey -b 2048 -d "$domain" -s mail -D "$k/$domain"
    # mail.txt is a BIND record: its quoted parts, joined, without spaces.
    record=$(grep -o '"[^"]*"' "$k/$domain/mail.txt" | tr -d '" \n\t')
    echo "mail._domainkey.$domain $record" >> "$k/keys.txt.new"
  done
  chmod 600 "$k"/*/mail.private
  mv "$k/keys.txt.new" "$k/keys.txt"
}

write_opendkim() {
  local k="$DIR/dkim"
  # The submission side: signs what authenticated users send.
  cat > "$k/sign.conf" <<EOF
Mode s
Socket inet:$DKIM_SIGN_PORT@127.0.0.1
PidFile $k/sign.pid
Domain $DOMAIN
Selector mail
KeyFile $k/$DOMAIN/mail.private
# The test folder lies under /tmp, which others may write.
RequireSafeKeys no
Canonicalization relaxed/simple
Syslog no
UMask 022
EOF
  # The inbound side: verifies every mail and always says what it found.
  cat > "$k/verify.conf" <<EOF
Mode v
Socket inet:$DKIM_VERIFY_PORT@127.0.0.1
PidFile $k/verify.pid
AuthservID $AUTHSERV_ID
AlwaysAddARHeader yes
TestDNSData file:$k/keys.txt
Syslog no
UMask 022
EOF
}

start_opendkim() {
  local k="$DIR/dkim" which
  mark "$k/stdout.log"
  for which in sign verify; do
    if ! opendkim -x "$k/$which.conf" >>"$k/stdout.log" 2>&1 9>&-; then
      log "OpenDKIM ($which) did not start:"; news; return 1
    fi
  done
  wait_port "$DKIM_SIGN_PORT" && wait_port "$DKIM_VERIFY_PORT" \
    || { log "OpenDKIM did not open its ports:"; news; return 1; }
}

# The process ids it wrote, when they still run OpenDKIM on our config.
opendkim_pids() {
  local k="$DIR/dkim" which pid
  for which in sign verify; do
    pid=$(pid_in "$k/$which.pid")
    if [ -n "$pid" ] && runs "$pid" /usr/sbin/opendkim \
        && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$k/$which.conf"; then
      echo "$pid"
    fi
  done
}

# OpenDKIM (libmilter) notices a SIGTERM only when its listener wakes, every
# 5 s or at a new connection: among processes $@, knock at the port of each of
# ours that still runs, a moment after the signal.
wake_opendkim() {
  local k="$DIR/dkim" which pid port
  for which in sign verify; do
    pid=$(pid_in "$k/$which.pid")
    [ -n "$pid" ] && [[ " $* " == *" $pid "* ]] || continue
    sleep 0.1
    alive "$pid" || continue
    port=$(sed -n 's/^Socket inet:\([0-9]*\)@.*/\1/p' "$k/$which.conf" 2>/dev/null)
    [ -z "$port" ] || (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || true
  done
}

# --- Dovecot ----------------------------------------------------------------

# OAuth 2.0, as Microsoft 365 and Google Workspace want it: besides the
# password, Dovecot takes SASL XOAUTH2 and OAUTHBEARER (IMAP AUTHENTICATE,
# and SMTP AUTH through Postfix's Dovecot SASL) with a JWT access token, which
# its oauth2 passdb validates locally (no network) with an HS256 key made
# here: DIR/dovecot/oauth2/secret (base64). scripts/oauth-token.py mints a
# token for an address with it (`--expires-in -60` for an expired one).
write_dovecot() {
  mkdir -p "$DIR/dovecot/run" "$DIR/dovecot/state" "$DIR/mail"
  write_dovecot_oauth2
  chown "$VMAIL_UID:$VMAIL_UID" "$DIR/mail"
  # SMTP logins are on: the deny list is empty (see smtp-logins above).
  : > "$DIR/dovecot/smtp-logins-off"
  chmod 644 "$DIR/dovecot/smtp-logins-off"
  cat > "$DIR/dovecot/dovecot.conf" <<EOF
instance_name = $INSTANCE
hostname = mail.$DOMAIN
base_dir = $DIR/dovecot/run
state_dir = $DIR/dovecot/state
log_path = $DIR/dovecot/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
ssl = yes
ssl_cert = <$DIR/tls/server.crt
ssl_key = <$DIR/tls/server.key
ssl_dh = </usr/share/dovecot/dh.pem
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
first_valid_uid = $VMAIL_UID
mail_location = maildir:~/Maildir
# Only Dovecot's own processes (imap, lmtp) touch these Maildirs, the case
# for which Dovecot's documentation (10-mail.conf; "Maildir configuration",
# Optimizations) gives maildir_very_dirty_syncs: cur/ is scanned only when
# its mtime changes unexpectedly, not at each sync. The presence intake's
# two sessions sync the mailbox at nearly every command.
maildir_very_dirty_syncs = yes
mail_max_userip_connections = 200
# Looked up by service name: an entry "smtp" refuses every SMTP login
# (scripts/mail-servers.sh smtp-logins off).
passdb {
  driver = passwd-file
  args = username_format=%s $DIR/dovecot/smtp-logins-off
  deny = yes
}
passdb {
  driver = static
  args = password=secret
}
# A JWT access token (XOAUTH2, OAUTHBEARER): tried after the password, so a
# token never matches "secret" and a password never validates as a token.
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $DIR/dovecot/oauth2/oauth2.conf
}
userdb {
  driver = static
  args = uid=$VMAIL_UID gid=$VMAIL_UID home=$DIR/mail/%d/%n allow_all_users=yes
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
service auth {
  unix_listener auth-client {
    mode = 0666
  }
}
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
}

# The oauth2 passdb's settings and its HS256 key, kept across restarts of the
# same DIR (tokens minted before a restart stay valid). Dovecot looks the key
# up as shared/<azp>/<alg>/<kid> (azp and kid "default" when the token has
# none), which the fs dict maps to a file under its prefix.
write_dovecot_oauth2() {
  local o="$DIR/dovecot/oauth2"
  mkdir -p "$o/keys/default/HS256"
  [ -s "$o/secret" ] || head -c 32 /dev/urandom | base64 -w0 > "$o/secret"
  cp "$o/secret" "$o/keys/default/HS256/default"
  chmod 644 "$o/secret" "$o/keys/default/HS256/default"
  cat > "$o/oauth2.conf" <<EOF
introspection_mode = local
local_validation_key_dict = fs:posix:prefix=$o/keys/
username_attribute = email
issuers = https://login.$DOMAIN
EOF
}

# Dovecot's master, when it runs on this DIR's configuration.
dovecot_pid() {
  local pid; pid=$(pid_in "$DIR/dovecot/run/master.pid")
  [ -n "$pid" ] && runs "$pid" /usr/sbin/dovecot \
    && tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF -- "$DIR/dovecot/dovecot.conf" \
    && echo "$pid"
  return 0
}

# Every process of this Dovecot instance (master and children, or children a
# dead master left), master first.
dovecot_pids() {
  local master sid
  master=$(dovecot_pid)
  sid=$(our_session "$DIR/dovecot/session" "$master")
  [ -z "$master" ] || echo "$master"
  session_members "$sid" /usr/lib/dovecot/ /usr/sbin/dovecot | grep -vx -- "${master:-none}" || true
}

start_dovecot() {
  start_master Dovecot "$DIR/dovecot" dovecot_pid "$DIR/dovecot/dovecot.log" \
    "$IMAP_PORT $IMAPS_PORT $LMTP_PORT" dovecot -c "$DIR/dovecot/dovecot.conf"
}


# --- Postfix ----------------------------------------------------------------

write_postfix() {
  local p="$DIR/postfix"
  mkdir -p "$p/queue" "$p/data"
  chown postfix "$p/data"
  cat > "$p/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $p/queue
data_directory = $p/data
maillog_file = $p/maillog
maillog_file_prefixes = $p
mail_owner = postfix
myhostname = mail.$DOMAIN
mydomain = $DOMAIN
myorigin = $DOMAIN
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps = static:ok
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT
default_transport = error:tests send no mail outside $DOMAIN
smtpd_relay_restrictions = reject_unauth_destination
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DIR/dovecot/run/auth-client
smtpd_tls_security_level = may
smtpd_tls_cert_file = $DIR/tls/server.crt
smtpd_tls_key_file = $DIR/tls/server.key
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 5s
message_size_limit = 20480000
biff = no
EOF
  # Debian's master.cf, without chroot, listening on our own loopback ports.
  sed -E -e '/^smtp +inet/d' -e '/^#/d' \
      -e 's/^([a-z0-9]+ +(unix|inet|fifo|pass|unix-dgram) +[-ny] +[-ny] +)y /\1n /' \
      /etc/postfix/master.cf > "$p/master.cf"
  cat >> "$p/master.cf" <<EOF
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_milters=inet:127.0.0.1:$DKIM_VERIFY_PORT
  -o smtpd_sender_login_maps=regexp:$p/sender-logins
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
127.0.0.1:$RELAY_PORT inet n - n - - smtpd
  -o smtpd_milters=inet:127.0.0.1:$DKIM_VERIFY_PORT
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_milters=inet:127.0.0.1:$DKIM_SIGN_PORT
  -o smtpd_sender_login_maps=regexp:$p/sender-logins
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
  -o content_filter=smtp:[127.0.0.1]:$RELAY_PORT
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_milters=inet:127.0.0.1:$DKIM_SIGN_PORT
  -o smtpd_sender_login_maps=regexp:$p/sender-logins
  -o smtpd_sender_restrictions=reject_sender_login_mismatch
  -o content_filter=smtp:[127.0.0.1]:$RELAY_PORT
EOF
  # Every address of the company's domain belongs to its own login (the full
  # address), on submission and on the inbound port alike: submission binds
  # the envelope sender to the login, as a company's MSA does, and the inbound
  # port refuses the company's addresses as envelope senders from anyone not
  # logged in as them, as a company MX does by SPF or the same map. Mail from
  # submission reaches the verifier over the internal relay port instead. The
  # delivering MTA writes the envelope sender as Return-Path, which the
  # presence server compares with From. Other domains' senders are free.
  printf '/^(.+@%s)$/ ${1}\n' "${DOMAIN//./\\.}" > "$p/sender-logins"
  # Postfix re-reads config files changed in the last seconds; these are old news.
  touch -d '-1 min' "$p/main.cf" "$p/master.cf" "$p/sender-logins"
}

# Postfix's master, when it runs in this DIR's queue.
postfix_pid() {
  local pid; pid=$(pid_in "$DIR/postfix/queue/pid/master.pid")
  [ -n "$pid" ] && runs "$pid" "$POSTFIX_DAEMONS/master" \
    && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$DIR/postfix/queue" ] \
    && echo "$pid"
  return 0
}

# Every process of this Postfix instance, master first.
postfix_pids() {
  local master sid
  master=$(postfix_pid)
  sid=$(our_session "$DIR/postfix/session" "$master")
  [ -z "$master" ] || echo "$master"
  session_members "$sid" "$POSTFIX_DAEMONS/" | grep -vx -- "${master:-none}" || true
}

start_postfix() {
  start_master Postfix "$DIR/postfix" postfix_pid "$DIR/postfix/maillog" \
    "$SMTP_PORT $SUBMISSION_PORT $SMTPS_PORT $RELAY_PORT" postfix -c "$DIR/postfix" start
}


# --- freezing ---------------------------------------------------------------

# SIGSTOP to the master first, so that it starts no new process, then to
# every process of the session; again, for a child forked in between.
freeze() {
  local what=$1 list=$2 pids
  pids=$($list)
  [ -n "$pids" ] || die "$what is not running in $DIR"
  # shellcheck disable=SC2086  # lists of pids; the master comes first
  signal STOP ${pids%%$'\n'*}
  pids=$($list)
  # shellcheck disable=SC2086
  signal STOP $pids
  pids=$($list)
  # shellcheck disable=SC2086
  signal STOP $pids
  log "$what frozen ($(wc -w <<<"$pids") processes)"
}

thaw() {
  local what=$1 list=$2 pids
  pids=$($list)
  [ -n "$pids" ] || die "$what is not running in $DIR"
  # shellcheck disable=SC2086
  signal CONT $pids
  log "$what thawed"
}

smtp_logins() {
  local f="$DIR/dovecot/smtp-logins-off"
  [ -f "$f" ] || die "no instance was started in $DIR ($f is missing); run: scripts/mail-servers.sh start $DIR"
  case "$SWITCH" in
    off) echo "smtp:{PLAIN}refused-by-smtp-logins-off" > "$f.new" ;;
    on) : > "$f.new" ;;
    *) die "usage: $0 smtp-logins off|on [DIR]" ;;
  esac
  chmod 644 "$f.new"
  # Another size: Dovecot sees the change at its next look at the file, which
  # it makes at most once a second (on the first lookup in a new second of its
  # clock). Returning only in the next second makes sure every login after
  # this command sees the switch.
  mv "$f.new" "$f"
  sleep "$(date +%s.%N | awk '{ printf "%.3f", int($1) + 1.05 - $1 }')"
  log "SMTP logins $SWITCH in $DIR"
}

print_env() {
  cat <<EOF
export MAILPRESENCE_MAIL_DIR=$DIR
export MAILPRESENCE_MAIL_DOMAIN=$DOMAIN
export MAILPRESENCE_SMTP_PORT=$SMTP_PORT MAILPRESENCE_SUBMISSION_PORT=$SUBMISSION_PORT MAILPRESENCE_SMTPS_PORT=$SMTPS_PORT MAILPRESENCE_RELAY_PORT=$RELAY_PORT
export MAILPRESENCE_IMAP_PORT=$IMAP_PORT MAILPRESENCE_IMAPS_PORT=$IMAPS_PORT
export MAILPRESENCE_LMTP_PORT=$LMTP_PORT MAILPRESENCE_DKIM_SIGN_PORT=$DKIM_SIGN_PORT MAILPRESENCE_DKIM_VERIFY_PORT=$DKIM_VERIFY_PORT
export MAILPRESENCE_MAIL_CA=$DIR/tls/ca.crt
export MAILPRESENCE_AUTHSERV_ID=$AUTHSERV_ID MAILPRESENCE_DKIM_DIR=$DIR/dkim
EOF
}

# Ends every process the functions $@ list, all of them at once: master and
# children (a stopped Dovecot master leaves its imap children running), then
# what a master forked meanwhile. The session files go last, so that a stop
# cut short can be done again.
stop_processes() {
  local f pids=""
  for f in "$@"; do pids+=" $($f)"; done
  # shellcheck disable=SC2086  # a list of pids
  end_processes $pids
  pids=""
  for f in "$@"; do pids+=" $($f)"; done
  # shellcheck disable=SC2086
  end_processes $pids
}

stop_postfix() { stop_processes postfix_pids; rm -f "$DIR/postfix/session"; }
stop_dovecot() { stop_processes dovecot_pids; rm -f "$DIR/dovecot/session"; }
stop_all() {
  stop_processes postfix_pids dovecot_pids opendkim_pids
  rm -f "$DIR/postfix/session" "$DIR/dovecot/session" "$DIR/dkim/sign.pid" "$DIR/dkim/verify.pid"
}

start() {
  install_packages
  mkdir -p "$DIR"
  # Postfix and Dovecot work as their own users: they must enter the folder
  # (mktemp -d makes it 0700).
  chmod 755 "$DIR"
  # What an earlier run left in this DIR (and only in it).
  stop_all
  exec 9>>"$PORTS_LOCK"
  flock -w 120 9 || die "another start held $PORTS_LOCK for 2 minutes"
  choose_ports
  rm -rf "$DIR/mail" "$DIR/postfix/queue"   # a fresh start holds no old mail
  make_certificates; make_dkim_keys; write_opendkim; write_dovecot; write_postfix
  # A service that does not start ends the start, and what did start is stopped.
  if ! { start_opendkim && start_dovecot && start_postfix; }; then
    stop_all
    die "the mail servers in $DIR did not start (see above); nothing of them is left running"
  fi
  exec 9>&-
  log "OpenDKIM, Dovecot ($INSTANCE) and Postfix up in $DIR: SMTP $SMTP_PORT, submission $SUBMISSION_PORT, SMTPS $SMTPS_PORT, IMAP $IMAP_PORT, IMAPS $IMAPS_PORT"
  print_env
}

make_certificates() {
  local t="$DIR/tls"
  [ -f "$t/server.crt" ] && return
  mkdir -p "$t"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=MailPresence test CA" \
    -keyout "$t/ca.key" -out "$t/ca.crt" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' > "$t/ext.cnf"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
    -days 3650 -extfile "$t/ext.cnf" -out "$t/server.crt" 2>/dev/null
  chmod 644 "$t"/*.crt "$t/server.key"
}

case "$ACTION" in
  install) install_packages ;;
  start) start ;;
  stop) stop_all; log "stopped the mail servers in $DIR" ;;
  env) need_ports; print_env ;;
  stop-postfix) stop_postfix ;;
  start-postfix) need_ports; start_postfix ;;
  stop-dovecot) stop_dovecot ;;
  start-dovecot)
    need_ports; start_dovecot
    # Like an administrator after a restart: retry what Postfix deferred while
    # Dovecot was away (its own retry can lag behind a race in its queue scan).
    [ -f "$DIR/postfix/main.cf" ] && postqueue -c "$DIR/postfix" -f 2>/dev/null || true ;;
  restart-dovecot) need_ports; stop_dovecot; start_dovecot ;;
  freeze-dovecot) freeze Dovecot dovecot_pids ;;
  thaw-dovecot) thaw Dovecot dovecot_pids ;;
  freeze-postfix) freeze Postfix postfix_pids ;;
  thaw-postfix) thaw Postfix postfix_pids ;;
  smtp-logins) smtp_logins ;;
  *) echo "usage: $0 install|start|stop|env|stop-postfix|start-postfix|stop-dovecot|start-dovecot|restart-dovecot|freeze-dovecot|thaw-dovecot|freeze-postfix|thaw-postfix [DIR]" >&2
     echo "       $0 smtp-logins off|on [DIR]" >&2; exit 2 ;;
esac
