#!/usr/bin/env bash
# Builds the core for Android devices (arm64-v8a, armeabi-v7a, x86_64) with
# cargo-ndk into android/app/src/main/jniLibs, generates the Kotlin bindings,
# and copies the map pack into the app's assets. Needs the Android NDK
# (ANDROID_NDK_HOME); not available on the CI machine, run it on a workstation.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the Android NDK (r26 or newer)}"
command -v cargo-ndk >/dev/null || cargo install cargo-ndk --locked
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
cargo ndk -t arm64-v8a -t armeabi-v7a -t x86_64 -o android/app/src/main/jniLibs build --release -p mailpresence-core
scripts/bindings.sh target/bindings
echo "build-android: now open android/ in Android Studio, or: cd android && gradle :app:assembleDebug" >&2
