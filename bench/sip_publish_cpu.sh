#!/usr/bin/env bash
# Server CPU per SIP PUBLISH, for one or more server binaries (say, before and
# after a change): each binary gets a fresh database and the same SIPp PUBLISH
# scenario as bench/sip.sh at a moderate 4,000/s; the CPU time the server
# process spent (user + system, /proc/PID/stat) over 16,000 PUBLISHes, after as
# many to warm up, divided by 16,000. A build that falls behind also pays for
# the retransmissions it causes, which is part of its cost. Prints Markdown rows.
#   bench/sip_publish_cpu.sh [RUNS] BINARY...     (RUNS default 3; rate 4,000/s)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=3
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then runs=$1; shift; fi
[ $# -gt 0 ] || { echo "usage: bench/sip_publish_cpu.sh [RUNS] BINARY..." >&2; exit 2; }
scripts/install-deps.sh >/dev/null
work=$(mktemp -d) port=27160 rate=4000 calls=16000 pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
ticks_per_s=$(getconf CLK_TCK)

# The configuration of bench/sip.sh: u0…u999 and w0…w999, everyone sees everyone.
python3 - "$work/server.toml" "$port" <<'PY'
import sys
path, port = sys.argv[1], sys.argv[2]
with open(path, "w") as f:
    f.write('[server]\naddress = "presence@example.test"\nstorage = "%s"\n' % (path + ".db"))
    f.write('[imap]\nhost = "127.0.0.1"\nport = 1\ntls = "none"\nuser = "p"\npassword = "p"\n')
    f.write('[smtp]\nhost = "127.0.0.1"\nport = 1\ntls = "none"\n')
    f.write('[trust]\nmode = "from-header"\n')
    f.write('[presence]\nnotify_interval_secs = 1\n')
    f.write('[sip]\nlisten = "127.0.0.1:%s"\ndomain = "example.test"\nmin_expires = 0\ntrusted_networks = ["127.0.0.0/8"]\ntrusted_over_udp = true\n' % port)
    for prefix in ("u", "w"):
        for i in range(1000):
            f.write('[[person]]\naccount = "%s%d"\nsip = "sip:%s%d@example.test"\n' % (prefix, i, prefix, i))
    f.write('[[rule]]\nwatchers = ["*"]\nmay_see = ["*"]\n')
PY

publishes() {
  sipp -sf bench/sipp/publish_load.xml -inf bench/sipp/users.csv -r "$rate" -m "$calls" -i 127.0.0.1 \
    -p "$1" -key domain example.test -nostdin -timeout 60s -timeout_error -l 5000 -max_socket 100 \
    "127.0.0.1:$port" >"$work/sipp.log" 2>&1
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Microseconds of server CPU per PUBLISH, one run.
one_run() {
  rm -f "$work"/server.toml.db*
  RUST_LOG=error "$1" --config "$work/server.toml" >"$work/server.log" 2>&1 &
  pid=$!; sleep 2
  publishes 31101
  local before after
  before=$(cpu_ticks "$pid")
  publishes 31102
  after=$(cpu_ticks "$pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  awk -v t=$((after - before)) -v hz="$ticks_per_s" -v n="$calls" 'BEGIN { printf "%.0f", t / hz / n * 1e6 }'
}

echo "| server CPU per PUBLISH at $rate/s offered; min / median / max of $runs runs | µs |"
echo "|---|---|"
for bin in "$@"; do
  vals=()
  for _ in $(seq 1 "$runs"); do vals+=("$(one_run "$bin")"); done
  figure=$(printf '%s\n' "${vals[@]}" | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%d / %d / %d", v[1], m, v[NR] }')
  echo "| $bin | $figure |"
done
