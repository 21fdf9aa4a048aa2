#!/usr/bin/env bash
# Builds the core for iOS devices and simulators into
# ios/build/MailPresenceCore.xcframework, generates the Swift bindings into the
# Swift package, and copies the map pack into the app's resources. Needs macOS
# with Xcode; not available on the CI machine, run it on a workstation. Then:
#   cd ios/MailPresenceApp && xcodegen generate && open MailPresence.xcodeproj
set -euo pipefail
cd "$(dirname "$0")/.."
rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios
for t in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
  cargo build --release -p mailpresence-core --target "$t"
done
mkdir -p ios/build/sim
lipo -create target/aarch64-apple-ios-sim/release/libmailpresence_core.a target/x86_64-apple-ios/release/libmailpresence_core.a \
  -output ios/build/sim/libmailpresence_core.a
cargo run -q -p uniffi-bindgen -- generate --no-format --library target/aarch64-apple-ios/release/libmailpresence_core.a \
  --language swift --config uniffi.toml --out-dir ios/build/bindings
mkdir -p ios/build/headers ios/MailPresenceKit/Sources/MailPresence ios/MailPresenceKit/Sources/MailPresenceFFI
cp ios/build/bindings/MailPresenceFFI.h ios/build/headers/
printf 'module MailPresenceFFI {\n    header "MailPresenceFFI.h"\n    export *\n}\n' > ios/build/headers/module.modulemap
cp ios/build/bindings/MailPresence.swift ios/MailPresenceKit/Sources/MailPresence/
cp ios/build/headers/* ios/MailPresenceKit/Sources/MailPresenceFFI/
rm -rf ios/build/MailPresenceCore.xcframework
xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/release/libmailpresence_core.a -headers ios/build/headers \
  -library ios/build/sim/libmailpresence_core.a -headers ios/build/headers \
  -output ios/build/MailPresenceCore.xcframework
cp assets/mappack.bin ios/MailPresenceApp/Resources/
echo "build-ios: now cd ios/MailPresenceApp && xcodegen generate" >&2
