#!/usr/bin/env bash
# Real Dovecot (IMAP + LMTP) and Postfix (SMTP) on loopback, with a throwaway
# configuration in one folder, for the end-to-end tests and the demo.
#
#   scripts/mail-servers.sh install          apt packages, if missing
#   scripts/mail-servers.sh start [DIR]      write config, start both, print `export` lines
#   scripts/mail-servers.sh stop [DIR]       stop both
#   scripts/mail-servers.sh stop-postfix|start-postfix|restart-dovecot [DIR]
#
# Every address @example.test exists (a static user database), password
# "secret". A mail sent to it over SMTP lands in its Maildir through LMTP.
# Ports: SMTP 12525 (plain, AUTH optional), 12587 (STARTTLS + AUTH),
# 12465 (implicit TLS); IMAP 11143 (plain/STARTTLS), 11993 (implicit TLS).
# The certificates are signed by a CA made here: DIR/tls/ca.crt.
#
# Like a company's mail system, it proves senders with OpenDKIM: mail
# submitted with AUTH (12587, 12465: the phones' path) is DKIM-signed for
# example.test and then relayed to the plain port, which plays the inbound MX:
# there a verifying OpenDKIM checks every mail and stamps
# "Authentication-Results: mx.example.test; dkim=...". Keys for example.test
# and other.test (a stranger's domain) are made here; the verifier reads the
# public keys from DIR/dkim/keys.txt instead of DNS.
set -euo pipefail

DIR="${2:-${MAILPRESENCE_MAIL_DIR:-/tmp/mailpresence-mail}}"
DOMAIN=example.test
SMTP_PORT=12525 SUBMISSION_PORT=12587 SMTPS_PORT=12465
IMAP_PORT=11143 IMAPS_PORT=11993 LMTP_PORT=12424
DKIM_SIGN_PORT=12891 DKIM_VERIFY_PORT=12892 AUTHSERV_ID=mx.example.test
VMAIL_UID=5000

log() { echo "mail-servers: $*" >&2; }

install_packages() {
  "$(dirname "$0")/install-deps.sh"
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
  for which in sign verify; do
    if ! opendkim -x "$k/$which.conf" >>"$k/stdout.log" 2>&1; then
      log "OpenDKIM ($which) did not start:"; tail -n 5 "$k/stdout.log" >&2; return 1
    fi
  done
  wait_port "$DKIM_SIGN_PORT"; wait_port "$DKIM_VERIFY_PORT"
}

# By the process ids it wrote, never by a name pattern.
stop_opendkim() {
  local k="$DIR/dkim" which pid
  for which in sign verify; do
    pid=$(cat "$k/$which.pid" 2>/dev/null || true)
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$k/$which.pid"
  done
}

write_dovecot() {
  mkdir -p "$DIR/dovecot/run" "$DIR/dovecot/state" "$DIR/mail"
  chown "$VMAIL_UID:$VMAIL_UID" "$DIR/mail"
  cat > "$DIR/dovecot/dovecot.conf" <<EOF
instance_name = mailpresence-test
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
auth_mechanisms = plain login
auth_failure_delay = 0
first_valid_uid = $VMAIL_UID
mail_location = maildir:~/Maildir
mail_max_userip_connections = 200
passdb {
  driver = static
  args = password=secret
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
127.0.0.1:$SUBMISSION_PORT inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_milters=inet:127.0.0.1:$DKIM_SIGN_PORT
  -o content_filter=smtp:[127.0.0.1]:$SMTP_PORT
127.0.0.1:$SMTPS_PORT inet n - n - - smtpd
  -o smtpd_tls_wrappermode=yes
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_milters=inet:127.0.0.1:$DKIM_SIGN_PORT
  -o content_filter=smtp:[127.0.0.1]:$SMTP_PORT
EOF
  # Postfix re-reads config files changed in the last seconds; these are old news.
  touch -d '-1 min' "$p/main.cf" "$p/master.cf"
}

wait_port() {
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  log "port $1 did not open"; return 1
}

dovecot_pid() { cat "$DIR/dovecot/run/master.pid" 2>/dev/null || true; }

start_dovecot() {
  local old; old=$(dovecot_pid)
  # A killed master lingers as a zombie for a few seconds; wait it out.
  for _ in $(seq 1 50); do [ -n "$old" ] && kill -0 "$old" 2>/dev/null || break; sleep 0.1; done
  if ! dovecot -c "$DIR/dovecot/dovecot.conf" >>"$DIR/dovecot/stdout.log" 2>&1 </dev/null; then
    log "Dovecot did not start:"; tail -n 5 "$DIR/dovecot/stdout.log" "$DIR/dovecot/dovecot.log" >&2 2>/dev/null; return 1
  fi
  wait_port "$IMAP_PORT"; wait_port "$LMTP_PORT"
}

# Like systemd stopping the service's whole cgroup: the master, then every
# process of this instance (a stopped master leaves its imap children running).
stop_dovecot() {
  local pid; pid=$(dovecot_pid)
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  pkill -TERM -f '^dovecot-mailpresence-test/' 2>/dev/null || true
  for _ in $(seq 1 50); do pgrep -f '^dovecot-mailpresence-test/' >/dev/null || return 0; sleep 0.1; done
  pkill -KILL -f '^dovecot-mailpresence-test/' 2>/dev/null || true
}

start_postfix() {
  if ! postfix -c "$DIR/postfix" start >>"$DIR/postfix/stdout.log" 2>&1; then
    log "Postfix did not start:"; tail -n 5 "$DIR/postfix/stdout.log" "$DIR/postfix/maillog" >&2 2>/dev/null; return 1
  fi
  wait_port "$SMTP_PORT"
}

stop_postfix() {
  [ -f "$DIR/postfix/main.cf" ] || return 0
  postfix -c "$DIR/postfix" stop >>"$DIR/postfix/stdout.log" 2>&1 || true
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$SMTP_PORT") 2>/dev/null || return 0
    sleep 0.1
  done
}

print_env() {
  cat <<EOF
export MAILPRESENCE_MAIL_DIR=$DIR
export MAILPRESENCE_MAIL_DOMAIN=$DOMAIN
export MAILPRESENCE_SMTP_PORT=$SMTP_PORT MAILPRESENCE_SUBMISSION_PORT=$SUBMISSION_PORT MAILPRESENCE_SMTPS_PORT=$SMTPS_PORT
export MAILPRESENCE_IMAP_PORT=$IMAP_PORT MAILPRESENCE_IMAPS_PORT=$IMAPS_PORT
export MAILPRESENCE_MAIL_CA=$DIR/tls/ca.crt
export MAILPRESENCE_AUTHSERV_ID=$AUTHSERV_ID MAILPRESENCE_DKIM_DIR=$DIR/dkim
EOF
}

case "${1:-}" in
  install) install_packages ;;
  start)
    install_packages
    mkdir -p "$DIR"
    # Postfix and Dovecot work as their own users: they must enter the folder
    # (mktemp -d makes it 0700).
    chmod 755 "$DIR"
    stop_postfix; stop_dovecot; stop_opendkim
    for port in $SMTP_PORT $IMAP_PORT $DKIM_SIGN_PORT $DKIM_VERIFY_PORT; do
      if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        log "port $port is taken by another instance; stop it first (scripts/mail-servers.sh stop OTHER_DIR)"; exit 1
      fi
    done
    rm -rf "$DIR/mail" "$DIR/postfix/queue"   # a fresh start holds no old mail
    make_certificates; make_dkim_keys; write_opendkim; write_dovecot; write_postfix
    start_opendkim; start_dovecot; start_postfix
    log "OpenDKIM, Dovecot and Postfix up in $DIR"
    print_env ;;
  stop) stop_postfix; stop_dovecot; stop_opendkim; log "stopped" ;;
  stop-postfix) stop_postfix ;;
  start-postfix) start_postfix ;;
  stop-dovecot) stop_dovecot ;;
  start-dovecot)
    start_dovecot
    # Like an administrator after a restart: retry what Postfix deferred while
    # Dovecot was away (its own retry can lag behind a race in its queue scan).
    [ -f "$DIR/postfix/main.cf" ] && postqueue -c "$DIR/postfix" -f 2>/dev/null || true ;;
  restart-dovecot) stop_dovecot; start_dovecot ;;
  env) print_env ;;
  *) echo "usage: $0 install|start|stop|stop-postfix|start-postfix|stop-dovecot|start-dovecot|restart-dovecot|env [DIR]" >&2; exit 2 ;;
esac
