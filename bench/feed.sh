#!/usr/bin/env bash
# The change feed side by side with PostgreSQL: wrk against a running clawmeshd and pgbench
# running the same statement on the same database, in one run, on a throwaway cluster.
#   bench/feed.sh [SECONDS]      (default 10 s per measurement; needs wrk, pgbench, a build in build/)
# Prints one line per measurement and the ratio clawmesh / pgbench.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
secs=${1:-10}
bin=$root/build/clawmeshd
[ -x "$bin" ] || { echo "bench: build first (meson setup build && meson compile -C build)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "bench: wrk is not installed" >&2; exit 2; }
pgbench=$(ls /usr/lib/postgresql/*/bin/pgbench 2>/dev/null | sort -V | tail -n 1)
[ -n "$pgbench" ] || pgbench=$(command -v pgbench)

tmp=$(mktemp -d /tmp/clawmesh-bench.XXXXXX)
chmod 755 "$tmp"
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	deploy/pg-local.sh destroy "$tmp/pg" >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

deploy/pg-local.sh init "$tmp/pg" 5432 >/dev/null
deploy/pg-local.sh start "$tmp/pg"
psql "$(deploy/pg-local.sh url "$tmp/pg" postgres)" -qc "CREATE DATABASE bench"
url=$(deploy/pg-local.sh url "$tmp/pg" bench)
admin=cm_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n' | head -c 43)
port=$((20000 + RANDOM % 20000))
CLAWMESH_ADMIN_TOKEN=$admin "$bin" serve --database-url "$url" --listen "127.0.0.1:$port" --access-log off \
	>"$tmp/server.log" 2>&1 &
pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done

# 20,000 changes: memory writes of about 200 bytes over 2,000 keys in four scopes.
psql "$url" -q <<'SQL'
SELECT count(*) FROM generate_series(1, 20000) i,
  LATERAL cm_memory_write('put', (ARRAY['mesh','project:a','project:b','user:u'])[1 + i % 4], 'k' || (i % 2000),
    jsonb_build_object('i', i, 'text', repeat('x', 180)), '{}', NULL, NULL, NULL, false, 'bench', 262144);
SQL
head=$(psql "$url" -Atc "SELECT max(revision) FROM changes")
since=$((head - 100))

cat >"$tmp/page.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $admin"
LUA
cat >"$tmp/put.lua" <<LUA
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("PUT", "/v1/memory/mesh/w" .. (counter % 500),
    {["Authorization"] = "Bearer $admin", ["Content-Type"] = "application/json"},
    '{"value":{"n":' .. counter .. '}}')
end
LUA

# The statements clawmeshd runs for a page of 100 changes (an admin: every scope), as pgbench runs them.
page_sql="WITH page AS (SELECT c.revision, c.kind, c.op, c.scope, c.name, c.version, c.node, c.at, %s AS sz FROM changes c WHERE c.revision > :since::bigint ORDER BY c.revision LIMIT 100), kept AS (SELECT * FROM (SELECT p.*, sum(coalesce(p.sz, 0)) OVER (ORDER BY p.revision) - coalesce(p.sz, 0) AS before FROM page p) x WHERE before < 4194304) SELECT (SELECT horizon FROM cm_feed), (SELECT max(revision) FROM changes), (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM cm_revision), (SELECT count(*) FROM page), k.revision, cm_json_append(cm_change_json(k.revision, k.kind, k.op, k.scope, k.name, k.version, k.node, k.at), %s) FROM (SELECT 1) one LEFT JOIN kept k ON true%s ORDER BY k.revision;"
size_sql="CASE c.kind WHEN 'memory' THEN (SELECT h.size FROM memory_history h WHERE h.scope = c.scope AND h.key = c.name AND h.version = c.version) ELSE 0 END"
value_sql="json_build_object('value', h.value, 'tags', h.tags, 'expires_at', cm_ts(h.expires_at))"
joins=" LEFT JOIN memory_history h ON k.kind = 'memory' AND h.scope = k.scope AND h.key = k.name AND h.version = k.version"
{ echo "\\set since $since"; printf "$page_sql\n" "0" "NULL" ""; } >"$tmp/page.sql"
{ echo "\\set since $since"; printf "$page_sql\n" "$size_sql" "$value_sql" "$joins"; } >"$tmp/page_value.sql"
cat >"$tmp/put.sql" <<'SQL'
\set k random(0, 499)
SELECT * FROM cm_memory_write('put', 'mesh', 'p' || :k::text, jsonb_build_object('n', :k::int), '{}', NULL, NULL, NULL, false, 'bench', 262144);
SQL

rps() { sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p'; }
tps() { sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1; }
# side WHAT CONNS LUA URL SQL: wrk and pgbench at CONNS connections, one row with their ratio.
side() {
	local j=$(($2 < 2 ? $2 : 2)) c p
	c=$(wrk -t$j -c"$2" -d"${secs}s" -s "$tmp/$3" "$4" | rps)
	p=$("$pgbench" -n -M prepared -c"$2" -j$j -T"$secs" -f "$tmp/$5" "$url" 2>/dev/null | tps)
	printf "%-44s %10.0f req/s %10.0f tps   %5.2fx\n" "$1, $2 conns" "$c" "$p" "$(echo "$c / $p" | bc -l)"
}

echo "== $(nproc) cores, ${secs}s each, $(psql "$url" -Atc 'SELECT count(*) FROM changes') changes"
base="http://127.0.0.1:$port"
side "page of 100 changes" 32 page.lua "$base/v1/changes?since=$since&limit=100" page.sql
side "page of 100 changes with values" 32 page.lua "$base/v1/changes?since=$since&limit=100&include=value" page_value.sql
side "memory PUT (NOTIFY included)" 1 put.lua "$base" put.sql
side "memory PUT (NOTIFY included)" 32 put.lua "$base" put.sql
c=$(wrk -t2 -c8 -d"${secs}s" -s "$tmp/page.lua" "$base/v1/stats" | rps)
echo "stats (2,000 entries in 4 scopes), 8 conns: $c req/s"
echo "server peak RSS: $(sed -n 's/^VmHWM: *//p' /proc/$pid/status)"
