#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: formatting, lints, the
# Rust test suites (unit, golden mails, property tests, CLI), and the fuzz
# targets for a bounded time. Installs what is missing on the way.
#   scripts/test.sh                 (FUZZ_SECONDS=30 per target by default)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests"
cargo test --workspace --locked

step "fuzz (${FUZZ_SECONDS:-30}s per target)"
fuzz/run.sh "${FUZZ_SECONDS:-30}"
