-- Everything a listing runs, the token cached (auth.c): the listing.
-- Variables from bench/run.sh (-D): hash, tokid, scope=mesh, scopes=["mesh"], node=bench, no=false.
\set p random(0, 999)
SELECT cm_memory_entry(t.m), t.scope, t.key, t.revision::text, t.rk::text, t.total FROM (SELECT u.*, sum(u.size) OVER w - u.size AS before, count(*) OVER () AS total FROM (SELECT m, m.scope, m.key, m.revision, m.size, 0::real AS rk FROM memory m WHERE cm_memory_live(m, now()) AND m.scope = ANY(ARRAY(SELECT jsonb_array_elements_text(:scopes::jsonb))) AND m.key LIKE 'k' || lpad(:p::text, 4, '0') || '%' ORDER BY scope, key LIMIT 51::integer) u WINDOW w AS (ORDER BY scope, key ROWS UNBOUNDED PRECEDING)) t WHERE t.before < 4194304 ORDER BY scope, key;
