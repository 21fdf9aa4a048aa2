#!/usr/bin/env bash
# Mail parse/compose: ours (Criterion) beside Python's `email` on the same
# golden mails. Prints a Markdown table for BENCHMARKS.md.
#   bench/mail_parse.sh
set -euo pipefail
cd "$(dirname "$0")/.."
n=$(ls protocol/tests/golden/*.eml | wc -l)
out=$(cargo bench -q -p mailpresence-protocol --bench mail -- --noplot 2>/dev/null)
echo "$out" | grep -A1 -E "^mail/" >&2 || true
# Criterion prints "time: [low mid high]" per benchmark; per mail = set time / n.
set_line=$(echo "$out" | grep -A1 "mail/parse_golden_set" | grep "time:")
py=$(python3 bench/mail_parse_python.py 7)
echo "$py" >&2
to_us() { awk -v v="$1" -v u="$2" -v n="$3" 'BEGIN{f=(u=="ns")?0.001:(u=="ms")?1000:(u=="s")?1e6:1; printf "%.1f", v*f/n}'; }
read -r lo lou mid midu hi hiu <<<"$(echo "$set_line" | sed 's/.*\[//; s/\]//')"
echo
echo "| parse one mail (golden set of $n) | min | median | max |"
echo "|---|---|---|---|"
echo "| mailpresence-protocol (Criterion, low/estimate/high) | $(to_us "$lo" "$lou" "$n") µs | $(to_us "$mid" "$midu" "$n") µs | $(to_us "$hi" "$hiu" "$n") µs |"
echo "$py" | sed -E 's/.*min ([0-9.]+) µs, median ([0-9.]+) µs, max ([0-9.]+) µs/| Python 3 `email` (policy.default), 7 runs | \1 µs | \2 µs | \3 µs |/'
py_med=$(echo "$py" | sed -E 's/.*median ([0-9.]+) µs.*/\1/')
awk -v o="$(to_us "$mid" "$midu" "$n")" -v p="$py_med" 'BEGIN { printf "\nOurs ÷ Python, medians: %.3f × the time (Python takes %.0f × ours).\n", o / p, p / o }'
