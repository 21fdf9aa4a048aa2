#!/usr/bin/env bash
# Reverse geocoding: ours (the map pack, Criterion) beside Python's
# reverse_geocoder on the same 10,000 points (bench/points.csv); then the
# Publish mails each track causes, and how often Japanese addresses come out
# right (bench/geocode_accuracy.py). Prints Markdown for BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -c "import reverse_geocoder" 2>/dev/null || pip install --quiet reverse_geocoder
crit=$(cargo bench -q -p mailpresence-core --bench geocode -- --noplot 2>/dev/null)
load=$(echo "$crit" | grep -A1 "geocode/load_pack" | grep "time:" | sed 's/.*\[//; s/\]//')
rate=$(echo "$crit" | grep -A2 "geocode/reverse_10k_points" | grep "thrpt:" | sed 's/.*\[//; s/\]//')
cargo build -q --release -p mailpresence-cli
rss=$(python3 -c "
import resource, subprocess
subprocess.run(['target/release/mailpresence', 'geocode'], stdin=open('bench/points.csv'), stdout=subprocess.DEVNULL, check=True)
print('%.1f' % (resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024))")
py=$(python3 bench/geocode_python.py 5)
pick() { echo "$py" | grep "python $1" | sed -E 's/.* min ([0-9.]+) median ([0-9.]+) max ([0-9.]+)/\1 \2 \3/'; }
read -r pl_min pl_med pl_max <<<"$(pick load_s)"
read -r pr_min pr_med pr_max <<<"$(pick per_s)"
read -r pm_min pm_med pm_max <<<"$(pick rss_mb)"
echo "| reverse geocoding, 10,000 points | ours (map pack) | Python reverse_geocoder |"
echo "|---|---|---|"
echo "| load | $load (Criterion low/estimate/high) | $(awk "BEGIN{printf \"%.0f / %.0f / %.0f ms\", $pl_min*1000, $pl_med*1000, $pl_max*1000}") (min/median/max of 5, incl. numpy/scipy import) |"
echo "| lookups per second | $rate | $(awk "BEGIN{printf \"%.0f / %.0f / %.0f Kelem/s\", $pr_min/1000, $pr_med/1000, $pr_max/1000}") (batch query, one process) |"
echo "| peak memory | $rss MB (the whole \`mailpresence geocode\` process) | $pm_med MB (median; $pm_min–$pm_max) |"
# Ratios from the middle figures: Criterion's estimate (value, unit) and Python's median.
read -r _ _ load_v load_u _ <<<"$load"
read -r _ _ rate_v rate_u _ <<<"$rate"
awk -v lv="$load_v" -v lu="$load_u" -v rv="$rate_v" -v ru="$rate_u" -v plm="$pl_med" -v prm="$pr_med" -v rss="$rss" -v pmm="$pm_med" 'BEGIN {
  ms = (lu == "s") ? lv * 1000 : (lu == "µs" || lu == "us") ? lv / 1000 : lv
  per_s = (ru ~ /^M/) ? rv * 1e6 : (ru ~ /^K/) ? rv * 1e3 : rv
  printf "| ours ÷ Python | load time %.2f × · lookups/s %.2f × · memory %.2f × | |\n", ms / (plm * 1000), per_s / prm, rss / pmm
}'
echo
echo "| track | fixes | Publish mails, city | Publish mails, district |"
echo "|---|---|---|---|"
for t in assets/tracks/*; do
  city=$(target/release/mailpresence replay "$t" --dry-run --granularity city | tail -1)
  district=$(target/release/mailpresence replay "$t" --dry-run --granularity district | tail -1)
  fixes=$(echo "$city" | sed -E 's/.*"fixes":([0-9]+).*/\1/')
  echo "| $(basename "$t") | $fixes | $(echo "$city" | sed -E 's/.*"publishes":([0-9]+).*/\1/') | $(echo "$district" | sed -E 's/.*"publishes":([0-9]+).*/\1/') |"
done
echo
python3 bench/geocode_accuracy.py target/release/mailpresence
