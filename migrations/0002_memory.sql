-- Memory: the current entries, their append-only history, the store-wide revision that orders
-- every change, the change rows the feed reads, and the audit log.

-- The store-wide revision. A writer takes cm_write_lock() before it touches anything and holds it
-- to its commit, and only then draws revisions: so revisions commit in increasing order, and a
-- reader that sees revision N already sees every committed revision below N. "revision > since"
-- can therefore never skip a committed change, however many writers run at once. (A rolled-back
-- writer leaves a gap in the numbers, never a hole in what was committed.)
CREATE SEQUENCE cm_revision AS bigint;

CREATE FUNCTION cm_write_lock() RETURNS void
LANGUAGE sql AS $$ SELECT pg_advisory_xact_lock(7316040533871625032) $$;

-- Index text for full-text search: key words weigh most, then tags, then the strings inside the
-- value. Declared immutable (array_to_string is only stable in general, but not for text[]).
CREATE FUNCTION cm_memory_tsv(key text, tags text[], value jsonb) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('english'::regconfig, translate(key, '._:@-', '     ')), 'A')
        || setweight(to_tsvector('english'::regconfig, array_to_string(tags, ' ')), 'B')
        || setweight(coalesce(jsonb_to_tsvector('english'::regconfig, value, '["string"]'), ''::tsvector), 'C')
$$;

CREATE TABLE memory (
    scope       text COLLATE "C" NOT NULL
                CHECK (scope ~ '^(mesh|(node|user|project):[a-z0-9][a-z0-9._-]{0,63})$'),
    key         text COLLATE "C" NOT NULL CHECK (key ~ '^[A-Za-z0-9_:@-][A-Za-z0-9._:@-]{0,255}$'),
    value       jsonb,              -- NULL once deleted
    size        integer NOT NULL,   -- bytes of the value's JSON text (listings cap a page by it)
    tags        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 32),
    version     integer NOT NULL CHECK (version > 0),
    revision    bigint NOT NULL,
    node        text,               -- the node whose token wrote this version
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    expires_at  timestamptz,
    deleted     boolean NOT NULL DEFAULT false,
    search      tsvector GENERATED ALWAYS AS (cm_memory_tsv(key, tags, value)) STORED,
    PRIMARY KEY (scope, key)
);
CREATE INDEX memory_revision ON memory (revision);
CREATE INDEX memory_search ON memory USING gin (search);
CREATE INDEX memory_tags ON memory USING gin (tags);

-- Every version of every key, the deletes included. Nothing updates or deletes a row here.
CREATE TABLE memory_history (
    scope       text COLLATE "C" NOT NULL,
    key         text COLLATE "C" NOT NULL,
    version     integer NOT NULL,
    op          text NOT NULL CHECK (op IN ('put', 'patch', 'delete')),
    value       jsonb,              -- NULL for a delete; the value before it is the previous version
    size        integer NOT NULL,
    tags        text[] NOT NULL,
    expires_at  timestamptz,
    node        text,
    at          timestamptz NOT NULL,
    revision    bigint NOT NULL UNIQUE,
    PRIMARY KEY (scope, key, version)
);

CREATE FUNCTION cm_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
END $$;
CREATE TRIGGER memory_history_append_only BEFORE UPDATE OR DELETE ON memory_history
    FOR EACH ROW EXECUTE FUNCTION cm_refuse_change();
CREATE TRIGGER memory_history_no_truncate BEFORE TRUNCATE ON memory_history
    FOR EACH STATEMENT EXECUTE FUNCTION cm_refuse_change();

-- One row per committed change of anything (memory now; skills and nodes later), in revision
-- order: what GET /v1/changes reads. The value, when asked for, comes from the history.
CREATE TABLE changes (
    revision    bigint PRIMARY KEY,
    kind        text NOT NULL CHECK (kind IN ('memory', 'skill', 'node')),
    op          text NOT NULL,
    scope       text COLLATE "C",
    name        text COLLATE "C" NOT NULL,  -- the memory key, skill name or node id
    version     integer,
    node        text,
    at          timestamptz NOT NULL
);

-- Who did what, when, with what outcome: writes, token operations, refused requests.
CREATE TABLE audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT clock_timestamp(),
    token_id    text,
    node        text,
    action      text NOT NULL CHECK (length(action) <= 64),
    target      text CHECK (length(target) <= 1024),
    status      smallint NOT NULL,
    request_id  text NOT NULL CHECK (length(request_id) <= 64),
    remote_addr text CHECK (length(remote_addr) <= 64)
);

-- Is the entry there at time t: written, not deleted, not expired? The one definition every read
-- and write uses (an SQL function, inlined by the planner).
CREATE FUNCTION cm_memory_live(m memory, t timestamptz) RETURNS boolean
LANGUAGE sql STABLE AS $$ SELECT NOT m.deleted AND (m.expires_at IS NULL OR m.expires_at > t) $$;

-- An entry as the API shows it, in the documented field order.
CREATE FUNCTION cm_memory_entry(m memory) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('scope', m.scope, 'key', m.key, 'value', m.value, 'tags', m.tags,
        'version', m.version, 'revision', m.revision, 'node', m.node,
        'created_at', cm_ts(m.created_at), 'updated_at', cm_ts(m.updated_at),
        'expires_at', cm_ts(m.expires_at))::text
$$;

-- RFC 7386 JSON merge patch. Done here rather than in C so that numbers keep every digit they
-- were written with (jsonb keeps numerics exact; a C double would not). Each level is rebuilt
-- in one aggregate (the target's members the patch leaves alone, then the patch's non-null
-- members), so a patch of n members on an object of m costs O((n + m) log), never a copy of the
-- object per member.
CREATE FUNCTION cm_merge_patch(target jsonb, patch jsonb) RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    base jsonb;
BEGIN
    IF jsonb_typeof(patch) IS DISTINCT FROM 'object' THEN
        RETURN patch;
    END IF;
    base := CASE WHEN jsonb_typeof(target) = 'object' THEN target ELSE '{}'::jsonb END;
    RETURN coalesce((SELECT jsonb_object_agg(m.key, m.value) FROM (
                SELECT b.key, b.value FROM jsonb_each(base) b WHERE NOT patch ? b.key
                UNION ALL
                SELECT e.key, CASE WHEN jsonb_typeof(e.value) = 'object'
                                   THEN cm_merge_patch(base -> e.key, e.value) ELSE e.value END
                FROM jsonb_each(patch) e WHERE jsonb_typeof(e.value) <> 'null') m), '{}'::jsonb);
END $$;

-- Tags from a JSON array of strings: duplicates dropped, first occurrence's order kept.
CREATE FUNCTION cm_tags(j jsonb) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(array_agg(t ORDER BY i), '{}')
    FROM (SELECT t, min(i) AS i FROM jsonb_array_elements_text(coalesce(j, '[]')) WITH ORDINALITY a(t, i)
          GROUP BY t) d
$$;

-- One write: put, patch (p_value is the merge patch) or delete, with its preconditions.
-- p_if_match: NULL = none; else the versions If-Match names, 0 standing for "*" (must exist);
-- an empty array can never match.
-- o_status: created | updated | unchanged | deleted  (done), or
--           already_exists | version_mismatch | not_found | too_large | bad_expiry (refused;
--           nothing written). o_version is the current version where there is one.
-- What needs no current state (the size of a put's value or of a patch) is checked before the
-- write lock is taken, so no writer waits behind an oversized request.
CREATE FUNCTION cm_memory_write(p_op text, p_scope text, p_key text, p_value jsonb, p_tags text[],
    p_ttl bigint, p_expires_at timestamptz, p_if_match integer[], p_if_none_match boolean,
    p_node text, p_max_size integer)
RETURNS TABLE (o_status text, o_version integer, o_entry text)
LANGUAGE plpgsql AS $$
DECLARE
    cur memory%ROWTYPE;
    written memory%ROWTYPE;
    live boolean;
    t timestamptz;
    val jsonb;
    sz integer;
    tg text[];
    exp timestamptz;
    rev bigint;
BEGIN
    sz := CASE WHEN p_op IN ('put', 'patch') THEN octet_length(p_value::text) END;
    IF sz > p_max_size THEN
        RETURN QUERY SELECT 'too_large'::text, NULL::integer, NULL::text;
        RETURN;
    END IF;
    PERFORM cm_write_lock();
    t := clock_timestamp();
    SELECT * INTO cur FROM memory m WHERE m.scope = p_scope AND m.key = p_key FOR UPDATE;
    live := FOUND AND cm_memory_live(cur, t);
    IF p_if_none_match AND live THEN
        RETURN QUERY SELECT 'already_exists'::text, cur.version, NULL::text;
        RETURN;
    END IF;
    IF p_if_match IS NOT NULL AND NOT (live AND (0 = ANY(p_if_match) OR cur.version = ANY(p_if_match))) THEN
        RETURN QUERY SELECT 'version_mismatch'::text, CASE WHEN live THEN cur.version END, NULL::text;
        RETURN;
    END IF;
    IF p_op = 'put' THEN
        val := p_value;
        tg := coalesce(p_tags, '{}');
        exp := CASE WHEN p_ttl IS NOT NULL THEN t + make_interval(secs => p_ttl) ELSE p_expires_at END;
        -- In the future, and within the ttl's ten years (so it always prints as a 4-digit year).
        IF exp <= t OR exp > t + interval '3650 days' THEN
            RETURN QUERY SELECT 'bad_expiry'::text, CASE WHEN live THEN cur.version END, NULL::text;
            RETURN;
        END IF;
    ELSIF NOT live THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::integer, NULL::text;
        RETURN;
    ELSIF p_op = 'patch' THEN
        val := cm_merge_patch(cur.value, p_value);
        tg := cur.tags;
        exp := cur.expires_at;
    ELSE
        val := NULL;
        tg := cur.tags;
        exp := NULL;
    END IF;
    sz := CASE WHEN p_op = 'put' THEN sz ELSE coalesce(octet_length(val::text), 0) END;
    IF sz > p_max_size THEN
        RETURN QUERY SELECT 'too_large'::text, cur.version, NULL::text;
        RETURN;
    END IF;
    -- Writing exactly what is there changes nothing: no version, no revision, no change row.
    IF p_op <> 'delete' AND live AND cur.value = val AND cur.tags = tg
            AND cur.expires_at IS NOT DISTINCT FROM exp THEN
        RETURN QUERY SELECT 'unchanged'::text, cur.version, cm_memory_entry(cur);
        RETURN;
    END IF;

    rev := nextval('cm_revision');
    INSERT INTO memory AS m (scope, key, value, size, tags, version, revision, node, created_at,
                             updated_at, expires_at, deleted)
    VALUES (p_scope, p_key, val, sz, tg, coalesce(cur.version, 0) + 1, rev, p_node, t, t, exp,
            p_op = 'delete')
    ON CONFLICT (scope, key) DO UPDATE SET
        value = EXCLUDED.value, size = EXCLUDED.size, tags = EXCLUDED.tags,
        version = EXCLUDED.version, revision = EXCLUDED.revision, node = EXCLUDED.node,
        created_at = CASE WHEN live THEN m.created_at ELSE EXCLUDED.created_at END,
        updated_at = EXCLUDED.updated_at, expires_at = EXCLUDED.expires_at,
        deleted = EXCLUDED.deleted
    RETURNING * INTO written;
    INSERT INTO memory_history (scope, key, version, op, value, size, tags, expires_at, node, at, revision)
    VALUES (p_scope, p_key, written.version, p_op, val, sz, tg, exp, p_node, t, rev);
    INSERT INTO changes (revision, kind, op, scope, name, version, node, at)
    VALUES (rev, 'memory', p_op, p_scope, p_key, written.version, p_node, t);
    RETURN QUERY SELECT CASE WHEN p_op = 'delete' THEN 'deleted' WHEN live THEN 'updated'
                        ELSE 'created' END, written.version, cm_memory_entry(written);
END $$;

-- A batch, already validated op by op by the server: runs the ops in order and stops at the
-- first one refused (its row is the last returned). The caller commits only if none was.
-- if_match arrives as a number or as a string ("3", "\"3\"", "*"); numbers may be written 3.0.
CREATE FUNCTION cm_memory_batch(p_ops jsonb, p_node text, p_max_size integer)
RETURNS TABLE (o_index integer, o_status text, o_version integer, o_entry text)
LANGUAGE plpgsql AS $$
DECLARE
    op jsonb;
    i integer;
    im text;
    r record;
BEGIN
    FOR op, i IN SELECT a.value, a.ord - 1 FROM jsonb_array_elements(p_ops) WITH ORDINALITY a(value, ord)
                 ORDER BY a.ord LOOP
        o_index := i;
        IF op ->> 'op' = 'get' THEN
            SELECT m.version, cm_memory_entry(m) INTO o_version, o_entry FROM memory m
            WHERE m.scope = op ->> 'scope' AND m.key = op ->> 'key' AND cm_memory_live(m, clock_timestamp());
            o_status := CASE WHEN FOUND THEN 'found' ELSE 'not_found' END;
            RETURN NEXT;
            IF o_status = 'not_found' THEN
                RETURN;
            END IF;
            CONTINUE;
        END IF;
        im := btrim(op ->> 'if_match', '"');
        SELECT * INTO r FROM cm_memory_write(op ->> 'op', op ->> 'scope', op ->> 'key', op -> 'value',
            CASE WHEN op ? 'tags' THEN cm_tags(op -> 'tags') END,
            (op ->> 'ttl')::numeric::bigint, (op ->> 'expires_at')::timestamptz,
            CASE WHEN im IS NULL THEN NULL WHEN im = '*' THEN ARRAY[0] ELSE ARRAY[im::numeric::integer] END,
            coalesce(op ->> 'if_none_match' = '*', false), p_node, p_max_size);
        o_status := r.o_status;
        o_version := r.o_version;
        o_entry := r.o_entry;
        RETURN NEXT;
        IF o_status NOT IN ('created', 'updated', 'unchanged', 'deleted') THEN
            RETURN;
        END IF;
    END LOOP;
END $$;
