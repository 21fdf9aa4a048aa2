#!/usr/bin/env python3
"""Writes assets/tracks/tokyo-shimbashi-ueno-route.gpx: a walk along the JR
Yamanote line from 新橋 to 上野 through 有楽町, 東京, 神田, 秋葉原 and 御徒町.

It is a ROUTE BETWEEN REAL PLACES, NOT A RECORDING: the registries hold no
recorded GPS track through Japanese towns long enough for the demo. The
stations' coordinates come from ekidata.jp as shipped in PyPI
`django-jp-stations` 0.1 (MIT); between them the walker goes in a straight
line at 1.4 m/s with a fix every 5 s, and each fix gets a few metres of
GPS-like noise from a fixed seed (so that a boundary is not crossed once,
cleanly, as no real receiver does). HDOP 1.0 (5 m) on every fix.

Usage: scripts/make-route-track.py [OUT]
"""
import json, math, os, random, subprocess, sys, tarfile, tempfile
from datetime import datetime, timedelta, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STOPS = ["新橋", "有楽町", "東京", "神田", "秋葉原", "御徒町", "上野"]
YAMANOTE = 11302  # ekidata line code
SPEED_MPS, EVERY_S, NOISE_M = 1.4, 5, 4.0
START = datetime(2026, 11, 27, 1, 0, 0, tzinfo=timezone.utc)  # 10:00 JST


def stations():
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:",
                        "--dest", tmp, "django-jp-stations==0.1"], check=True)
        archive = next(os.path.join(tmp, f) for f in os.listdir(tmp) if f.endswith(".tar.gz"))
        with tarfile.open(archive) as t:
            member = next(m for m in t.getmembers() if m.name.endswith("fixtures/stations.json"))
            rows = json.load(t.extractfile(member))
    at = {r["station_name"]: (r["lat"], r["lon"]) for r in rows if r["line_cd"] == YAMANOTE}
    return [(name, at[name]) for name in STOPS]


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "assets/tracks/tokyo-shimbashi-ueno-route.gpx")
    rng = random.Random(11)
    stops = stations()
    m_per_deg_lat = 111_320.0
    points, t = [], START
    for (_, (la1, lo1)), (_, (la2, lo2)) in zip(stops, stops[1:]):
        k = math.cos(math.radians((la1 + la2) / 2))
        length = math.hypot((la2 - la1) * m_per_deg_lat, (lo2 - lo1) * m_per_deg_lat * k)
        steps = max(1, round(length / (SPEED_MPS * EVERY_S)))
        for i in range(steps):
            f = i / steps
            la = la1 + (la2 - la1) * f + rng.gauss(0, NOISE_M) / m_per_deg_lat
            lo = lo1 + (lo2 - lo1) * f + rng.gauss(0, NOISE_M) / (m_per_deg_lat * k)
            points.append((la, lo, t))
            t += timedelta(seconds=EVERY_S)
    la, lo = stops[-1][1]
    points.append((la, lo, t))
    with open(out, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n')
        f.write('<gpx version="1.1" creator="MailPresence scripts/make-route-track.py" xmlns="http://www.topografix.com/GPX/1/1">\n')
        f.write("  <metadata><desc>A route between real places, not a recording: a walk along the JR Yamanote line "
                + " → ".join(n for n, _ in stops)
                + " (station coordinates from ekidata.jp via PyPI django-jp-stations 0.1), straight between stations, "
                "1.4 m/s, a fix every 5 s, about 4 m of noise from a fixed seed.</desc></metadata>\n")
        f.write("  <trk><name>新橋 → 上野 (route, not recorded)</name><trkseg>\n")
        for la, lo, tt in points:
            f.write(f'    <trkpt lat="{la:.6f}" lon="{lo:.6f}"><time>{tt.strftime("%Y-%m-%dT%H:%M:%SZ")}</time><hdop>1.0</hdop></trkpt>\n')
        f.write("  </trkseg></trk>\n</gpx>\n")
    print(f"{out}: {len(points)} fixes", file=sys.stderr)


if __name__ == "__main__":
    main()
