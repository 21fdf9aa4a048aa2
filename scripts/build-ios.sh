#!/usr/bin/env bash
# Builds the core for iOS devices and simulators into
# ios/MailPresenceKit/MailPresenceFFI.xcframework (the package's binary target,
# named like the C module it defines), generates the Swift bindings into the
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
mkdir -p ios/build/headers ios/MailPresenceKit/Sources/MailPresence
# Two crates' exports: both headers in one C module, both Swift files in one module.
cp ios/build/bindings/*.h ios/build/headers/
{
  echo "module MailPresenceFFI {"
  for h in ios/build/bindings/*.h; do echo "    header \"$(basename "$h")\""; done
  echo "    export *"
  echo "}"
} > ios/build/headers/module.modulemap
cp ios/build/bindings/*.swift ios/MailPresenceKit/Sources/MailPresence/
# The headers and module map go only into the XCFramework: a second copy in
# Sources/MailPresenceFFI (the Linux tests' module) would define it twice.
rm -rf ios/MailPresenceKit/Sources/MailPresenceFFI ios/MailPresenceKit/MailPresenceFFI.xcframework
xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/release/libmailpresence_core.a -headers ios/build/headers \
  -library ios/build/sim/libmailpresence_core.a -headers ios/build/headers \
  -output ios/MailPresenceKit/MailPresenceFFI.xcframework
cp assets/mappack.bin ios/MailPresenceApp/Resources/
echo "build-ios: now cd ios/MailPresenceApp && xcodegen generate" >&2
