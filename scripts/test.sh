#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: formatting, lints, the
# Rust test suites (unit, golden mails, property tests, CLI, engine, and the
# end-to-end tests against real Dovecot and Postfix), and the fuzz targets for
# a bounded time. Installs and starts what is missing on the way, and stops
# the mail servers it started when done.
#   scripts/test.sh                 (FUZZ_SECONDS=30 per target by default)
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step says when it starts, and the run ends with where the time went,
# so a slow step is seen without a profiler.
step_name="" step_start=$SECONDS timings=""
step() {
  [[ -n $step_name ]] && timings+=$(printf '%5ds  %s' $((SECONDS - step_start)) "$step_name")$'\n'
  step_name="$*" step_start=$SECONDS
  printf '\n== %s (at %dm%02ds)\n' "$*" $((SECONDS / 60)) $((SECONDS % 60))
}

# A clean run writes about 8 GB of build (7.4 GB measured at 2026-12-07)
# and a few GB of chroots and packages; a full disk shows up later as a
# linker's bus error, so say it plainly up front.
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
mkdir -p "$target_dir"
free_gb=$(df -P --block-size=1G "$target_dir" | awk 'NR==2 {print $4}')
if (( free_gb < 15 )); then
  echo "test: only ${free_gb} GB free under $target_dir; a clean run needs about 15 GB" >&2
fi

# What only downloads and unpacks goes on in the background: first the Debian
# packages (Dovecot, Postfix, SIPp, slapd, PostgreSQL, debootstrap, …), while format and the
# workspace's lints run, which need none of them; then the package test's
# Debian 12 base, the Swift chroot and kotlinc, while the workspace builds.
# Each suite waits for its own before it runs. A failed preparation is tried
# again, and reported, by the suite itself.
prep_dir=$(mktemp -d)
declare -A prep
scripts/install-deps.sh >"$prep_dir/deps.log" 2>&1 &
prep[deps]=$!
deps_pid=${prep[deps]}
for suite in package kotlin swift; do
  (while kill -0 "$deps_pid" 2>/dev/null; do sleep 1; done
   exec scripts/test-$suite.sh --prepare) >"$prep_dir/$suite.log" 2>&1 &
  prep[$suite]=$!
done
ready() {
  wait "${prep[$1]}" || { echo "test: preparing the $1 suite failed (it tries again):" >&2; cat "$prep_dir/$1.log" >&2; }
}

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "packages (Dovecot, Postfix, SIPp, …): the install begun at the start"
wait "${prep[deps]}" || { cat "$prep_dir/deps.log" >&2; echo "test: installing the packages failed" >&2; exit 1; }
cat "$prep_dir/deps.log"
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
# The machine image has cargo-nextest; elsewhere it is built once.
cargo nextest --version >/dev/null 2>&1 || cargo install cargo-nextest --locked --quiet
cargo build --workspace --bins --locked
# nextest runs the test binaries side by side: the e2e tests mostly wait on
# mail and SIP, and those that stop or freeze mail servers use their own.
cargo nextest run --workspace --locked --no-run
# The fuzz targets' sanitizer build (and cargo-fuzz on a new machine) uses the
# cores the e2e tests leave idle while they wait; at the lowest priority.
nice -n 19 fuzz/run.sh --build >"$prep_dir/fuzz.log" 2>&1 &
prep[fuzz]=$!
cargo nextest run --workspace --locked --no-fail-fast --test-threads 4
cargo test --workspace --locked --doc

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
ready fuzz
fuzz/run.sh "${FUZZ_SECONDS:-30}"

step "done"
printf 'test: every suite passed in %dm%02ds; by step:\n%s' $((SECONDS / 60)) $((SECONDS % 60)) "$timings"
