-- PUT's statement: cm_memory_write with the write lock, a new version of a random key (store_memory.c stmt_write).
-- Variables from bench/run.sh (-D): hash, tokid, scope=mesh, scopes=["mesh"], node=bench, no=false.
\set k random(1, 100000)
\set n random(1, 1000000000)
SELECT o_status, o_version, o_entry FROM cm_memory_write('put', :scope, 'k' || lpad(:k::text, 6, '0'), CASE WHEN 'put' = 'put' THEN (('{"value":{"n":' || :n::text || ',"text":"' || bench_text() || '"}}')::jsonb) -> 'value' END, CASE WHEN NULL::jsonb IS NOT NULL THEN cm_tags(NULL::jsonb) END, NULL::bigint, NULL::timestamptz, NULL::integer[], :no::boolean, :node, 262144::integer);
