-- Everything a GET runs, in its order: the token by hash (store_tokens.c stmt_by_hash), then the entry.
-- Variables from bench/run.sh (-D): hash, tokid, scope=mesh, scopes=["mesh"], node=bench, no=false.
\set k random(1, 100000)
SELECT id, label, node, admin, grants::text, cm_ts(created_at), cm_ts(expires_at), cm_ts(last_used_at), cm_ts(revoked_at), revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()), last_used_at IS NULL OR last_used_at < now() - interval '60 seconds', encode(secret_hash, 'hex'), CASE WHEN expires_at IS NOT NULL THEN greatest(0, ceil(extract(epoch FROM expires_at - now()) * 1000))::bigint END FROM tokens WHERE secret_hash = decode(:hash, 'hex');
SELECT m.version, cm_memory_entry(m), CASE WHEN :no::boolean THEN m.value::text END FROM memory m WHERE m.scope = :scope AND m.key = 'k' || lpad(:k::text, 6, '0') AND cm_memory_live(m, now());
