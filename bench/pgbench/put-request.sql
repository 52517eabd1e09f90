-- Everything a PUT runs, the token cached (auth.c): the write, the audit row (store_audit.c, its commit not flushed).
-- Variables from bench/run.sh (-D): hash, tokid, scope=mesh, scopes=["mesh"], node=bench, no=false.
\set k random(1, 100000)
\set n random(1, 1000000000)
SELECT o_status, o_version, o_entry FROM cm_memory_write('put', :scope, 'k' || lpad(:k::text, 6, '0'), CASE WHEN 'put' = 'put' THEN (('{"value":{"n":' || :n::text || ',"text":"' || bench_text() || '"}}')::jsonb) -> 'value' END, CASE WHEN NULL::jsonb IS NOT NULL THEN cm_tags(NULL::jsonb) END, NULL::bigint, NULL::timestamptz, NULL::integer[], :no::boolean, :node, 262144::integer);
WITH async AS (SELECT set_config('synchronous_commit', 'off', true)) INSERT INTO audit (token_id, node, action, target, status, request_id, remote_addr) SELECT :tokid, :node, 'memory.put', left(:scope || '/k' || lpad(:k::text, 6, '0'), 1024), 200::smallint, 'bench' || :n::text, '127.0.0.1' FROM async;
