#!/usr/bin/env bash
# Builds the core for Android devices (arm64-v8a, armeabi-v7a, x86_64) with
# cargo-ndk into android/app/src/main/jniLibs, generates the Kotlin bindings,
# and checks that every native library the app packs loads on devices with
# 16 KB memory pages (scripts/check-page-size.sh): the core's, linked for
# 16 KB pages, and JNA's libjnidispatch.so from the aar
# Gradle packs. Fails naming the library when one is not. Needs the Android
# NDK r28 or newer (ANDROID_NDK_HOME); not available on the CI machine, run it
# on a workstation.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${ANDROID_NDK_HOME:?set ANDROID_NDK_HOME to the Android NDK (r28 or newer)}"
abis=(arm64-v8a armeabi-v7a x86_64)   # as abiFilters in android/app/build.gradle.kts

ndk=$(sed -n 's/^Pkg.Revision *= *\([0-9]*\).*/\1/p' "$ANDROID_NDK_HOME/source.properties" 2>/dev/null || true)
if [ -z "$ndk" ] || [ "$ndk" -lt 28 ]; then
  echo "build-android: the NDK in $ANDROID_NDK_HOME is r${ndk:-?}; r28 or newer is needed (16 KB pages)" >&2
  exit 1
fi
# The check reads ELF headers: GNU readelf, or the NDK's own llvm-readelf.
if [ -z "${READELF:-}" ] && ! command -v readelf >/dev/null; then
  READELF=$(ls "$ANDROID_NDK_HOME"/toolchains/llvm/prebuilt/*/bin/llvm-readelf | head -1)
  export READELF
fi

command -v cargo-ndk >/dev/null || cargo install cargo-ndk --locked
# The core linked for 16 KB pages: NDK r28+ does it by default for the 64-bit
# ABIs only; the flag makes it explicit for every ABI the app packs (a
# RUSTFLAGS of your own would replace these; the check below would say so).
for triple in AARCH64_LINUX_ANDROID ARMV7_LINUX_ANDROIDEABI X86_64_LINUX_ANDROID; do
  var=CARGO_TARGET_${triple}_RUSTFLAGS
  export "$var=${!var:-} -C link-arg=-Wl,-z,max-page-size=16384"
done
rustup target add aarch64-linux-android armv7-linux-androideabi x86_64-linux-android
cargo ndk $(printf -- '-t %s ' "${abis[@]}") -o android/app/src/main/jniLibs build --release -p mailpresence-core
scripts/bindings.sh target/bindings

# What the app packs: the core for each ABI, and JNA's aar (the version the
# app depends on, from Gradle's cache or else Maven Central).
libs=()
for abi in "${abis[@]}"; do libs+=("android/app/src/main/jniLibs/$abi/libmailpresence_core.so"); done
jna=$(sed -n 's/.*"net\.java\.dev\.jna:jna:\([0-9.]*\)@aar".*/\1/p' android/app/build.gradle.kts | head -1)
[ -n "$jna" ] || { echo "build-android: no JNA aar dependency found in android/app/build.gradle.kts" >&2; exit 1; }
aar=$(find "${GRADLE_USER_HOME:-$HOME/.gradle}/caches/modules-2/files-2.1/net.java.dev.jna/jna/$jna" -name "jna-$jna.aar" 2>/dev/null | head -1 || true)
if [ -z "$aar" ]; then
  aar=target/android/jna-$jna.aar
  if [ ! -f "$aar" ]; then
    mkdir -p target/android
    url=https://repo1.maven.org/maven2/net/java/dev/jna/jna/$jna/jna-$jna.aar
    curl -fsSL -o "$aar.part" "$url"
    # Maven Central's checksum of the file, so a broken download is not checked as JNA.
    [ "$(curl -fsSL "$url.sha1" | cut -c1-40)" = "$(sha1sum "$aar.part" | cut -c1-40)" ] \
      || { rm -f "$aar.part"; echo "build-android: $url does not match its .sha1" >&2; exit 1; }
    mv "$aar.part" "$aar"
  fi
fi
echo "build-android: checking 16 KB page alignment of ${libs[*]} and $aar" >&2
if ! scripts/check-page-size.sh --abis "$(IFS=,; echo "${abis[*]}")" "${libs[@]}" "$aar"; then
  echo "build-android: a library above would not load on 16 KB-page devices (and Google Play refuses it)" >&2
  exit 1
fi
echo "build-android: now open android/ in Android Studio, or: cd android && gradle :app:assembleDebug" >&2
echo "build-android: then check the APK itself: scripts/check-page-size.sh android/app/build/outputs/apk/debug/app-debug.apk" >&2
