#!/usr/bin/env bash
# A throwaway PostgreSQL (Debian's `postgresql`) for the store's tests and the
# two-instance test: a cluster made by initdb in DIR, on a free loopback port,
# its unix socket in DIR too; stopped by its own pid.
#   scripts/postgres-server.sh start DIR   prints `export MAILPRESENCE_POSTGRES_…` lines
#   scripts/postgres-server.sh stop DIR
# PostgreSQL refuses to run as root: run as root, the cluster belongs to the
# `postgres` user the package made, and the server runs as that user. The
# cluster's superuser is `mailpresence` (trusted on loopback and the socket:
# a test database, never reachable from outside), with a database of the
# same name; each test makes its own schema in it.
set -euo pipefail
cd "$(dirname "$0")/.."
action=${1:?usage: postgres-server.sh start|stop DIR} dir=${2:?usage: postgres-server.sh start|stop DIR}
case "$dir" in /*) ;; *) dir="$(pwd)/$dir" ;; esac

stop() {
  # The first line of postmaster.pid is the server's pid.
  if [ -f "$dir/data/postmaster.pid" ]; then
    pid=$(head -n1 "$dir/data/postmaster.pid")
    # SIGINT: PostgreSQL's fast shutdown (ends sessions, no waiting for them).
    kill -INT "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$dir/data/postmaster.pid"
  fi
}

case "$action" in
  stop) stop; exit 0 ;;
  start) ;;
  *) echo "usage: postgres-server.sh start|stop DIR" >&2; exit 2 ;;
esac

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends postgresql >/dev/null
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
fi

# As whom the cluster runs: never root.
as_owner=()
if [ "$(id -u)" = 0 ]; then
  as_owner=(runuser -u postgres --)
fi

stop
rm -rf "$dir/data"
mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres: "$dir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${as_owner[@]}" "$bin/initdb" -D "$dir/data" -U mailpresence --auth=trust -E UTF8 --locale=C.UTF-8 \
  >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; echo "postgres-server: initdb failed" >&2; exit 1; }
# Room for the store's tests run in parallel, each with its own connections,
# and for two server instances with their intake lock sessions.
"${as_owner[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300" \
  start >/dev/null || { cat "$dir/postgres.log" >&2; echo "postgres-server: postgres did not start" >&2; exit 1; }
"$bin/createdb" -h 127.0.0.1 -p "$port" -U mailpresence mailpresence
echo "postgres-server: PostgreSQL up in $dir on port $port (pid $(head -n1 "$dir/data/postmaster.pid"))" >&2
echo "export MAILPRESENCE_POSTGRES_URL=postgres://mailpresence@127.0.0.1:$port/mailpresence"
echo "export MAILPRESENCE_POSTGRES_DIR=$dir"
