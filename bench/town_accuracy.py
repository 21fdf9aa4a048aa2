#!/usr/bin/env python3
"""How often each e-Stat census small area's own point inside it comes out as
the town the map pack names for that area, with the town areas and with the
town points alone (as before them).

The points: e-Stat's representative point of each small area (X_CODE,
Y_CODE in the 2020 census boundary tiles), written with the address the pack
gives that area by `mappack --samples FILE`. This is not an independent
source: it checks that the lookup (simplified boundaries, the grid, the
fallbacks) finds the area the builder named, and how often the nearest town
point would have named the same town.

Usage: bench/town_accuracy.py SAMPLES.csv GEOCODE_PACK PACK — prints Markdown.
GEOCODE_PACK is target/release/examples/geocode_pack (cargo build --release
-p mailpresence-core --example geocode_pack).
"""
import csv, json, subprocess, sys


def run(binary, pack, rows, points_only):
    text = "".join(f"{r['lat']},{r['lon']}\n" for r in rows)
    cmd = [binary, pack] + (["--points-only"] if points_only else [])
    out = subprocess.run(cmd, input=text.encode(), capture_output=True, check=True).stdout.decode()
    answers = [json.loads(l) for l in out.splitlines()]
    if len(answers) != len(rows):
        sys.exit(f"{len(answers)} answers for {len(rows)} points")
    town = muni = 0
    for r, a in zip(rows, answers):
        display = a.get("display") or ""
        town += display == r["address"]
        place = (a.get("region") or "") + (a.get("city") or "")
        muni += bool(place) and r["address"].startswith(place) and len(r["address"]) > len(place)
    return town, muni


def main():
    samples, binary, pack = sys.argv[1:4]
    with open(samples, encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    n = len(rows)
    print(f"| e-Stat small areas, their own point inside ({n:,}) | town points only | town areas |")
    print("|---|---|---|")
    res = {p: run(binary, pack, rows, p) for p in (True, False)}
    print(f"| town (大字・町丁目) | {res[True][0]:,}: {100 * res[True][0] / n:.1f} % | {res[False][0]:,}: {100 * res[False][0] / n:.1f} % |")
    print(f"| municipality, with the ward of a designated city | {res[True][1]:,}: {100 * res[True][1] / n:.1f} % | {res[False][1]:,}: {100 * res[False][1] / n:.1f} % |")


if __name__ == "__main__":
    main()
