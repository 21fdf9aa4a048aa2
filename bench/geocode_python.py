#!/usr/bin/env python3
"""Reference for the geocoding benchmark: Python's reverse_geocoder (GeoNames
cities, scipy k-d tree, nearest place only) on bench/points.csv. Prints load
time, lookups per second (batch, single process) and peak memory, min/median/max
over RUNS runs, each in a fresh process."""
import json, os, resource, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))

def one_run():
    code = r'''
import json, resource, sys, time
pts = [tuple(map(float, l.split(","))) for l in open(sys.argv[1])]
t0 = time.perf_counter()
import reverse_geocoder as rg
g = rg.RGeocoder(mode=1, verbose=False)
t1 = time.perf_counter()
g.query(pts)
t2 = time.perf_counter()
print(json.dumps({"load_s": t1 - t0, "per_s": len(pts) / (t2 - t1), "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''
    out = subprocess.run([sys.executable, "-c", code, os.path.join(HERE, "points.csv")], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])

def main():
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rs = [one_run() for _ in range(runs)]
    for key in ("load_s", "per_s", "rss_mb"):
        v = [r[key] for r in rs]
        print("python %s min %.3f median %.3f max %.3f" % (key, min(v), statistics.median(v), max(v)))

if __name__ == "__main__":
    main()
