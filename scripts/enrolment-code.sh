#!/usr/bin/env bash
# A fresh enrolment code for the apps' plain-layer tests, made by the real
# server binary (`mailpresence-server enroll`) for tanaka of a throw-away
# configuration in a temporary folder: Microsoft 365 sign-in, STARTTLS
# submission for phones. Prints the code (mailpresence:enrol/1/…).
#   scripts/enrolment-code.sh [SERVER_BINARY]
set -euo pipefail
cd "$(dirname "$0")/.."
server="${1:-${CARGO_TARGET_DIR:-$PWD/target}/debug/mailpresence-server}"
[ -x "$server" ] || { echo "enrolment-code: $server is missing: cargo build -p mailpresence-server first" >&2; exit 1; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cat >"$dir/server.toml" <<TOML
[server]
address = "presence@example.co.jp"
storage = "$dir/presence.db"
[imap]
host = "outlook.office365.com"
port = 993
tls = "implicit"
user = "presence@example.co.jp"
password = "unused"
[smtp]
host = "smtp.office365.com"
port = 587
tls = "starttls"
user = "presence@example.co.jp"
password = "unused"
[trust]
mode = "authentication-results"
authserv_id = "mx.example.co.jp"
[phones]
sign_in = { provider = "microsoft", tenant = "example.co.jp", client_id = "9b1c2f4e-5a6d-4e7f-8a9b-0c1d2e3f4a5b" }

[[person]]
account = "tanaka"
name = "田中 太郎"
mail = "tanaka@example.co.jp"
groups = ["field"]
TOML
"$server" --config "$dir/server.toml" enroll tanaka --link-only
