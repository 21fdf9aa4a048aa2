#!/usr/bin/env bash
# Builds the core for this machine and generates its Kotlin and Swift bindings
# in library mode with the in-workspace uniffi-bindgen (settings: uniffi.toml).
# The generated files are outputs, never edited by hand.
#   scripts/bindings.sh [OUT_DIR]      (default target/bindings)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bindings}"
cargo build --quiet -p mailpresence-core -p uniffi-bindgen
lib=target/debug/libmailpresence_core.so
for language in kotlin swift; do
  rm -rf "$out/$language"
  target/debug/uniffi-bindgen generate --no-format --library "$lib" --language "$language" \
    --config uniffi.toml --out-dir "$out/$language"
done
echo "bindings: $out/kotlin (package org.mailpresence), $out/swift (module MailPresence); library $lib" >&2
