#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: formatting, lints, the
# Rust test suites (unit, golden mails, property tests, CLI, engine, and the
# end-to-end tests against real Dovecot and Postfix), and the fuzz targets for
# a bounded time. Installs and starts what is missing on the way, and stops
# the mail servers it started when done.
#   scripts/test.sh                 (FUZZ_SECONDS=30 per target by default)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "packages (Dovecot, Postfix, SIPp, slapd, PostgreSQL)"
scripts/install-deps.sh

# What only downloads and unpacks (the package test's Debian 12 base, the
# Swift chroot, kotlinc) goes on in the background while the workspace
# builds; each suite waits for its own before it runs. A failed preparation
# is tried again, and reported, by the suite itself.
prep_dir=$(mktemp -d)
declare -A prep
for suite in package kotlin swift; do
  scripts/test-$suite.sh --prepare >"$prep_dir/$suite.log" 2>&1 &
  prep[$suite]=$!
done
ready() {
  wait "${prep[$1]}" || { echo "test: preparing the $1 suite failed (it tries again):" >&2; cat "$prep_dir/$1.log" >&2; }
}

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings
# The optional online geocoders (not in the apps' default build) must still compile.
cargo clippy -p mailpresence-core --features online --locked -- -D warnings
# The server is built on the shared protocol crate alone: no phone, no UniFFI.
if cargo tree -p mailpresence-server -e normal --locked --prefix none | grep -E "^(mailpresence-core|uniffi|geo) "; then
  echo "test: mailpresence-server depends on the phone's stack (above)" >&2
  exit 1
fi

step "mail servers (OpenDKIM, Dovecot, Postfix)"
# One folder per checkout: a start stops what a crashed earlier run of this
# checkout left there, and nothing of another checkout's. The servers take
# free ports (or the MAILPRESENCE_*_PORT given) and are stopped by their own
# process ids, so two checkouts can run their tests side by side.
export MAILPRESENCE_MAIL_DIR="${MAILPRESENCE_MAIL_DIR:-/tmp/mailpresence-mail-$(pwd | cksum | cut -d' ' -f1)}"
export MAILPRESENCE_LDAP_DIR="${MAILPRESENCE_MAIL_DIR}-ldap"
export MAILPRESENCE_POSTGRES_DIR="${MAILPRESENCE_MAIL_DIR}-postgres"
trap 'scripts/mail-servers.sh stop "$MAILPRESENCE_MAIL_DIR" || true; scripts/ldap-server.sh stop "$MAILPRESENCE_LDAP_DIR" || true; scripts/postgres-server.sh stop "$MAILPRESENCE_POSTGRES_DIR" || true' EXIT
# Captured first: `eval "$(…)"` alone would swallow a failed start and the run
# would go on to fail minutes later for want of the servers.
if ! mail_env=$(scripts/mail-servers.sh start "$MAILPRESENCE_MAIL_DIR"); then
  echo "test: the mail servers did not start (see above); stopping" >&2
  exit 1
fi
eval "$mail_env"

step "directory (OpenLDAP slapd)"
if ! ldap_env=$(scripts/ldap-server.sh start "$MAILPRESENCE_LDAP_DIR"); then
  echo "test: slapd did not start (see above); stopping" >&2
  exit 1
fi
eval "$ldap_env"

step "database (PostgreSQL: the store's tests run on it as on SQLite)"
if ! postgres_env=$(scripts/postgres-server.sh start "$MAILPRESENCE_POSTGRES_DIR"); then
  echo "test: PostgreSQL did not start (see above); stopping" >&2
  exit 1
fi
eval "$postgres_env"

step "tests"
cargo build --workspace --bins --locked
cargo test --workspace --locked

step "package: the Debian package installed into a fresh Debian 12 chroot, its unit checked, started as its user"
ready package
scripts/test-package.sh

step "Android: the 16 KB page check build-android.sh runs on the libraries the app packs"
scripts/test-page-size.sh

step "Kotlin: the Android app's plain layer on the JVM, against the core library"
ready kotlin
scripts/test-kotlin.sh

step "Swift: the iOS app's plain layer with swift test (Debian trixie chroot), against the core library"
ready swift
scripts/test-swift.sh

step "fuzz (${FUZZ_SECONDS:-30}s per target)"
fuzz/run.sh "${FUZZ_SECONDS:-30}"
