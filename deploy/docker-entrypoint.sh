#!/bin/sh
# Starts clawmeshd in the container (deploy/Dockerfile), and the same way on a host: a
# self-signed certificate on first start unless one is there, a bounded wait for PostgreSQL
# (which starts slower), then `exec clawmeshd serve`, so SIGTERM reaches clawmeshd itself.
#   docker-entrypoint.sh [OPTIONS...]          serve; the options go to clawmeshd serve
#   docker-entrypoint.sh serve [OPTIONS...]    the same
#   docker-entrypoint.sh COMMAND [ARGS...]     another clawmeshd command (token, migrate,
#                                              export, import, --help), run as it is
# Besides every CLAWMESH_* and PG* variable clawmeshd reads (CLAWMESH_ADMIN_TOKEN included):
#   CLAWMESH_LISTEN       where to serve, default 0.0.0.0:8443
#   CLAWMESH_CERT_DIR     cert.pem and key.pem, made there when missing; default /certs
#   CLAWMESH_TLS_NAMES    more names for a certificate made here: DNS names or IP addresses,
#                         separated by spaces or commas
#   CLAWMESH_TLS_CERT, CLAWMESH_TLS_KEY   a certificate somewhere else; then none is made
#   CLAWMESH_DB_WAIT      seconds to wait for the database, default 60
#   CLAWMESH_BIN          the clawmeshd binary, default clawmeshd on PATH
#   CLAWMESH_MAKE_CERT    make-cert.sh, default the one next to this script, else
#                         /usr/local/share/clawmesh/make-cert.sh (where the image has it)
set -eu

bin=${CLAWMESH_BIN:-clawmeshd}
log() { echo "docker-entrypoint: $*" >&2; }

case "${1:-}" in
serve) shift ;;
--help | --version) exec "$bin" "$1" ;;
-* | "") ;;
*) exec "$bin" "$@" ;;
esac

# As PID 1 a shell ignores SIGTERM unless it says otherwise; stop while still waiting.
trap 'exit 143' TERM
trap 'exit 130' INT

export CLAWMESH_LISTEN="${CLAWMESH_LISTEN:-0.0.0.0:8443}"

if [ -z "${CLAWMESH_TLS_CERT:-}" ]; then
	dir=${CLAWMESH_CERT_DIR:-/certs}
	if [ ! -s "$dir/cert.pem" ] || [ ! -s "$dir/key.pem" ]; then
		mk=${CLAWMESH_MAKE_CERT:-}
		if [ -z "$mk" ]; then
			mk="$(dirname "$0")/make-cert.sh"
			[ -f "$mk" ] || mk=/usr/local/share/clawmesh/make-cert.sh
		fi
		# One argument per name: the split is wanted.
		# shellcheck disable=SC2046
		if ! sh "$mk" "$dir" $(echo "${CLAWMESH_TLS_NAMES:-}" | tr ',' ' '); then
			log "cannot make a certificate in $dir as uid $(id -u): make it writable by that user, or put cert.pem and key.pem there"
			exit 1
		fi
	fi
	if [ ! -r "$dir/key.pem" ] || [ ! -r "$dir/cert.pem" ]; then
		log "cannot read $dir/cert.pem and $dir/key.pem as uid $(id -u): give that user read access"
		exit 1
	fi
	export CLAWMESH_TLS_CERT="$dir/cert.pem" CLAWMESH_TLS_KEY="$dir/key.pem"
fi

# `migrate` is the probe: it connects as serve will, with the same options, and applies
# pending migrations. 1 is a database failure (retried until the deadline), 2 bad usage.
wait_s=${CLAWMESH_DB_WAIT:-60}
case "$wait_s" in
'' | *[!0-9]*)
	log "CLAWMESH_DB_WAIT is '$wait_s', not a number of seconds"
	exit 2
	;;
esac
deadline=$(($(date +%s) + wait_s))
waited=0
while :; do
	if out=$("$bin" migrate "$@" 2>&1); then
		break
	else
		status=$?
	fi
	if [ "$status" != 1 ]; then
		printf '%s\n' "$out" >&2
		exit "$status"
	fi
	if [ "$(date +%s)" -ge $deadline ]; then
		log "gave up: the database did not answer within $wait_s s (CLAWMESH_DB_WAIT). The last attempt said:"
		printf '%s\n' "$out" >&2
		exit 1
	fi
	if [ $waited = 0 ]; then
		log "waiting up to $wait_s s for the database: $(printf '%s\n' "$out" | head -n 1)"
		waited=1
	fi
	sleep 1
done
[ $waited = 0 ] || log "the database answers"
[ -z "$out" ] || printf '%s\n' "$out" >&2

exec "$bin" serve "$@"
