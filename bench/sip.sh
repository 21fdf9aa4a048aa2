#!/usr/bin/env bash
# SIP presence side by side: our server and Kamailio 5.6 with its presence
# modules (in memory, 4 UDP workers), both on loopback, driven by the same
# SIPp scenarios (bench/sipp/) and the same fan-out script. For each: the
# highest offered rate (stepping up) at which every call succeeded, for
# PUBLISH and for SUBSCRIBE+NOTIFY (a fetch), and the time from one PUBLISH to
# the last of 1,000 watchers' NOTIFYs. Prints Markdown for BENCHMARKS.md.
#   bench/sip.sh [RUNS]   (rates and fan-out repeated RUNS times, default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}"
command -v kamailio >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends kamailio kamailio-presence-modules >/dev/null
scripts/install-deps.sh
cargo build --quiet --release -p mailpresence-server
# Where cargo put it: CARGO_TARGET_DIR when set (a worktree's own), else target/.
target_dir="${CARGO_TARGET_DIR:-target}"
work=$(mktemp -d)
ours_port=26060 kam_port=25060
ours_pid="" kam_pid=""
cleanup() { [ -n "$ours_pid" ] && kill "$ours_pid" 2>/dev/null; [ -n "$kam_pid" ] && kill "$kam_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

# Ours: 1,000 presentities u0…u999 and 1,000 watchers w0…w999, everyone sees everyone.
python3 - "$work/ours.toml" "$ours_port" <<'PY'
import sys
path, port = sys.argv[1], sys.argv[2]
with open(path, "w") as f:
    f.write('[server]\naddress = "presence@example.test"\nstorage = "%s"\n' % (path + ".db"))
    f.write('[imap]\nhost = "127.0.0.1"\nport = 1\ntls = "none"\nuser = "p"\npassword = "p"\n')
    f.write('[smtp]\nhost = "127.0.0.1"\nport = 1\ntls = "none"\n')
    # Required since the sender proof; no mail flows in this benchmark.
    f.write('[trust]\nmode = "from-header"\n')
    f.write('[presence]\nnotify_interval_secs = 1\n')
    f.write('[sip]\nlisten = "127.0.0.1:%s"\ndomain = "example.test"\nmin_expires = 0\ntrusted_networks = ["127.0.0.0/8"]\n' % port)
    for prefix in ("u", "w"):
        for i in range(1000):
            f.write('[[person]]\naccount = "%s%d"\nsip = "sip:%s%d@example.test"\n' % (prefix, i, prefix, i))
    f.write('[[rule]]\nwatchers = ["*"]\nmay_see = ["*"]\n')
PY
sed "s/25060/$kam_port/g" bench/kamailio-presence.cfg > "$work/kamailio.cfg"
start_ours() {
  RUST_LOG=error "$target_dir/release/mailpresence-server" --config "$work/ours.toml" >"$work/ours.log" 2>&1 &
  ours_pid=$!; sleep 2
}
start_kamailio() {
  # 1 GiB of shared memory: with the 64 MB default it runs out of transactions under load.
  kamailio -f "$work/kamailio.cfg" -P "$work/kam.pid" -m 1024 -M 16 -DD -E >"$work/kam.log" 2>&1 &
  kam_pid=$!; sleep 2
}
stop_all() {
  [ -n "$ours_pid" ] && kill "$ours_pid" 2>/dev/null && wait "$ours_pid" 2>/dev/null || true
  [ -n "$kam_pid" ] && kill "$kam_pid" 2>/dev/null && wait "$kam_pid" 2>/dev/null || true
  ours_pid="" kam_pid=""
  sleep 1
}

# The best achieved rate (calls/s: calls ÷ elapsed) over steps of offered
# rate, while every call of the step succeeds. The steps are about √2 apart so
# that neither server's figure is rounded down to a power of two, and go past
# what SIPp can offer on this machine, so the last step is where a server (or
# the load generator) fails, not where the list ends.
max_rate() {
  local scenario=$1 port=$2 best=0 step=0
  shift 2
  for rate in 500 1000 2000 4000 5600 8000 11300 16000 22600 32000; do
    step=$((step + 1))
    local calls=$((rate * 4)) t0 t1
    t0=$(date +%s.%N)
    if timeout 120 sipp -sf "bench/sipp/$scenario" -inf bench/sipp/users.csv -r "$rate" -m "$calls" -i 127.0.0.1 \
        -p $((31000 + step)) -key domain example.test "$@" -nostdin -timeout 60s -timeout_error -l 5000 -max_socket 100 -buff_size 4194304 \
        "127.0.0.1:$port" >"$work/sipp-$port-$scenario-$rate.log" 2>&1; then
      t1=$(date +%s.%N)
      best=$(awk -v c="$calls" -v a="$t0" -v b="$t1" -v best="$best" 'BEGIN { r = c / (b - a); print (r > best) ? int(r) : best }')
    else
      grep -E "Failed call" "$work/sipp-$port-$scenario-$rate.log" 2>/dev/null | tail -1 | sed "s/^/  $scenario offered $rate\/s on $port: /" >&2 || true
      break
    fi
  done
  echo "$best"
}

fanout() {
  local port=$1 out=()
  for _ in $(seq 1 "$runs"); do
    out+=("$(python3 bench/sip_fanout.py "127.0.0.1:$port" example.test 1000 | sed -E 's/.*notified=([0-9]+) ms=([0-9.]+)/\2 ms (\1 notified)/')")
  done
  local IFS=';'
  echo "${out[*]}"
}

# min / median / max of RUNS repetitions of max_rate.
rates() {
  local vals=()
  for _ in $(seq 1 "$runs"); do vals+=("$(max_rate "$@")"); done
  printf '%s\n' "${vals[@]}" | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%d / %d / %d", v[1], m, v[NR] }'
}

measure() {
  local port=$1
  echo "$(rates publish_load.xml "$port")|$(rates fetch_load.xml "$port" -s u0)|$(fanout "$port")"
}

start_ours; ours=$(measure "$ours_port"); stop_all
start_kamailio; kam=$(measure "$kam_port"); stop_all
IFS='|' read -r op of ofan <<<"$ours"
IFS='|' read -r kp kf kfan <<<"$kam"
# ours ÷ Kamailio, from the medians (the middle figure of "min / median / max").
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " / "); split(b, y, " / "); if (y[2] > 0) printf "%.1f ×", x[2] / y[2]; else print "n/a" }'; }
echo "| SIP on loopback, 2 cores, one server at a time; min / median / max of $runs runs | ours | Kamailio 5.6 presence (memory, 4 UDP workers) | ours ÷ Kamailio (medians) |"
echo "|---|---|---|---|"
echo "| PUBLISH/s, best achieved with no failed call | $op | $kp | $(ratio "$op" "$kp") |"
echo "| SUBSCRIBE+NOTIFY (fetch)/s, same | $of | $kf | $(ratio "$of" "$kf") |"
echo "| one PUBLISH → 1,000 watchers: ms to the last NOTIFY, each of $runs runs (20 s = some watcher never notified) | $ofan | $kfan | |"
