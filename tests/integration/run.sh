#!/usr/bin/env bash
# Runs the integration tests against a throwaway PostgreSQL cluster made in a temporary
# directory (as the postgres user when root), on a free port, removed afterwards.
#   run.sh CLAWMESHD TEST_BINARY
set -euo pipefail
bin=$(realpath "$1")
tests=$(realpath "$2")
here=$(cd "$(dirname "$0")" && pwd)
pgl="$here/../../deploy/pg-local.sh"

tmp=$(mktemp -d /tmp/clawmesh-test.XXXXXX)
chmod 755 "$tmp"
cleanup() {
	"$pgl" destroy "$tmp/pg" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

# The cluster listens on its private socket directory only, so its port number cannot clash.
"$pgl" init "$tmp/pg" 5432
"$pgl" start "$tmp/pg"
psql "$("$pgl" url "$tmp/pg" postgres)" -qc "CREATE DATABASE clawmesh"

# A self-signed certificate for the TLS test, made here and never kept.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=127.0.0.1" \
	-addext "subjectAltName=IP:127.0.0.1" -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1

export CM_TEST_BIN="$bin"
export CM_TEST_DB_URL
CM_TEST_DB_URL=$("$pgl" url "$tmp/pg" clawmesh)
export CM_TEST_PG_SCRIPT="$pgl"
export CM_TEST_PG_DIR="$tmp/pg"
export CM_TEST_TMP="$tmp"
export CM_TEST_CA="$tmp/cert.pem"
export CM_TEST_KEY="$tmp/key.pem"
export CM_TEST_RECORD="${CM_TEST_RECORD:-}"
"$bin" migrate --database-url "$CM_TEST_DB_URL" 2>/dev/null

status=0
"$tests" || status=$?
# Under valgrind (CM_TEST_VALGRIND=1), each server's memcheck verdict, and the whole report of
# any that found something.
if [ "${CM_TEST_VALGRIND:-}" = 1 ]; then
	for f in "$tmp"/server-*.log.vg; do
		[ -f "$f" ] || continue
		errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9,]*\) errors.*/\1/p' "$f" | tail -n 1)
		leaks=$(grep -E '(definitely|indirectly|possibly) lost:' "$f" | sed 's/^==[0-9]*== *//' | tr -s ' ' |
			paste -sd ';' - || true)
		grep -q 'All heap blocks were freed' "$f" && leaks="all heap blocks freed"
		echo "valgrind: $(basename "$f" .log.vg): ${errors:-no summary (killed?)} errors; ${leaks:-no leak summary}"
		if [ "${errors:-0}" != 0 ]; then
			echo "---- $f"
			cat "$f"
		fi
	done
fi
if [ $status -ne 0 ]; then
	for f in "$tmp"/server-*.log; do
		[ -f "$f" ] || continue
		echo "---- $f (last 30 lines)"
		tail -n 30 "$f"
	done
fi
exit $status
