#!/usr/bin/env bash
# What the phone carries: the core library built for release and stripped
# (cdylib for Android and the JVM, staticlib before iOS links it), on this
# machine (x86_64 Linux; ARM builds are of the same order), and the map pack.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --release -p mailpresence-core
so=target/release/libmailpresence_core.so
a=target/release/libmailpresence_core.a
cp "$so" /tmp/libmailpresence_core.stripped.so && strip /tmp/libmailpresence_core.stripped.so
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
echo "| core library, release | size |"
echo "|---|---|"
echo "| libmailpresence_core.so (cdylib, stripped) | $(mb /tmp/libmailpresence_core.stripped.so) |"
echo "| libmailpresence_core.a (staticlib, before linking and dead-code removal) | $(mb "$a") |"
echo "| assets/mappack.bin (map data) | $(mb assets/mappack.bin) |"
