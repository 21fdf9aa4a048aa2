#!/usr/bin/env bash
# SIP presence side by side: our server and Kamailio 5.6 with its presence
# modules (in memory, 4 UDP workers), both on loopback, driven by the same
# SIPp scenarios (bench/sipp/) and the same fan-out script. For each: the
# highest offered rate (stepping up) at which every call succeeded, for
# PUBLISH and for SUBSCRIBE+NOTIFY (a fetch), and the time from one PUBLISH to
# the last of 1,000 watchers' NOTIFYs. Prints Markdown for BENCHMARKS.md.
# Each server is started afresh after its PUBLISH steps, for the fetches and
# the fan-out (see measure: Kamailio keeps every publication those steps make).
#   bench/sip.sh [RUNS] [MODE]   (rates and fan-out repeated RUNS times, default 3)
# MODE:
#   plain  (default) UDP, requests from 127.0.0.0/8 trusted without a password
#   auth   UDP, nobody trusted: every PUBLISH and SUBSCRIBE is answered 401
#          and sent again with the user's MD5 digest (Debian's SIPp 3.6
#          answers only an MD5 first challenge, so ours offers only MD5);
#          Kamailio checks the same passwords with its auth module
#   tls    SIP over TLS: Debian's SIPp has no TLS, so it speaks TCP to stunnel
#          in client mode, one stunnel service per server, which carries it
#          over TLS to the server's TLS port (one connection; SIPTLS_SOCKETS=N
#          for N); the fan-out watchers hold one TLS connection each
# SIP_RATES="500 1000" limits the offered rates (a quick check, not a figure);
# SIP_FANOUT_ONLY=N skips the rates: N fan-outs in a row on one server each
# (the dialogs of the earlier ones' watchers stay, dead, as after real phones);
# SIP_KEEP=1 keeps the logs (SIPp's, the servers', stunnel's) for a look.
# SIP_LOG sets our server's RUST_LOG (default error), e.g.
# SIP_LOG=error,mailpresence_server::sip::agent=trace with SIP_KEEP=1 for the
# fan-out's timings (its groups: handled, stored, sent).
# SIP_STORE=postgres (issue 29; default sqlite): both servers keep their state
# in one throwaway PostgreSQL (scripts/postgres-server.sh, stopped on exit;
# Debian's defaults but max_connections, so fsync and synchronous_commit on:
# durability is the point). Ours gets `[store] url`, a database made anew at
# each start (as the SQLite file is removed at each start); Kamailio gets
# db_postgres and its presence module in database mode, on a database made
# anew at each start from Kamailio's own schema files (standard: the version
# table; presence: presentity, active_watchers, watchers, xcap, pua). Two of
# the module's database modes are measured (bench/kamailio-presence.cfg
# WITH_DB): "write-through" (publ_cache 1, subs_db_mode 1: every PUBLISH and
# subscription written to the database before the answer, reads from memory;
# what its documentation advises when nothing may be lost in a crash) and
# "DB only" (publ_cache 0, subs_db_mode 3: no cache at all; what it advises
# for several servers sharing one database, as ours' instances do).
# SIP_KAM_DB="wt db" chooses which of the two (default both).
# SIP_PG_STATEMENTS=1 loads pg_stat_statements and prints, after each
# server's steps, the statements that took the database's time.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-3}" mode="${2:-plain}" store="${SIP_STORE:-sqlite}"
case "$mode" in
  plain | auth | tls) ;;
  *) echo "usage: bench/sip.sh [RUNS] [plain|auth|tls]" >&2; exit 2 ;;
esac
case "$store" in
  sqlite | postgres) ;;
  *) echo "bench/sip.sh: SIP_STORE is sqlite or postgres, not $store" >&2; exit 2 ;;
esac
pkgs=()
command -v kamailio >/dev/null && [ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/presence.so ] || pkgs+=(kamailio kamailio-presence-modules)
if [ "$store" = postgres ]; then
  [ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/db_postgres.so ] || pkgs+=(kamailio-postgres-modules)
fi
if [ "$mode" = tls ]; then
  command -v stunnel4 >/dev/null || pkgs+=(stunnel4)
  [ -e /usr/lib/x86_64-linux-gnu/kamailio/modules/tls.so ] || pkgs+=(kamailio-tls-modules)
fi
[ ${#pkgs[@]} -eq 0 ] || DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
scripts/install-deps.sh
cargo build --quiet --release -p mailpresence-server
# Where cargo put it: CARGO_TARGET_DIR when set (a worktree's own), else target/.
target_dir="${CARGO_TARGET_DIR:-target}"
work=$(mktemp -d)
ours_port=26060 kam_port=25060
# TLS: the servers' TLS ports, and stunnel's TCP ports in front of them.
ours_tls=26061 kam_tls=25061 ours_tunnel=36061 kam_tunnel=35061
ours_pid="" kam_pid="" tunnel_pid="" pg_dir=""
cleanup() {
  for p in "$ours_pid" "$kam_pid" "$tunnel_pid"; do [ -n "$p" ] && kill "$p" 2>/dev/null; done
  if [ -n "$pg_dir" ]; then
    scripts/postgres-server.sh stop "$pg_dir" || true
    [ -n "${SIP_KEEP:-}" ] && echo "bench/sip.sh: PostgreSQL's log kept in $pg_dir/postgres.log" >&2 || rm -rf "$pg_dir"
  fi
  if [ -n "${SIP_KEEP:-}" ]; then echo "bench/sip.sh: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "bench/sip.sh: $*" >&2; exit 1; }

if [ "$store" = postgres ]; then
  # Its own folder: the cluster runs as the postgres user, who cannot enter $work.
  pg_dir=$(mktemp -d)
  eval "$(scripts/postgres-server.sh start "$pg_dir")"
  pg_base=${MAILPRESENCE_POSTGRES_URL%/*}
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  psql() { "$pg_bin/psql" "$MAILPRESENCE_POSTGRES_URL" -X -q -v ON_ERROR_STOP=1 "$@"; }
  if [ -n "${SIP_PG_STATEMENTS:-}" ]; then
    # pg_stat_statements must be loaded at the server's start; pg_ctl restart
    # keeps the options it was started with (postmaster.opts).
    psql -c "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'"
    runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -w -t 30 restart >/dev/null
    psql -c "CREATE EXTENSION pg_stat_statements"
  fi
  echo "PostgreSQL: $(psql -At -c 'SHOW server_version'); $(psql -At -F ' ' -c "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('shared_buffers', 'synchronous_commit', 'fsync', 'wal_sync_method', 'commit_delay', 'max_connections', 'wal_level', 'full_page_writes')")" >&2
fi
# What one commit waits for: 8 kB written and fdatasync'ed on PostgreSQL's
# disk for a second (the figures move with it; other work's writes slow it).
fsync_ms() {
  python3 - "$pg_dir" <<'PY'
import os, statistics, sys, time
path = os.path.join(sys.argv[1], "fsync-probe")
fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
times, end = [], time.time() + 1
while time.time() < end:
    t = time.perf_counter()
    os.pwrite(fd, b"\0" * 8192, 0)
    os.fdatasync(fd)
    times.append((time.perf_counter() - t) * 1000)
os.close(fd)
os.unlink(path)
print("median %.2f ms, p90 %.2f ms (%d in 1 s)" % (statistics.median(times), sorted(times)[len(times) * 9 // 10], len(times)))
PY
}
# A database made anew (what the last start left there would be resumed).
fresh_database() {
  psql -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
}
# The statements that took PostgreSQL's time since the last call, then reset.
pg_statements() {
  [ -n "${SIP_PG_STATEMENTS:-}" ] || return 0
  # The databases are made anew at each start: their counts are this start's.
  echo "  PostgreSQL's commits since the start: $(psql -At -F ' ' -c "SELECT string_agg(datname || ' ' || xact_commit, ', ') FROM pg_stat_database WHERE datname IN ('ours', 'kamailio')")" >&2
  echo "  PostgreSQL's statements for $1 (calls, total ms, mean ms):" >&2
  psql -At -F ' | ' -c "SELECT calls, round(total_exec_time), round(mean_exec_time::numeric, 3), left(regexp_replace(query, '\s+', ' ', 'g'), 110) FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 12" | sed 's/^/    /' >&2
  psql -At -c "SELECT pg_stat_statements_reset()" >/dev/null
}

if [ "$mode" = tls ]; then
  # One self-signed certificate for both servers.
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
    -keyout "$work/tls-key.pem" -out "$work/tls-cert.pem" 2>/dev/null
fi

# Ours: 1,000 presentities u0…u999 and 1,000 watchers w0…w999, everyone sees everyone.
python3 - "$work/ours.toml" "$ours_port" "$mode" "$ours_tls" "$work" "${pg_base:+$pg_base/ours}" <<'PY'
import sys
path, port, mode, tls_port, work, store_url = sys.argv[1:]
with open(path, "w") as f:
    f.write('[server]\naddress = "presence@example.test"\nstorage = "%s"\n' % (path + ".db"))
    f.write('[imap]\nhost = "127.0.0.1"\nport = 1\ntls = "none"\nuser = "p"\npassword = "p"\n')
    f.write('[smtp]\nhost = "127.0.0.1"\nport = 1\ntls = "none"\n')
    # Required since the sender proof; no mail flows in this benchmark.
    f.write('[trust]\nmode = "from-header"\n')
    f.write('[presence]\nnotify_interval_secs = 1\n')
    f.write('[sip]\nlisten = "127.0.0.1:%s"\ndomain = "example.test"\nmin_expires = 0\n' % port)
    if mode == "auth":
        # Nobody trusted: everyone proves their password (MD5 for SIPp 3.6).
        f.write('trusted_networks = []\ndigest_algorithms = ["MD5"]\n')
    else:
        f.write('trusted_networks = ["127.0.0.0/8"]\ntrusted_over_udp = true\n')
    if mode == "tls":
        f.write('tls_listen = "127.0.0.1:%s"\ntls_certificate = "%s/tls-cert.pem"\ntls_key = "%s/tls-key.pem"\n'
                % (tls_port, work, work))
        # Every fan-out watcher holds its own connection, all from 127.0.0.1
        # (the default allows 32 per address, as on a LAN of phones).
        f.write('max_connections = 2048\nmax_connections_per_ip = 2048\n')
        # All of SIPp's calls share one connection, like a PBX's trunk: the
        # default bound of a phone's connection (256 KB waiting to be sent)
        # closed it in bursts from 8,000/s offered. 4 MiB, as Kamailio gets.
        f.write('connection_write_queue_bytes = 4194304\n')
    for prefix in ("u", "w"):
        for i in range(1000):
            f.write('[[person]]\naccount = "%s%d"\nsip = "sip:%s%d@example.test"\n' % (prefix, i, prefix, i))
            if mode == "auth":
                f.write('sip_password = "pw-%s%d"\n' % (prefix, i))
    f.write('[[rule]]\nwatchers = ["*"]\nmay_see = ["*"]\n')
    if store_url:
        # [server] storage then only names the signing key's folder.
        f.write('[store]\nurl = "%s"\n' % store_url)
PY
sed "s/25060/$kam_port/g; s/25061/$kam_tls/g" bench/kamailio-presence.cfg > "$work/kamailio.cfg"
kam_defines=()
case "$mode" in
  auth) kam_defines=(-A WITH_AUTH) ;;
  # --atexit=no: the tls module's documentation asks for it with OpenSSL 1.1+.
  tls) kam_defines=(-A WITH_TLS --atexit=no) ;;
esac

# The SIPp scenarios and their arguments for this mode.
users=bench/sipp/users.csv publish=bench/sipp/publish_load.xml fetch=bench/sipp/fetch_load.xml
sipp_args=() publish_args=() fetch_args=()
case "$mode" in
  auth)
    # Per-user passwords through the injection file (SIPp reads an
    # [authentication] keyword there); the digest uri is fixed per run.
    users="$work/users_auth.csv"
    { echo SEQUENTIAL; for i in $(seq 0 999); do
        echo "u$i;w$i;[authentication username=u$i password=pw-u$i];[authentication username=w$i password=pw-w$i]"
      done; } >"$users"
    publish=bench/sipp/publish_auth_load.xml fetch=bench/sipp/fetch_auth_load.xml
    publish_args=(-auth_uri example.test) fetch_args=(-auth_uri u0@example.test)
    ;;
  tls)
    # What a TLS phone sends: TLS in Via, with alias (RFC 5923) so that a
    # NOTIFY comes back over the connection, and transport=tls in Contact.
    for s in publish fetch; do
      sed -E 's|SIP/2.0/\[transport\]|SIP/2.0/TLS|; s|(branch=\[branch\];rport)$|\1;alias|; s|^( *Contact: <sip:[^>]*)>|\1;transport=tls>|' \
        "bench/sipp/${s}_load.xml" >"$work/${s}_tls_load.xml"
    done
    publish="$work/publish_tls_load.xml" fetch="$work/fetch_tls_load.xml"
    sockets="${SIPTLS_SOCKETS:-1}"
    if [ "$sockets" -gt 1 ]; then sipp_args=(-t tn -max_socket "$sockets"); else sipp_args=(-t t1); fi
    ;;
esac

# Waits until the server answers OPTIONS on every transport of this mode;
# a server that does not start stops the benchmark.
ready() {
  local name=$1 pid=$2 log=$3
  shift 3
  for target in "$@"; do
    # shellcheck disable=SC2086 # "HOST:PORT TRANSPORT"
    if ! kill -0 "$pid" 2>/dev/null || ! python3 bench/sipbench.py ping $target 30 >&2; then
      tail -20 "$log" >&2
      fail "$name did not start (no answer at $target)"
    fi
  done
}
start_tunnel() {
  local accept=$1 connect=$2
  # TCP_NODELAY both ways, as stunnel's manual advises for interactive
  # traffic; each SIP message is a small write.
  cat >"$work/stunnel.conf" <<EOF
foreground = yes
pid =
output = $work/stunnel.log
socket = l:TCP_NODELAY=1
socket = r:TCP_NODELAY=1
[sip]
client = yes
accept = 127.0.0.1:$accept
connect = 127.0.0.1:$connect
EOF
  stunnel4 "$work/stunnel.conf" >"$work/stunnel.out" 2>&1 &
  tunnel_pid=$!
}
start_ours() {
  # A fresh store: what an earlier start left there would be resumed.
  rm -f "$work/ours.toml.db" "$work/ours.toml.db-wal" "$work/ours.toml.db-shm"
  [ "$store" = postgres ] && fresh_database ours
  RUST_LOG="${SIP_LOG:-error}" "$target_dir/release/mailpresence-server" --config "$work/ours.toml" >"$work/ours.log" 2>&1 &
  ours_pid=$!
  if [ "$mode" = tls ]; then
    start_tunnel "$ours_tunnel" "$ours_tls"
    ready ours "$ours_pid" "$work/ours.log" "127.0.0.1:$ours_port udp" "127.0.0.1:$ours_tls tls"
    ready stunnel "$tunnel_pid" "$work/stunnel.log" "127.0.0.1:$ours_tunnel tcp"
  else
    ready ours "$ours_pid" "$work/ours.log" "127.0.0.1:$ours_port udp"
  fi
}
start_kamailio() {
  # 1 GiB of shared memory: with the 64 MB default it runs out of transactions under load.
  # Over TLS 2 GiB: OpenSSL's state for each of the fan-out's 1,000 connections lives in
  # shared memory; with 1 GiB, after the TLS fetch steps, the tls module went below its
  # "ssl bug #1491" safety threshold and a worker died of SIGSEGV (2026-11-30).
  local shm=1024
  [ "$mode" = tls ] && shm=2048
  local db=()
  if [ "$kam_store" != memory ]; then
    # A database made anew from Kamailio's own schema files, as kamdbctl would.
    fresh_database kamailio
    cat /usr/share/kamailio/postgres/standard-create.sql /usr/share/kamailio/postgres/presence-create.sql |
      "$pg_bin/psql" "$pg_base/kamailio" -X -q -v ON_ERROR_STOP=1 >/dev/null
    db=(-A WITH_DB -A "DB_URL=\"$pg_base/kamailio\"")
    [ "$kam_store" = db ] && db+=(-A WITH_DB_ONLY)
  fi
  kamailio -f "$work/kamailio.cfg" -P "$work/kam.pid" -m "$shm" -M 16 -DD -E "${kam_defines[@]}" "${db[@]}" >"$work/kam.log" 2>&1 &
  kam_pid=$!
  if [ "$mode" = tls ]; then
    start_tunnel "$kam_tunnel" "$kam_tls"
    ready Kamailio "$kam_pid" "$work/kam.log" "127.0.0.1:$kam_port udp" "127.0.0.1:$kam_tls tls"
    ready stunnel "$tunnel_pid" "$work/stunnel.log" "127.0.0.1:$kam_tunnel tcp"
  else
    ready Kamailio "$kam_pid" "$work/kam.log" "127.0.0.1:$kam_port udp"
  fi
}
# CPU seconds (user + system) a process and its threads have used.
cpu_s() { awk -v t="$(getconf CLK_TCK)" '{ print ($14 + $15) / t }' "/proc/$1/stat" 2>/dev/null || echo 0; }
stop_all() {
  [ -n "$tunnel_pid" ] && echo "  stunnel used $(cpu_s "$tunnel_pid") s of CPU" >&2
  local p
  for p in "$ours_pid" "$kam_pid" "$tunnel_pid"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true
  done
  ours_pid="" kam_pid="" tunnel_pid=""
  sleep 1
}
# A server that died under load must not be reported with the figures it
# gave before dying.
alive() { kill -0 "$2" 2>/dev/null || { tail -20 "$3" >&2; fail "$1 died during the run"; }; }

# The best achieved rate (calls/s: calls ÷ elapsed) over steps of offered
# rate, while every call of the step succeeds. The steps are about √2 apart so
# that neither server's figure is rounded down to a power of two, and go past
# what SIPp can offer on this machine, so the last step is where a server (or
# the load generator) fails, not where the list ends.
# On PostgreSQL the servers top out far below SIPp's rates without failing a
# call (SIPp's 5,000 calls in flight wait): there a step that achieved less
# than half its offered rate is the last (more offered only queues longer),
# where the SQLite runs went on until a call failed or 120 s were over.
max_rate() {
  local scenario=$1 port=$2 best=0 step=0 name
  shift 2
  name=$(basename "$scenario" .xml)
  for rate in ${SIP_RATES:-500 1000 2000 4000 5600 8000 11300 16000 22600 32000}; do
    step=$((step + 1))
    local calls=$((rate * 4)) t0 t1
    t0=$(date +%s.%N)
    if timeout 120 sipp -sf "$scenario" -inf "$users" -r "$rate" -m "$calls" -i 127.0.0.1 \
        -p $((31000 + step)) -key domain example.test -nostdin -timeout 60s -timeout_error -l 5000 -max_socket 100 -buff_size 4194304 \
        "$@" "127.0.0.1:$port" >"$work/sipp-$port-$name-$rate.log" 2>&1; then
      t1=$(date +%s.%N)
      best=$(awk -v c="$calls" -v a="$t0" -v b="$t1" -v best="$best" 'BEGIN { r = c / (b - a); print (r > best) ? int(r) : best }')
      if [ "$store" = postgres ] && [ $((best * 2)) -lt "$rate" ]; then
        echo "  $name offered $rate/s on $port: $best/s achieved at best, the steps end" >&2
        break
      fi
    else
      # Why: the failed calls, and SIPp's TCP errors (a closed connection).
      grep -E "Failed call|TCP errors" "$work/sipp-$port-$name-$rate.log" 2>/dev/null | tail -2 | sed -E "s/^ +//; s/ +\|? +/ /g; s/^/  $name offered $rate\/s on $port: /" >&2 || true
      if [ "$best" = 0 ]; then
        # Not a slow server but a broken setup: no figure rather than a zero.
        tail -5 "$work/sipp-$port-$name-$rate.log" >&2
        echo "bench/sip.sh: $name failed calls already at $rate/s on port $port" >&2
        return 1
      fi
      break
    fi
  done
  echo "$best"
}

fanout() {
  local port=$1 udp_port=$2 out=() args=()
  case "$mode" in
    auth) args=(--password-prefix pw-) ;;
    tls) args=(--tls) ;;
  esac
  for _ in $(seq 1 "$runs"); do
    # The load steps may leave the server busy for a while (queued
    # requests, retransmissions): start when it answers an OPTIONS again.
    python3 bench/sipbench.py ping "127.0.0.1:$udp_port" udp 120 >&2 || exit 1
    r=$(python3 bench/sip_fanout.py "127.0.0.1:$port" example.test 1000 "${args[@]}") || exit 1
    local f sub refused
    f=$(sed -E 's/.*refused=([0-9]+) notified=([0-9]+) ms=none/no time: the publisher'"'"'s connection refused (\1 of 1000 watchers'"'"' too)/;
      s/.*refused=([0-9]+) notified=([0-9]+) ms=([0-9.]+)/\3 ms (\2 notified)\1/; s/\)0$/)/; s/\)([0-9]+)$/, \1 connections refused)/' <<<"$r")
    # Watchers whose SUBSCRIBE was never answered, even sent again, are said.
    sub=$(sed -nE 's/.* subscribed=([0-9]+) .*/\1/p' <<<"$r")
    refused=$(sed -nE 's/.* refused=([0-9]+) .*/\1/p' <<<"$r")
    [ "${sub:-0}" -lt $((1000 - ${refused:-0})) ] && f="${f%)}, only $sub subscribed)"
    out+=("$f")
  done
  local IFS=';'
  echo "${out[*]}"
}

# min / median / max of RUNS repetitions of max_rate.
rates() {
  local vals=()
  local v
  for _ in $(seq 1 "$runs"); do
    v=$(max_rate "$@") || exit 1
    vals+=("$v")
  done
  printf '%s\n' "${vals[@]}" | sort -n | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%d / %d / %d", v[1], m, v[NR] }'
}

# One PUBLISH for u0 (the first of the injection file), so that the fetches
# find one publication on either server.
seed() {
  local port=$1
  shift
  timeout 60 sipp -sf "$publish" -inf "$users" -m 1 -i 127.0.0.1 -p 30999 -key domain example.test \
    -nostdin -timeout 20s -timeout_error "$@" "127.0.0.1:$port" >"$work/sipp-$port-seed.log" 2>&1 ||
    { tail -5 "$work/sipp-$port-seed.log" >&2; fail "the PUBLISH before the fetches failed on port $port"; }
}

# $1: ours|kam_memory|kam_wt|kam_db (Kamailio: $kam_store says which), $2: the
# port SIPp speaks to (stunnel's for TLS), $3: the fan-out's port, $4: the
# server's UDP port. Sets $1's "PUBLISH|fetch|fan-out".
# Each PUBLISH call makes a new publication (Expires 600) as a new device
# would, and Kamailio keeps them all (ours keeps a person's latest 8,
# max_publications_per_person): after the PUBLISH steps each presentity held
# hundreds of publications there, which Kamailio goes through for every
# NOTIFY of u0 (8,000 of u0's took its fetches over TLS from 3,000/s to
# 33/s). So the fetches and the fan-out start on a fresh server (ours'
# store removed too) with one publication of u0, the same on both.
measure() {
  # (Not "p": stop_all's loop sets that one.)
  local who=$1 port=$2 fan_port=$3 udp_port=$4 pub fetches fan start
  [ "$who" = ours ] && start=start_ours || start=start_kamailio
  $start
  pub=$(rates "$publish" "$port" "${sipp_args[@]}" "${publish_args[@]}")
  alive "$who" "$(server_pid)" "$(server_log "$who")"
  stop_all
  pg_statements "$who, PUBLISH steps"
  $start
  seed "$port" "${sipp_args[@]}" "${publish_args[@]}"
  fetches=$(rates "$fetch" "$port" -s u0 "${sipp_args[@]}" "${fetch_args[@]}")
  fan=$(fanout "$fan_port" "$udp_port")
  alive "$who" "$(server_pid)" "$(server_log "$who")"
  stop_all
  pg_statements "$who, fetch steps and fan-outs"
  printf -v "$who" '%s' "$pub|$fetches|$fan"
}
server_pid() { echo "${ours_pid:-$kam_pid}"; }
server_log() { [ "$1" = ours ] && echo "$work/ours.log" || echo "$work/kam.log"; }

# Which Kamailio storages: in memory beside ours on SQLite; write-through
# and DB only on the same PostgreSQL beside ours on it.
kam_stores=(memory)
# shellcheck disable=SC2206 # a list of words
[ "$store" = postgres ] && kam_stores=(${SIP_KAM_DB:-wt db})
for k in "${kam_stores[@]}"; do
  case "$k" in memory | wt | db) ;; *) fail "SIP_KAM_DB is wt, db or both, not $k" ;; esac
done
kam_store=memory
# What a column holds.
label() {
  local kam_mod="" workers="4 UDP workers"
  case "$mode" in
    auth) kam_mod=" + auth" ;;
    tls) kam_mod=" + tls" workers="4 TLS workers" ;;
  esac
  case "$1" in
    ours) [ "$store" = postgres ] && echo "ours on PostgreSQL" || echo "ours" ;;
    kam_memory) echo "Kamailio 5.6 presence$kam_mod (memory, $workers)" ;;
    kam_wt) echo "Kamailio 5.6 presence$kam_mod on the same PostgreSQL (write-through: publ_cache 1, subs_db_mode 1; $workers)" ;;
    kam_db) echo "Kamailio 5.6 presence$kam_mod on the same PostgreSQL (DB only: publ_cache 0, subs_db_mode 3; $workers)" ;;
  esac
}

echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
[ "$store" = postgres ] && echo "fdatasync of 8 kB at start: $(fsync_ms)" >&2
if [ -n "${SIP_FANOUT_ONLY:-}" ]; then
  [ "$mode" = tls ] && fail "SIP_FANOUT_ONLY is for plain and auth"
  runs=$SIP_FANOUT_ONLY
  echo "| one PUBLISH → 1,000 watchers, $runs fan-outs in a row on one server ($mode): ms to the last NOTIFY | each run |"
  echo "|---|---|"
  for who in ours "${kam_stores[@]/#/kam_}"; do
    if [ "$who" = ours ]; then
      start_ours
      port=$ours_port
    else
      kam_store=${who#kam_}
      start_kamailio
      port=$kam_port
    fi
    seed "$port" "${sipp_args[@]}" "${publish_args[@]}"
    fan=$(fanout "$port" "$port")
    alive "$who" "$(server_pid)" "$(server_log "$who")"
    stop_all
    echo "| $(label "$who") | ${fan//;/; } |"
  done
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
  exit 0
fi
ours=""
for who in ours "${kam_stores[@]/#/kam_}"; do
  [ "$who" = ours ] || kam_store=${who#kam_}
  if [ "$mode" = tls ] && [ "$who" = ours ]; then
    measure ours "$ours_tunnel" "$ours_tls" "$ours_port"
  elif [ "$mode" = tls ]; then
    measure "$who" "$kam_tunnel" "$kam_tls" "$kam_port"
  elif [ "$who" = ours ]; then
    measure ours "$ours_port" "$ours_port" "$ours_port"
  else
    measure "$who" "$kam_port" "$kam_port" "$kam_port"
  fi
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
[ "$store" = postgres ] && echo "fdatasync of 8 kB at end: $(fsync_ms)" >&2
IFS='|' read -r op of ofan <<<"$ours"
# ours ÷ Kamailio, from the medians (the middle figure of "min / median / max").
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { split(a, x, " / "); split(b, y, " / "); if (y[2] > 0) printf "%.1f ×", x[2] / y[2]; else print "n/a" }'; }
case "$mode" in
  plain) what="SIP on loopback" ;;
  auth) what="SIP on loopback, digest auth (MD5) on every request" ;;
  tls) what="SIP over TLS on loopback (SIPp via stunnel, $sockets connection(s))" ;;
esac
[ "$store" = postgres ] && what="$what, each server's state in PostgreSQL"
# One column per Kamailio storage, each with its ratio.
head="| $what, 2 cores, one server at a time; min / median / max of $runs runs | $(label ours) |"
rule="|---|---|" pubs="| PUBLISH/s, best achieved with no failed call | $op |"
fetches="| SUBSCRIBE+NOTIFY (fetch)/s, same | $of |"
fans="| one PUBLISH → 1,000 watchers: ms to the last NOTIFY, each of $runs runs (20 s = some watcher never notified) | $ofan |"
for k in "${kam_stores[@]}"; do
  v="kam_$k"
  IFS='|' read -r kp kf kfan <<<"${!v}"
  head+=" $(label "$v") | ours ÷ Kamailio (medians) |"
  rule+="---|---|"
  pubs+=" $kp | $(ratio "$op" "$kp") |"
  fetches+=" $kf | $(ratio "$of" "$kf") |"
  fans+=" $kfan | |"
done
printf '%s\n' "$head" "$rule" "$pubs" "$fetches" "$fans"
