#!/usr/bin/env bash
# A private PostgreSQL cluster in a directory of ours: socket only (no TCP), on a port of our
# choosing, run as the `postgres` user when we are root (initdb refuses root).
#   pg-local.sh init DIR PORT   create the cluster if DIR has none
#   pg-local.sh start DIR       start it (waits until it accepts connections)
#   pg-local.sh stop DIR [fast|immediate|smart]
#   pg-local.sh status DIR      exit 0 when running
#   pg-local.sh url DIR [DB]    the libpq conninfo to reach it
#   pg-local.sh destroy DIR     stop it and remove DIR
set -euo pipefail

cmd=${1:?usage: pg-local.sh init|start|stop|status|url|destroy DIR ...}
dir=${2:?a cluster directory is needed}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)

bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$bindir" ] || bindir=$(dirname "$(command -v pg_ctl)")

as_pg() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

case "$cmd" in
init)
	port=${3:?a port is needed}
	if [ -f "$dir/data/PG_VERSION" ]; then exit 0; fi
	mkdir -p "$dir/data" "$dir/run"
	[ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
	chmod 700 "$dir/data" "$dir/run"
	as_pg "$bindir/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; exit 1; }
	cat >>"$dir/data/postgresql.conf" <<CONF
# clawmesh private cluster
port = $port
listen_addresses = ''
unix_socket_directories = '$dir/run'
unix_socket_permissions = 0700
max_connections = 200
shared_buffers = 128MB
logging_collector = off
CONF
	;;
start)
	if as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then exit 0; fi
	as_pg "$bindir/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 30 start >/dev/null
	;;
stop)
	mode=${3:-fast}
	if as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1; then
		as_pg "$bindir/pg_ctl" -D "$dir/data" -m "$mode" -w -t 30 stop >/dev/null
	fi
	;;
status)
	as_pg "$bindir/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
	;;
url)
	port=$(sed -n "s/^port = \([0-9]*\)$/\1/p" "$dir/data/postgresql.conf" | tail -n 1)
	echo "host=$dir/run port=$port dbname=${3:-clawmesh} user=postgres"
	;;
destroy)
	"$0" stop "$dir" immediate || true
	rm -rf "$dir"
	;;
*)
	echo "pg-local.sh: unknown command $cmd" >&2
	exit 2
	;;
esac
