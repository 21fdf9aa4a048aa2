#!/usr/bin/env bash
# A real presence server (the mailpresence-server binary) for the apps'
# plain-layer tests, on the mail servers scripts/mail-servers.sh started
# (their MAILPRESENCE_* variables), or on its own ones in DIR/mail when none
# run (then `stop` stops them too): a small office — 田中 (tanaka,
# field), 山田 and 鈴木 (desk, 営業一課 with extensions), 佐藤 (field) — whose
# staff may see everyone, where they are too. It reads its mailbox over STARTTLS IMAP,
# sends through submission (so its mail is DKIM-signed and phones can prove
# it), and believes the test MTA's Authentication-Results.
#   scripts/presence-server.sh start DIR   prints the variables the tests read
#                                          (with the mail servers' when it started them)
#   scripts/presence-server.sh stop DIR    stops it by its pid
# With MAILPRESENCE_WEB_PORT set it also serves the board there (the desk
# staff are its administrators).
set -euo pipefail
cd "$(dirname "$0")/.."
action="${1:?usage: $0 start|stop DIR}"
dir="${2:?usage: $0 start|stop DIR}"

stop() {
  if [ -f "$dir/server.pid" ]; then
    pid=$(cat "$dir/server.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$dir/server.pid"
  fi
  [ ! -f "$dir/mail/ports.env" ] || scripts/mail-servers.sh stop "$dir/mail" >/dev/null
}

case "$action" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac

server="${CARGO_TARGET_DIR:-$PWD/target}/debug/mailpresence-server"
[ -x "$server" ] || { echo "presence-server: $server is missing: cargo build -p mailpresence-server first" >&2; exit 1; }
stop
mkdir -p "$dir"
mail_env=""
if [ -z "${MAILPRESENCE_IMAP_PORT:-}" ]; then
  mail_env=$(scripts/mail-servers.sh start "$dir/mail") || { echo "presence-server: the mail servers did not start" >&2; exit 1; }
  eval "$mail_env"
fi
domain="$MAILPRESENCE_MAIL_DOMAIN"
# One presence address per start: a leftover mailbox of an earlier run is never read.
presence="presence.$(date +%s%N | tail -c 9)@$domain"
cat >"$dir/server.toml" <<TOML
[server]
address = "$presence"
storage = "$dir/presence.db"
language = "ja"

[imap]
host = "127.0.0.1"
port = $MAILPRESENCE_IMAP_PORT
tls = "starttls"
user = "$presence"
password = "secret"
ca_file = "$MAILPRESENCE_MAIL_CA"
idle_timeout_secs = 60
command_timeout_secs = 5

[smtp]
host = "127.0.0.1"
port = $MAILPRESENCE_SUBMISSION_PORT
tls = "starttls"
user = "$presence"
password = "secret"
ca_file = "$MAILPRESENCE_MAIL_CA"
max_per_second = 200
command_timeout_secs = 5

[trust]
mode = "authentication-results"
authserv_id = "$MAILPRESENCE_AUTHSERV_ID"

[presence]
notify_interval_secs = 1

[[person]]
account = "tanaka"
name = "田中 太郎"
reading = "たなか たろう"
department = "保守課"
mail = "tanaka@$domain"
groups = ["field"]

[[person]]
account = "yamada"
name = "山田 花子"
reading = "やまだ はなこ"
department = "営業一課"
extension = "2301"
mail = "yamada@$domain"
groups = ["desk"]

[[person]]
account = "suzuki"
name = "鈴木 一郎"
reading = "すずき いちろう"
department = "営業一課"
extension = "2302"
mail = "suzuki@$domain"
groups = ["desk"]

[[person]]
account = "sato"
name = "佐藤 次郎"
reading = "さとう じろう"
department = "保守課"
mail = "sato@$domain"
groups = ["field"]

[[rule]]
watchers = ["group:field"]
may_see = ["*"]
location = true

[[rule]]
watchers = ["group:desk"]
may_see = ["*"]
location = true
TOML
if [ -n "${MAILPRESENCE_WEB_PORT:-}" ]; then
  cat >>"$dir/server.toml" <<TOML

[web]
listen = "127.0.0.1:$MAILPRESENCE_WEB_PORT"
public_url = "http://127.0.0.1:$MAILPRESENCE_WEB_PORT"
admins = ["group:desk"]
departments = { desk = "営業一課", field = "保守課" }
map_pack = "$PWD/assets/mappack.bin"
TOML
fi
"$server" --check-config "$dir/server.toml" >"$dir/check.log" 2>&1 || { cat "$dir/check.log" >&2; exit 1; }
RUST_LOG=info "$server" --config "$dir/server.toml" >"$dir/server.log" 2>&1 &
echo $! >"$dir/server.pid"
# Ready when its mailbox is open: the log says so.
for _ in $(seq 100); do
  grep -q "IMAP connected" "$dir/server.log" 2>/dev/null && break
  kill -0 "$(cat "$dir/server.pid")" 2>/dev/null || { echo "presence-server: it stopped:" >&2; cat "$dir/server.log" >&2; exit 1; }
  sleep 0.1
done
printf '%s\n' "$mail_env"
cat <<EOF
export MAILPRESENCE_PRESENCE_ADDRESS=$presence
export MAILPRESENCE_PRESENCE_LOG=$dir/server.log
EOF
