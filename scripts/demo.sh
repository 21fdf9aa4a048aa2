#!/usr/bin/env bash
# The whole loop on this machine, on loopback, with real parts: Dovecot and
# Postfix, the presence server (SQLite store, mail and SIP sides), a field
# worker (the `mailpresence` command on the phone's core) replaying a route
# between real Tokyo stations (a generated walk, labelled so) and setting a status, and a desk phone (a small SIP user agent) that
# watches the worker and publishes its own meeting, and the web board desk
# staff keep open (the demo prints a sign-in link for it). Prints what each
# side sees, then a summary, and shuts everything down.
#   scripts/demo.sh
#   DEMO_PACE_MS=300 DEMO_HOLD_SECS=120 scripts/demo.sh   (slow enough to
#   watch the worker move on the board, and the board kept open after)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
say() { printf '\n\033[1m%s\033[0m\n' "$*"; }

say "Setting up (Debian packages when missing, then the build)"
scripts/install-deps.sh
cargo build --quiet -p mailpresence-server -p mailpresence-cli
bin=${CARGO_TARGET_DIR:-$repo/target}/debug
demo=$(mktemp -d /tmp/mailpresence-demo.XXXXXX)
chmod 755 "$demo"  # the mail servers run as their own users
mail_dir=$demo/mail
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  scripts/mail-servers.sh stop "$mail_dir" >/dev/null 2>&1 || true
}
# The mail servers stop by their own process ids (scripts/mail-servers.sh
# stop), and only this demo's: they run on free ports of their own.
trap cleanup EXIT
mail_env=$(scripts/mail-servers.sh start "$mail_dir") || { echo "demo: the mail servers did not start (see above); stopping" >&2; exit 1; }
eval "$mail_env"
free_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sip_port=$(free_port)
web_port=$(free_port)
board="http://127.0.0.1:$web_port"

cat > "$demo/server.toml" <<EOF
[server]
address = "presence@example.test"
storage = "$demo/presence.db"
language = "ja"
[imap]
host = "127.0.0.1"
port = $MAILPRESENCE_IMAP_PORT
tls = "starttls"
user = "presence@example.test"
password = "secret"
ca_file = "$MAILPRESENCE_MAIL_CA"
[smtp]
host = "127.0.0.1"
port = $MAILPRESENCE_SUBMISSION_PORT
tls = "starttls"
user = "presence@example.test"
password = "secret"
ca_file = "$MAILPRESENCE_MAIL_CA"
[trust]
# Phones submit through Postfix, where OpenDKIM signs; the inbound OpenDKIM
# verifies and writes its verdict under this name.
mode = "authentication-results"
authserv_id = "$MAILPRESENCE_AUTHSERV_ID"
[presence]
notify_interval_secs = 1
[sip]
listen = "127.0.0.1:$sip_port"
domain = "example.test"
trusted_networks = ["127.0.0.0/8"]   # the demo's SIP peers run on this machine
trusted_over_udp = true               # loopback: nobody forges a source address here
[web]
listen = "127.0.0.1:$web_port"
public_url = "$board"
map_pack = "$repo/assets/mappack.bin"
[[person]]
account = "tanaka"
name = "田中 太郎"
mail = "tanaka@example.test"
groups = ["field"]
[[person]]
account = "yamada"
name = "山田 部長"
mail = "yamada@example.test"
sip = "sip:yamada@example.test"
groups = ["desk"]
[[rule]]
watchers = ["group:desk"]
may_see = ["group:field"]
location = true
[[rule]]
watchers = ["group:field"]
may_see = ["group:desk"]
EOF
cat > "$demo/tanaka.toml" <<EOF
authserv_id = "$MAILPRESENCE_AUTHSERV_ID"
account = "tanaka"
mail = "tanaka@example.test"
presence_server = "presence@example.test"
[imap]
host = "127.0.0.1"
port = $MAILPRESENCE_IMAP_PORT
tls = "starttls"
user = "tanaka@example.test"
password = "secret"
ca_file = "$MAILPRESENCE_MAIL_CA"
[smtp]
host = "127.0.0.1"
port = $MAILPRESENCE_SUBMISSION_PORT
tls = "starttls"
user = "tanaka@example.test"
password = "secret"
ca_file = "$MAILPRESENCE_MAIL_CA"
[location]
granularity = "district"
min_interval_secs = 0
EOF

say "Presence server: mail via Dovecot/Postfix (STARTTLS), SIP on 127.0.0.1:$sip_port"
RUST_LOG=info "$bin/mailpresence-server" --config "$demo/server.toml" > "$demo/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 100); do
  grep -q "presence server running" "$demo/server.log" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q "presence server running" "$demo/server.log" 2>/dev/null; then
  echo "demo: the presence server did not start; its log ($demo/server.log) ends:" >&2
  tail -n 15 "$demo/server.log" >&2
  exit 1
fi
sleep 0.5

say "Web board for desk staff: $board"
# yamada asks for a sign-in link, as on the board's sign-in page; the demo
# reads it from yamada's mailbox (Dovecot) and prints it.
python3 -c 'import sys, urllib.parse, urllib.request
urllib.request.urlopen(sys.argv[1] + "/login", urllib.parse.urlencode({"address": "yamada@example.test"}).encode(), timeout=10).read()' "$board"
link=$(python3 - "$MAILPRESENCE_IMAP_PORT" <<'PY'
import email, imaplib, re, sys, time
for _ in range(100):
    imap = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
    imap.login("yamada@example.test", "secret")
    imap.select("INBOX")
    _, found = imap.search(None, "ALL")
    for n in reversed(found[0].split()):
        _, data = imap.fetch(n, "(RFC822)")
        body = email.message_from_bytes(data[0][1]).get_payload(decode=True).decode("utf-8")
        m = re.search(r"http://\S+/login/[0-9a-f]{64}", body)
        if m:
            print(m.group(0)); sys.exit(0)
    imap.logout()
    time.sleep(0.1)
sys.exit(1)
PY
) || link=""
if [ -n "$link" ]; then
  echo "[board] open as yamada (desk) within 15 minutes: $link"
else
  echo "[board] no sign-in mail arrived; ask for one on $board/login" >&2
fi

say "Desk phone (yamada, SIP) watches the field worker; field worker (tanaka, mail) sets a status"
python3 scripts/desk_phone.py --server "127.0.0.1:$sip_port" --user yamada --domain example.test \
  --watch tanaka --publish-after 14 --duration 26 &
desk=$!
sleep 1
field() { echo "[field tanaka] $*"; }
"$bin/mailpresence" status set "on-site — 設備点検中" --config "$demo/tanaka.toml" >/dev/null && field "status: 現場作業中（設備点検中）"
sleep 1.5
"$bin/mailpresence" schedule add "15:00 帰社予定" --config "$demo/tanaka.toml" >/dev/null && field "plan: 15:00 帰社予定"
sleep 1.5

say "Field worker walks from 新橋 to 上野 through Tokyo's towns (a route between real places, not a recording: 798 fixes); the phone publishes only real changes"
"$bin/mailpresence" replay assets/tracks/tokyo-shimbashi-ueno-route.gpx --config "$demo/tanaka.toml" --pace-ms "${DEMO_PACE_MS:-8}" \
  | while read -r line; do
      case "$line" in
        *'"location"'*) field "published: $(echo "$line" | sed -E 's/.*"location":"([^"]*)".*/\1/')" ;;
        *'"fixes"'*) field "track done: $line" ;;
      esac
    done

say "Field worker asks for the desk colleague (after the desk's own PUBLISH)"
sleep 3
"$bin/mailpresence" lookup yamada --config "$demo/tanaka.toml" --timeout 20 \
  | python3 -c 'import json,sys
for l in sys.stdin:
    p = json.loads(l)
    print("[field tanaka] Notify mail: %s — %s" % (p["account"], p["summary"]))'
wait "$desk" || true

say "Summary"
"$bin/mailpresence-server" --config "$demo/server.toml" --status | python3 -c 'import json,sys
s = json.load(sys.stdin)
print("presence mails handled by the server: %d; presence records: %d; mails still queued: %d" % (s["mails_handled"], s["records"], s["outbox_depth"]))'
grep -E "WARN|ERROR" "$demo/server.log" | grep -v 'tls = "none"' | head -5 || true
if [ "${DEMO_HOLD_SECS:-0}" -gt 0 ]; then
  say "The board stays open for ${DEMO_HOLD_SECS} s: $board"
  sleep "$DEMO_HOLD_SECS"
fi
kill "$server_pid" && wait "$server_pid" 2>/dev/null || true
server_pid=""
echo "Shut down cleanly. Logs: $demo"
