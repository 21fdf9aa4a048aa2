#!/usr/bin/env python3
"""How often the geocoder names the right municipality (with the ward of a
designated city) and the right town (大字・町丁目) for real addresses of
buildings inside towns, from a source independent of the map pack's data.

The addresses: GSI's 指定避難所 list (国土地理院「指定緊急避難場所・指定避難所
データ」, mergeFromCity_1: every designated shelter in Japan that the
municipalities report, mostly schools, community halls and gyms; each with its
postal address and the coordinates the municipality gave; terms: 国土地理院
コンテンツ利用規約, reuse with credit, compatible with CC BY 4.0). Read from
either GSI's own CSV (mergeFromCity_1.csv) or the copy split per municipality
in the public GitHub repository motohasystem/jp-shelter-api
(docs/api/v0/evacuation/*.json, GSI data of 2025-10-27).

Which rows count: an address that begins with a prefecture (the municipality
name is put before it where the list leaves it out), each address once, and
no coordinates that several different addresses share (a municipality that
put its shelters on a town's or its own office's point has not located them).

Judging is the stations' (bench/geocode_accuracy.py): the municipality is
right when the address, after its prefecture, begins with ours (a county
before a town allowed); the town when what follows begins with our town name
with the same 丁目 number; an address that names no town (only a lot number)
counts for the municipality only.

Usage: bench/shelter_accuracy.py SOURCE [BINARY] — SOURCE is the folder of
per-municipality GeoJSON files or mergeFromCity_1.csv. With GEOCODE_CMD set
(e.g. "target/release/examples/geocode_pack PACK --points-only"), that
command reads the points instead of `BINARY geocode`. Prints Markdown;
SHOW_MISSES=N lists N misses of each kind, MISSES_TO=FILE writes them all.
"""
import collections, csv, glob, json, os, shlex, subprocess, sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from geocode_accuracy import PREFECTURE, ROOT, judge, normal  # noqa: E402


def read_rows(source):
    """(place, address, lat, lon) as the list gives them."""
    if os.path.isdir(source):
        for path in sorted(glob.glob(os.path.join(source, "*.json"))):
            with open(path, encoding="utf-8") as f:
                for feature in json.load(f).get("features", []):
                    p = feature.get("properties") or {}
                    lon, lat = (feature.get("geometry") or {}).get("coordinates") or (None, None)
                    yield p.get("都道府県名及び市町村名") or "", p.get("住所") or "", lat, lon
    else:
        with open(source, encoding="utf-8-sig", errors="replace") as f:
            for r in csv.DictReader(f):
                yield r.get("都道府県名及び市町村名") or "", r.get("住所") or "", r.get("緯度"), r.get("経度")


def with_prefecture(address, place):
    """The address as written, with the list's prefecture (and municipality,
    where the address starts after it) before it when it has none."""
    pref = PREFECTURE.match(place)
    if PREFECTURE.match(address) or not pref:
        return address
    municipality = place[len(pref.group(1)):]
    return pref.group(1) + (address if address.startswith(municipality) else municipality + address)


def shelters(source):
    """The rows that count, in a fixed order, and how many were left out why."""
    dropped = collections.Counter()
    by_address = {}
    for place, address, lat, lon in read_rows(source):
        try:
            lat, lon = float(lat), float(lon)
        except (TypeError, ValueError):
            dropped["no coordinates"] += 1
            continue
        if not (20 < lat < 46 and 122 < lon < 154):
            dropped["coordinates outside Japan"] += 1
            continue
        address = with_prefecture(normal(address), normal(place))
        if not PREFECTURE.match(address) or len(PREFECTURE.sub("", address)) < 3:
            dropped["no address"] += 1
            continue
        if address in by_address:
            dropped["same address again"] += 1
            continue
        by_address[address] = (round(lat, 5), round(lon, 5))
    addresses_at = collections.Counter(by_address.values())
    out = []
    for address, (lat, lon) in sorted(by_address.items()):
        if addresses_at[(lat, lon)] > 1:
            dropped["point shared by other addresses"] += 1
            continue
        out.append((address, lat, lon))
    return out, dropped


def geocode(points, binary):
    text = "".join(f"{lat},{lon}\n" for _, lat, lon in points)
    cmd = shlex.split(os.environ["GEOCODE_CMD"]) if os.environ.get("GEOCODE_CMD") else [binary, "geocode"]
    run = subprocess.run(cmd, input=text.encode(), capture_output=True, check=False)
    answers = [json.loads(l) for l in run.stdout.decode().splitlines()]
    if len(answers) != len(points):
        sys.exit(f"{len(answers)} answers for {len(points)} points: {run.stderr.decode()[:500]}")
    return answers


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    source = sys.argv[1]
    binary = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "target/release/mailpresence")
    points, dropped = shelters(source)
    answers = geocode(points, binary)
    muni_ok = town_n = town_ok = 0
    per_pref = collections.defaultdict(lambda: [0, 0])
    misses = collections.defaultdict(list)
    for (address, lat, lon), answer in zip(points, answers):
        m, t = judge(address, answer)
        muni_ok += m
        if t is not None:
            town_n += 1
            town_ok += t
            pref = per_pref[PREFECTURE.match(address).group(1)]
            pref[0] += 1
            pref[1] += t
        if not m or t is False:
            misses["municipality" if not m else "town"].append(f"{address} ({lat},{lon}) → {answer.get('display')}")
    n = len(points)
    left = ", ".join(f"{why}: {k:,}" for why, k in sorted(dropped.items()))
    print(f"GSI 指定避難所, {n:,} addresses in {len(per_pref)} prefectures (left out: {left})\n")
    print("| GSI designated shelters | right | of | share |")
    print("|---|---|---|---|")
    print(f"| municipality, with the ward of a designated city | {muni_ok:,} | {n:,} | {100 * muni_ok / n:.1f} % |")
    print(f"| town (大字・町丁目), where the address names one | {town_ok:,} | {town_n:,} | {100 * town_ok / town_n:.1f} % |")
    worst = sorted(per_pref.items(), key=lambda kv: kv[1][1] / kv[1][0])[:5]
    print("\nTown, lowest prefectures: " + ", ".join(f"{p} {100 * ok / k:.0f} % of {k:,}" for p, (k, ok) in worst))
    if os.environ.get("MISSES_TO"):
        with open(os.environ["MISSES_TO"], "w", encoding="utf-8") as f:
            for kind in ("municipality", "town"):
                f.writelines(f"{kind}\t{line}\n" for line in misses[kind])
    show = int(os.environ.get("SHOW_MISSES", "8"))
    for kind in ("municipality", "town"):
        print(f"\nSome wrong answers for the {kind} (address → ours):\n")
        for line in misses[kind][:: max(1, len(misses[kind]) // max(show, 1))][:show]:
            print(f"- {line}")


if __name__ == "__main__":
    main()
