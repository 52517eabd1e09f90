#!/usr/bin/env bash
# The benchmark suite (issue 7), one command: clawmeshd side by side with pgbench running the same
# SQL and with etcd, on a throwaway PostgreSQL cluster and etcd of its own, loopback only.
#   bench/run.sh
# Environment: BENCH_SECONDS (per point, default 5, at most 10), BENCH_CONNS ("1 8 32"),
# BENCH_POINTS ("get put list search"), BENCH_POLLS (parked long-polls, 1000), BENCH_THREADS
# (clawmeshd --threads, default: cores), BENCH_BUILD (a release build dir, build-bench),
# BENCH_CACHE_MB (clawmeshd --cache-mb, default 2), BENCH_OUT (also write the Markdown report to this file).
# Prints one Markdown report on stdout (progress on stderr). docs/performance.md says what each
# figure means. Ports 19601 (the cluster's socket name), 19610 (clawmeshd), 19620-19621 (etcd).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

secs=${BENCH_SECONDS:-5}
conns=${BENCH_CONNS:-1 8 32}
points=${BENCH_POINTS:-get put list search}
polls=${BENCH_POLLS:-1000}
threads=${BENCH_THREADS:-$(nproc)}
build=${BENCH_BUILD:-build-bench}
pg_port=19601 cm_port=19610 etcd_port=19620 etcd_peer=19621
entries=100000
if ! [[ $secs =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ] || [ "$secs" -gt 10 ]; then
	echo "bench: BENCH_SECONDS is 1 to 10" >&2
	exit 2
fi

say() { echo "bench: $*" >&2; }

# --- what it needs, from Debian when missing -----------------------------------------------------
missing=()
for p in wrk etcd-server etcd-client postgresql perl curl; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	say "installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -q >&2
	$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
deploy/install-deps.sh --build >&2
pgbench=$(ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbench" ] || pgbench=$(command -v pgbench)

# --- a release build of its own (the default `meson setup build` is debugoptimized) --------------
if [ ! -f "$build/build.ninja" ]; then
	meson setup "$build" --buildtype=release -Dtests=false -Dbench=true >/dev/null
fi
meson compile -C "$build" >/dev/null
bin=$root/$build/clawmeshd
fanout=$root/$build/bench/fanout

for p in $cm_port $etcd_port $etcd_peer; do
	if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
		echo "bench: port $p is in use (another run?)" >&2
		exit 1
	fi
done
[ "$(ulimit -n)" -ge $((polls + 256)) ] || ulimit -n $((polls + 256))

# --- everything it starts lives in $tmp and goes at exit ---------------------------------------
tmp=$(mktemp -d /tmp/clawmesh-bench.XXXXXX)
chmod 755 "$tmp" # the cluster runs as postgres when we are root
cm_pid='' etcd_pid=''
cleanup() {
	[ -z "$cm_pid" ] || { kill "$cm_pid" && wait "$cm_pid"; } 2>/dev/null || true
	[ -z "$etcd_pid" ] || { kill "$etcd_pid" && wait "$etcd_pid"; } 2>/dev/null || true
	deploy/pg-local.sh destroy "$tmp/pg" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
started=$(date +%s)

# --- PostgreSQL, as the tests run it (durable: fsync and synchronous_commit at their default, on)
deploy/pg-local.sh init "$tmp/pg" $pg_port >/dev/null
deploy/pg-local.sh start "$tmp/pg"
psql "$(deploy/pg-local.sh url "$tmp/pg" postgres)" -qc "CREATE DATABASE clawmesh"
url=$(deploy/pg-local.sh url "$tmp/pg" clawmesh)
"$bin" migrate --database-url "$url" 2>/dev/null
say "loading $entries entries through cm_memory_write"
t0=$(date +%s.%N)
psql "$url" -q -v ON_ERROR_STOP=1 -f bench/load.sql >/dev/null
load_s=$(echo "$(date +%s.%N) - $t0" | bc)
psql "$url" -qc "VACUUM ANALYZE" -c "CHECKPOINT"
[ "$(psql "$url" -Atc "SELECT count(*) FROM memory")" = $entries ] || { echo "bench: load failed" >&2; exit 1; }

# --- clawmeshd, and a real token: a node's, rw on mesh, as an agent has -----------------------
admin=cm_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | head -c 43)
token=$("$bin" token create --database-url "$url" --node bench --label bench --grant mesh:rw 2>/dev/null |
	sed -n 's/.*"token":[[:space:]]*"\(cm_[A-Za-z0-9_-]*\)".*/\1/p')
[ -n "$token" ] || { echo "bench: token create failed" >&2; exit 1; }
tok_hash=$(psql "$url" -Atc "SELECT encode(secret_hash, 'hex') FROM tokens WHERE label = 'bench'")
tok_id=$(psql "$url" -Atc "SELECT id FROM tokens WHERE label = 'bench'")
CLAWMESH_ADMIN_TOKEN=$admin "$bin" serve --database-url "$url" --listen "127.0.0.1:$cm_port" --access-log off \
	--threads "$threads" --cache-mb "${BENCH_CACHE_MB:-2}" >"$tmp/server.log" 2>&1 &
cm_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$cm_port/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$cm_port/healthz" >/dev/null || { cat "$tmp/server.log" >&2; exit 1; }
rss_start=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$cm_pid/status)

# --- etcd: Debian's, default (durable) settings, its own data dir, loaded with the same data ----
etcd --name bench --data-dir "$tmp/etcd" --listen-client-urls "http://127.0.0.1:$etcd_port" \
	--advertise-client-urls "http://127.0.0.1:$etcd_port" --listen-peer-urls "http://127.0.0.1:$etcd_peer" \
	--initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" --initial-cluster "bench=http://127.0.0.1:$etcd_peer" \
	>"$tmp/etcd.log" 2>&1 &
etcd_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$etcd_port/health" >/dev/null 2>&1 && break; sleep 0.1; done
etcd_api=
for api in /v3 /v3beta; do # the gateway's prefix: /v3 from etcd 3.4 on, /v3beta in 3.3
	if curl -sf -X POST -d '{"key":"eA=="}' "http://127.0.0.1:$etcd_port$api/kv/range" >/dev/null 2>&1; then
		etcd_api=$api
		break
	fi
done
[ -n "$etcd_api" ] || { cat "$tmp/etcd.log" >&2; exit 1; }
say "loading etcd"
bench/etcd-load.pl "http://127.0.0.1:$etcd_port$etcd_api" $entries

# --- the runners -----------------------------------------------------------------------------
export BENCH_DIR=$root/bench BENCH_TOKEN=$token ETCD_API=$etcd_api
declare -A R # R[point/conns/system] = "req/s p50_ms p99_ms"
bad=()

kv() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; } # NAME "a=1 b=2"
ms() { printf '%.2f' "$(echo "scale=3; ${1:-0} / 1000" | bc)"; } # µs -> ms

wrk_point() { # KEY SCRIPT CONNS URL
	local t=$(($3 < 2 ? $3 : 2)) out
	out=$(timeout $((secs + 30)) wrk -t"$t" -c"$3" -d"${secs}s" -s "bench/$2.lua" "$4" | sed -n 's/^RESULT //p') || true
	local st so
	st=$(kv status_errors "$out") so=$(kv socket_errors "$out")
	[ "${st:-1}" = 0 ] && [ "${so:-1}" = 0 ] || bad+=("$1: wrk saw ${st:-?} non-2xx answers and ${so:-?} socket errors")
	# wrk's latencies, added up, past its connections' wall time: its percentiles are not real.
	# (Seen for PUT: one connection, 8 s, latencies adding up to 16 s; docs/performance.md.)
	local busy wall
	busy=$(kv busy_s "$out") wall=$(echo "scale=2; ${3} * $(kv duration_s "$out")" | bc)
	if [ -n "$busy" ] && [ "$(echo "$busy > $wall * 1.10" | bc)" = 1 ]; then
		bad+=("$1: wrk's latencies add up to $busy s over $wall s of its connections' time: its p50/p99 are not trustworthy here")
	fi
	R[$1]="$(kv rps "$out") $(ms "$(kv p50_us "$out")") $(ms "$(kv p99_us "$out")")"
}

pgbench_point() { # KEY SCRIPT CONNS MODE
	local j=$(($3 < 2 ? $3 : 2))
	rm -f "$tmp"/pgblog*
	if ! timeout $((secs + 30)) "$pgbench" -n -M "$4" -T "$secs" -c "$3" -j "$j" --log --log-prefix="$tmp/pgblog" \
		-D hash="$tok_hash" -D tokid="$tok_id" -D scope=mesh -D 'scopes=["mesh"]' -D node=bench -D no=false \
		-f "bench/pgbench/$2.sql" "$url" >"$tmp/pgbench.out" 2>&1; then
		bad+=("$1: pgbench failed: $(tail -n 1 "$tmp/pgbench.out")")
		R[$1]="0 0 0"
		return
	fi
	local tps failed
	tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$tmp/pgbench.out" | head -n 1)
	failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$tmp/pgbench.out")
	[ "${failed:-0}" = 0 ] || bad+=("$1: $failed failed pgbench transactions")
	# Percentiles from the per-transaction log (column 3: the latency in µs).
	cat "$tmp"/pgblog* | awk '{print $3}' | sort -n >"$tmp/lat"
	local n p50 p99
	n=$(wc -l <"$tmp/lat")
	p50=$(sed -n "$(((n + 1) / 2))p" "$tmp/lat")
	p99=$(sed -n "$(((n * 99 + 99) / 100))p" "$tmp/lat")
	R[$1]="$tps $(ms "$p50") $(ms "$p99")"
}

# The server's prepared statements run prepared; the listings, which it assembles per request
# and sends unnamed (parsed and planned each time), run as it sends them.
mode_of() { case $1 in list | search) echo extended ;; *) echo prepared ;; esac; }

# The pgbench "whole request" scripts must run what the server runs: log one request of each
# kind, count the statements its worker's backend executed (the token touch, once a minute, aside)
# and compare with the script. A difference means bench/pgbench/ is stale after a server change.
declare -A NST # statements the server ran per request, by point
pglog=$tmp/pg/postgres.log
psql "$url" -qc "ALTER SYSTEM SET log_statement = 'all'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 0.2
count_statements() { # POINT CURL-ARGS...
	local p=$1 from
	shift
	from=$(($(wc -l <"$pglog") + 1))
	curl -sf -o /dev/null -H "Authorization: Bearer $token" "$@" || bad+=("$p: the sample request failed")
	sleep 0.2
	local backend
	# The request's backend runs the first statement; the feed hub's reads come after a commit.
	backend=$(tail -n +"$from" "$pglog" | grep -E 'LOG:  (execute|statement)' | head -n 1 | sed -n 's/^[^[]*\[\([0-9]*\)\].*/\1/p')
	NST[$p]=$(tail -n +"$from" "$pglog" | grep -E "\[$backend\] LOG:  (execute|statement)" | grep -vc 'SET last_used_at' || true)
	# A single-entry write is not run by the worker's backend but by the group committer's
	# (server/group.c), in a group of one here: count it with the request's statements.
	NST[$p]=$((NST[$p] + $(tail -n +"$from" "$pglog" | grep -E 'LOG:  (execute|statement)' | grep -c 'cm_memory_write_group' || true)))
	local script
	script=$(grep -vc '^\(--\|\\\)' "bench/pgbench/$p-request.sql")
	[ "${NST[$p]}" = "$script" ] ||
		bad+=("$p: the server ran ${NST[$p]} statements for one request, bench/pgbench/$p-request.sql has $script: update it")
}
base=http://127.0.0.1:$cm_port
# The token is looked up once, then cached (auth.c): the scripts count the steady state.
curl -sf -o /dev/null -H "Authorization: Bearer $token" "$base/v1/whoami" || bad+=("whoami failed")
count_statements get "$base/v1/memory/mesh/k000002"
count_statements put -X PUT -H 'Content-Type: application/json' -d '{"value":{"n":0,"text":"sample"}}' "$base/v1/memory/mesh/k000002"
count_statements list "$base/v1/memory?scope=mesh&prefix=k0001&limit=50"
count_statements search "$base/v1/memory?scope=mesh&limit=50&q=tavune"
psql "$url" -qc "ALTER SYSTEM RESET log_statement" -c "SELECT pg_reload_conf()" >/dev/null

say "warming up"
timeout 30 wrk -t2 -c8 -d1s -s bench/get.lua "http://127.0.0.1:$cm_port" >/dev/null
for p in $points; do
	for c in $conns; do
		wrk_point "$p/$c/cm" "$p" "$c" "http://127.0.0.1:$cm_port"
		pgbench_point "$p/$c/pg" "$p" "$c" "$(mode_of "$p")"
		pgbench_point "$p/$c/pgr" "$p-request" "$c" "$(mode_of "$p")"
		case $p in get | put) wrk_point "$p/$c/etcd" "etcd-$p" "$c" "http://127.0.0.1:$etcd_port" ;; esac
		say "$p $c: clawmesh ${R[$p/$c/cm]%%.*} req/s, pgbench ${R[$p/$c/pg]%%.*} / ${R[$p/$c/pgr]%%.*} tps${R[$p/$c/etcd]:+, etcd ${R[$p/$c/etcd]%%.*} req/s}"
	done
done

# --- the change feed's fan-out ---------------------------------------------------------------
say "fan-out: $polls parked long-polls, one write"
hwm_before=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$cm_pid/status)
head_rev=$(psql "$url" -Atc "SELECT coalesce(max(revision), 0) FROM changes")
fan=$(BENCH_ADMIN=$admin timeout 90 "$fanout" $cm_port $cm_pid "$head_rev" "$polls" k000001) ||
	bad+=("fan-out: ${fan:-failed}")
hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$cm_pid/status)
rss_end=$(sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' /proc/$cm_pid/status)
# The caches' counters over the whole run (cache.c): how many GETs the entry cache answered.
cache_line=$(curl -sf -H "Authorization: Bearer $admin" "http://127.0.0.1:$cm_port/metrics" | awk '
	/^clawmesh_cache_lookups_total/ { split($1, a, /"/); n[a[2] "/" a[4]] = $2 }
	/^clawmesh_cache_memory_entries/ { e = $2 } /^clawmesh_cache_memory_bytes/ { b = $2 }
	END { m = n["memory/hit"] + n["memory/miss"]; t = n["token/hit"] + n["token/miss"]
	      printf "memory entries %d of %d lookups hit (%.0f %%), %d entries in %.1f MiB at the end; tokens %d of %d hit",
	      n["memory/hit"], m, m ? 100 * n["memory/hit"] / m : 0, e, b / 1048576, n["token/hit"], t }') || cache_line="(no /metrics)"
kill -0 $cm_pid || bad+=("clawmeshd died")

# --- the report ------------------------------------------------------------------------------
mib() { printf '%.1f' "$(echo "scale=2; ${1:-0} / 1024" | bc)"; }
ratio() { [ -n "$2" ] && [ "$(echo "$2 > 0" | bc)" = 1 ] && echo "scale=2; $1 / $2" | bc | sed 's/^\./0./' || echo "n/a"; }
field() { echo "${R[$1]:-}" | cut -d' ' -f"$2"; }
fv() { kv "$1" "$fan"; }
report() {
	echo "## clawmesh benchmark, $(date -u +'%Y-%m-%d %H:%M UTC')"
	echo
	echo "- machine: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)), $(uname -sr)"
	echo "- clawmeshd $("$bin" --version 2>&1 | head -n 1) ($(git rev-parse --short HEAD 2>/dev/null || echo '?'), release build, $threads threads, access log off, plain HTTP on loopback);" \
		"$("$pgbench" --version | sed 's/pgbench (PostgreSQL) /PostgreSQL /') (pg-local.sh settings: fsync and synchronous_commit on);" \
		"etcd $(etcd --version | sed -n 's/^etcd Version: //p') (gateway $etcd_api, default settings); $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2)"
	echo "- data: $entries entries of ~200-byte values in scope mesh, loaded through cm_memory_write in ${load_s%.*} s; etcd the same keys and value size"
	echo "- ${secs} s a point; wrk and pgbench with min(conns, 2) threads, on the same $(nproc) cores as the servers"
	echo
	echo "| point | conns | clawmesh req/s | p50 ms | p99 ms | pgbench tps (same SQL) | p50 ms | p99 ms | pgbench tps (whole request) | p99 ms | etcd req/s | p50 ms | p99 ms | × pgbench | × pgbench whole | × etcd |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for p in $points; do
		for c in $conns; do
			local k=$p/$c e="-" ep50="-" ep99="-" xe="-"
			if [ -n "${R[$k/etcd]:-}" ]; then
				e=$(field "$k/etcd" 1 | cut -d. -f1) ep50=$(field "$k/etcd" 2) ep99=$(field "$k/etcd" 3)
				xe=$(ratio "$(field "$k/cm" 1)" "$(field "$k/etcd" 1)")
			fi
			echo "| $p | $c | $(field "$k/cm" 1 | cut -d. -f1) | $(field "$k/cm" 2) | $(field "$k/cm" 3)" \
				"| $(field "$k/pg" 1 | cut -d. -f1) | $(field "$k/pg" 2) | $(field "$k/pg" 3)" \
				"| $(field "$k/pgr" 1 | cut -d. -f1) | $(field "$k/pgr" 3) | $e | $ep50 | $ep99" \
				"| $(ratio "$(field "$k/cm" 1)" "$(field "$k/pg" 1)") | $(ratio "$(field "$k/cm" 1)" "$(field "$k/pgr" 1)") | $xe |"
		done
	done
	echo
	echo "- clawmeshd RSS: $(mib "$rss_start") MiB after start, $(mib "$rss_end") MiB at the end; peak (VmHWM) $(mib "$hwm_before") MiB before the fan-out, **$(mib "$hwm") MiB over the whole run**"
	if [ -n "$(fv polls)" ]; then
		local tck idle
		tck=$(fv clk_tck) idle=$(fv idle_ticks)
		echo "- fan-out: $(fv polls) long-polls parked in $(fv park_ms) ms; RSS $(mib "$(fv rss_before_kib)") → $(mib "$(fv rss_parked_kib)") MiB" \
			"(**+$(mib $(($(fv rss_parked_kib) - $(fv rss_before_kib)))) MiB**); CPU while parked: $idle ticks of 1/$tck s in $(fv idle_s) s;" \
			"one write (answered in $(fv write_ms) ms) reached the first poll in $(fv first_ms) ms, half in $(fv p50_ms) ms, **all $(fv answered) in $(fv all_ms) ms**"
	fi
	echo "- caches (\`--cache-mb ${BENCH_CACHE_MB:-2}\`): $cache_line"
	echo "- statements clawmeshd ran per request (pgbench's whole-request scripts run the same): $(for p in get put list search; do printf '%s %s, ' "$p" "${NST[$p]:-?}"; done | sed 's/, $//')"
	echo "- whole run: $(($(date +%s) - started)) s"
	for b in "${bad[@]}"; do echo "- **problem**: $b"; done
}
if [ -n "${BENCH_OUT:-}" ]; then report | tee "$BENCH_OUT"; else report; fi
[ ${#bad[@]} = 0 ]
