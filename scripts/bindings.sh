#!/usr/bin/env bash
# Builds the phone core for this machine and generates its Kotlin and Swift
# bindings in library mode with the in-workspace uniffi-bindgen (settings:
# uniffi.toml). The library carries two crates' exports, so there are two
# files per language: mailpresence_core (the client) and mailpresence_protocol
# (the shared types it hands out). For Swift a module map puts both FFI headers
# in one C module, MailPresenceFFI. The generated files are outputs, never
# edited by hand.
#   scripts/bindings.sh [OUT_DIR]      (default target/bindings)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/bindings}"
cargo build --quiet -p mailpresence-core -p uniffi-bindgen
target_dir="${CARGO_TARGET_DIR:-target}"
lib="$target_dir/debug/libmailpresence_core.so"
for language in kotlin swift; do
  rm -rf "$out/$language"
  "$target_dir/debug/uniffi-bindgen" generate --no-format --library "$lib" --language "$language" \
    --config uniffi.toml --out-dir "$out/$language"
done
# uniffi writes one module map per crate, both for MailPresenceFFI; one instead.
rm -f "$out"/swift/*.modulemap
{
  echo "module MailPresenceFFI {"
  for h in "$out"/swift/*.h; do echo "    header \"$(basename "$h")\""; done
  echo "    export *"
  echo "}"
} > "$out/swift/module.modulemap"
echo "bindings: $out/kotlin (packages org.mailpresence, org.mailpresence.protocol), $out/swift (module MailPresence, C module MailPresenceFFI); library $lib" >&2
