# shellcheck shell=bash
# Shared by the deploy tests (tests/deploy/*.sh), which exercise the shell-level parts of
# clawmesh (dev-up, the container entrypoint, the agent skill, the sync client) against real
# parts: a throwaway PostgreSQL cluster made here and removed on exit, clawmeshd processes on
# free loopback ports, curl. Output is TAP, which meson reads (protocol: 'tap').
#
#   . "$(dirname "$0")/lib.sh" "$CLAWMESHD"   # sets T_ROOT, T_TMP, CLAWMESHD
#   t_pg_up                       # cluster + database + migrations; sets T_DB_URL
#   t_server_start NAME [ARGS..]  # serve on a free port (or T_PORT); sets T_URL, T_SERVER_PID
#   t_admin                       # prints a new admin token's secret
#   t_check "what" CMD [ARGS..]   # one TAP point: ok when CMD exits 0 (its output shown if not)
#   t_is "what" GOT WANT          # one TAP point: ok when GOT = WANT
#   t_skip "what" "why"           # one TAP point, skipped (a tool this machine lacks)
#   t_done                        # the plan; exit status 1 if any point failed
set -euo pipefail

CLAWMESHD=$(realpath "${1:?usage: TEST CLAWMESHD}")
T_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
T_TMP=$(mktemp -d /tmp/clawmesh-deploy.XXXXXX)
chmod 755 "$T_TMP"
T_PGL="$T_ROOT/deploy/pg-local.sh"
t_n=0
t_failed=0
t_pids=()

t_cleanup() {
	local p
	for p in "${t_pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	for p in "${t_pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	for p in "$T_TMP"/pg "$T_TMP"/*/pg; do # ours, and any a script under test made in T_TMP
		[ -d "$p" ] && "$T_PGL" destroy "$p" >/dev/null 2>&1
	done
	rm -rf "$T_TMP"
}
trap t_cleanup EXIT

t_ok() {
	t_n=$((t_n + 1))
	echo "ok $t_n - $*"
}

t_not_ok() {
	t_n=$((t_n + 1))
	t_failed=$((t_failed + 1))
	echo "not ok $t_n - $*"
}

# t_check "what" CMD [ARGS..]: runs CMD with its output kept; shows it as TAP comments on failure.
t_check() {
	local what=$1
	shift
	if "$@" >"$T_TMP/check.out" 2>&1; then
		t_ok "$what"
	else
		t_not_ok "$what (exit $?)"
		sed 's/^/# /' "$T_TMP/check.out" | tail -n 40
	fi
}

t_is() {
	if [ "$2" = "$3" ]; then
		t_ok "$1"
	else
		t_not_ok "$1"
		printf '#   got:  %s\n#   want: %s\n' "$2" "$3" | head -c 4000
	fi
}

t_skip() {
	t_n=$((t_n + 1))
	echo "ok $t_n - $1 # SKIP $2"
}

t_done() {
	echo "1..$t_n"
	[ "$t_failed" = 0 ]
}

# A loopback port nobody listens on now (perl-base is on every Debian system).
t_free_port() {
	perl -MIO::Socket::INET -e 'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0)->sockport'
}

t_pg_up() {
	"$T_PGL" init "$T_TMP/pg" 5432 >/dev/null
	"$T_PGL" start "$T_TMP/pg"
	psql "$("$T_PGL" url "$T_TMP/pg" postgres)" -qc "CREATE DATABASE clawmesh"
	T_DB_URL=$("$T_PGL" url "$T_TMP/pg" clawmesh)
	export CLAWMESH_DATABASE_URL=$T_DB_URL
	"$CLAWMESHD" migrate 2>/dev/null
}

# t_wait_url URL [CURL ARGS..]: up to 15 s for URL to answer.
t_wait_url() {
	local url=$1 i
	shift
	for i in $(seq 150); do
		curl -sf -o /dev/null --max-time 1 "$@" "$url" && return 0
		sleep 0.1
	done
	return 1
}

# t_server_start NAME [ARGS..]: clawmeshd serve on a free port (T_PORT, when set, for a server
# restarted at the same URL), its log appended to $T_TMP/NAME.log; sets T_URL and T_SERVER_PID.
t_server_start() {
	local name=$1 port scheme=http curl_args=()
	shift
	port=${T_PORT:-$(t_free_port)}
	case " $* " in *" --tls-cert "*) scheme=https ;; esac
	"$CLAWMESHD" serve --listen "127.0.0.1:$port" --threads 2 "$@" >>"$T_TMP/$name.log" 2>&1 &
	T_SERVER_PID=$!
	t_pids+=($T_SERVER_PID)
	T_URL="$scheme://127.0.0.1:$port"
	[ $scheme = https ] && curl_args=(-k)
	if ! t_wait_url "$T_URL/healthz" "${curl_args[@]}"; then
		echo "# clawmeshd $name did not answer; its log:" && sed 's/^/# /' "$T_TMP/$name.log" | tail -n 20
		return 1
	fi
}

t_admin() {
	"$CLAWMESHD" token create --admin --label "deploy test" | jq -r .token
}
