-- GET's statement: the prepared SELECT of one entry (store_memory.c stmt_get).
-- Variables from bench/run.sh (-D): hash, tokid, scope=mesh, scopes=["mesh"], node=bench, no=false.
\set k random(1, 100000)
SELECT m.version, cm_memory_entry(m), CASE WHEN :no::boolean THEN m.value::text END, m.revision, floor(extract(epoch FROM m.expires_at) * 1000)::bigint FROM memory m WHERE m.scope = :scope AND m.key = 'k' || lpad(:k::text, 6, '0') AND cm_memory_live(m, now());
