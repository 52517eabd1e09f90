-- Skills (immutable, numbered versions of a SKILL.md), the node registry, and the bridge's
-- last-write-wins memory write. Every change takes cm_write_lock() and draws its revision from
-- cm_revision, like memory (0002), so the change rows of all three kinds share one commit order.

-- Is scope among what a caller reads: everything, one of the exact scopes, or under a prefix?
-- (No sub-SELECT, so the planner inlines it into the queries that filter by it.)
CREATE FUNCTION cm_scope_in(p_scope text, p_all boolean, p_exact text[], p_prefixes text[]) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT p_all OR p_scope = ANY(p_exact) OR p_scope ^@ ANY(p_prefixes)
$$;

-- Search text of a skill version: the name weighs most, then the description, then the content
-- (its first 256 KiB, which keeps the tsvector under PostgreSQL's 1 MiB limit whatever
-- --max-value allows).
CREATE FUNCTION cm_skill_tsv(name text, description text, content text) RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT setweight(to_tsvector('english'::regconfig, translate(name, '-', ' ')), 'A')
        || setweight(to_tsvector('english'::regconfig, coalesce(description, '')), 'B')
        || setweight(to_tsvector('english'::regconfig, left(content, 262144)), 'C')
$$;

-- One row per skill: which version is the latest and whether the skill is deleted.
CREATE TABLE skills (
    scope       text COLLATE "C" NOT NULL
                CHECK (scope ~ '^(mesh|(node|user|project):[a-z0-9][a-z0-9._-]{0,63})$'),
    name        text COLLATE "C" NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9-]{0,63}$'),
    version     integer NOT NULL CHECK (version > 0),
    node        text,              -- who published the latest version (a node's skills, ?node=)
    revision    bigint NOT NULL,   -- of the last change: a publish or the delete
    deleted     boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (scope, name)
);
CREATE INDEX skills_node ON skills (node);

-- Every version ever published, exactly as published. Nothing updates or deletes a row here.
CREATE TABLE skill_versions (
    scope       text COLLATE "C" NOT NULL,
    name        text COLLATE "C" NOT NULL,
    version     integer NOT NULL CHECK (version > 0),
    content     text NOT NULL,
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size        integer NOT NULL,
    description text,
    tags        text[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 32),
    metadata    jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    node        text,
    created_at  timestamptz NOT NULL,  -- the skill's, when this version was published
    at          timestamptz NOT NULL,
    revision    bigint NOT NULL UNIQUE,
    search      tsvector GENERATED ALWAYS AS (cm_skill_tsv(name, description, content)) STORED,
    PRIMARY KEY (scope, name, version),
    FOREIGN KEY (scope, name) REFERENCES skills
);
CREATE INDEX skill_versions_sha256 ON skill_versions (sha256);
CREATE INDEX skill_versions_search ON skill_versions USING gin (search);
CREATE TRIGGER skill_versions_append_only BEFORE UPDATE OR DELETE ON skill_versions
    FOR EACH ROW EXECUTE FUNCTION cm_refuse_change();
CREATE TRIGGER skill_versions_no_truncate BEFORE TRUNCATE ON skill_versions
    FOR EACH STATEMENT EXECUTE FUNCTION cm_refuse_change();

-- A version as the API shows it, in the documented field order, with its content when content
-- is not null. Reads pass the columns, never the row: a skill_versions row carries its search
-- vector, and detoasting it for every rendered version cost two thirds of a skill GET. One
-- SELECT without FROM, so the planner inlines it (a subquery made the same GET 2.3x slower).
CREATE FUNCTION cm_skill_json(scope text, name text, version integer, description text, sha256 text,
    size integer, tags text[], metadata jsonb, node text, created_at timestamptz, at timestamptz, content text)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN content IS NULL
        THEN json_build_object('scope', scope, 'name', name, 'version', version, 'description', description,
            'sha256', sha256, 'size', size, 'tags', tags, 'metadata', metadata, 'node', node,
            'created_at', cm_ts(created_at), 'updated_at', cm_ts(at))
        ELSE json_build_object('scope', scope, 'name', name, 'version', version, 'description', description,
            'sha256', sha256, 'size', size, 'tags', tags, 'metadata', metadata, 'node', node,
            'created_at', cm_ts(created_at), 'updated_at', cm_ts(at), 'content', content)
    END::text
$$;

CREATE FUNCTION cm_skill_entry(v skill_versions) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT cm_skill_json(v.scope, v.name, v.version, v.description, v.sha256, v.size, v.tags, v.metadata,
                         v.node, v.created_at, v.at, NULL)
$$;

-- Publish (p_op 'put') or delete a skill, with the same preconditions as memory.
-- o_status: created | updated (a new version) | unchanged (the same sha256 as the live latest
-- version: nothing written) | deleted, or already_exists | version_mismatch | not_found |
-- too_large (refused, nothing written). o_skill is the version without its content.
CREATE FUNCTION cm_skill_write(p_op text, p_scope text, p_name text, p_content text, p_description text,
    p_tags text[], p_metadata jsonb, p_if_match integer[], p_if_none_match boolean, p_node text,
    p_max_size integer)
RETURNS TABLE (o_status text, o_version integer, o_skill text)
LANGUAGE plpgsql AS $$
DECLARE
    cur skills%ROWTYPE;
    latest skill_versions%ROWTYPE;
    written skill_versions%ROWTYPE;
    live boolean;
    t timestamptz;
    h text;
    created timestamptz;
    rev bigint;
BEGIN
    IF p_op = 'put' AND octet_length(p_content) > p_max_size THEN
        RETURN QUERY SELECT 'too_large'::text, NULL::integer, NULL::text;
        RETURN;
    END IF;
    -- Hashed before the lock: no writer waits while a large content is digested.
    h := CASE WHEN p_op = 'put' THEN encode(sha256(convert_to(p_content, 'UTF8')), 'hex') END;
    PERFORM cm_write_lock();
    t := clock_timestamp();
    SELECT * INTO cur FROM skills s WHERE s.scope = p_scope AND s.name = p_name FOR UPDATE;
    live := FOUND AND NOT cur.deleted;
    IF p_if_none_match AND live THEN
        RETURN QUERY SELECT 'already_exists'::text, cur.version, NULL::text;
        RETURN;
    END IF;
    IF p_if_match IS NOT NULL AND NOT (live AND (0 = ANY(p_if_match) OR cur.version = ANY(p_if_match))) THEN
        RETURN QUERY SELECT 'version_mismatch'::text, CASE WHEN live THEN cur.version END, NULL::text;
        RETURN;
    END IF;
    IF p_op = 'delete' THEN
        IF NOT live THEN
            RETURN QUERY SELECT 'not_found'::text, NULL::integer, NULL::text;
            RETURN;
        END IF;
        rev := nextval('cm_revision');
        UPDATE skills s SET deleted = true, revision = rev, updated_at = t
        WHERE s.scope = p_scope AND s.name = p_name;
        INSERT INTO changes (revision, kind, op, scope, name, version, node, at)
        VALUES (rev, 'skill', 'delete', p_scope, p_name, cur.version, p_node, t);
        RETURN QUERY SELECT 'deleted'::text, cur.version, NULL::text;
        RETURN;
    END IF;
    IF live THEN
        SELECT * INTO latest FROM skill_versions v
        WHERE v.scope = p_scope AND v.name = p_name AND v.version = cur.version;
        IF latest.sha256 = h THEN
            RETURN QUERY SELECT 'unchanged'::text, cur.version, cm_skill_entry(latest);
            RETURN;
        END IF;
    END IF;
    rev := nextval('cm_revision');
    INSERT INTO skills AS s (scope, name, version, node, revision, deleted, created_at, updated_at)
    VALUES (p_scope, p_name, coalesce(cur.version, 0) + 1, p_node, rev, false, t, t)
    ON CONFLICT (scope, name) DO UPDATE SET
        version = EXCLUDED.version, node = EXCLUDED.node, revision = EXCLUDED.revision, deleted = false,
        created_at = CASE WHEN live THEN s.created_at ELSE EXCLUDED.created_at END,
        updated_at = EXCLUDED.updated_at
    RETURNING s.created_at INTO created;
    INSERT INTO skill_versions (scope, name, version, content, sha256, size, description, tags,
                                metadata, node, created_at, at, revision)
    VALUES (p_scope, p_name, coalesce(cur.version, 0) + 1, p_content, h, octet_length(p_content),
            p_description, coalesce(p_tags, '{}'), coalesce(p_metadata, '{}'), p_node, created, t, rev)
    RETURNING * INTO written;
    INSERT INTO changes (revision, kind, op, scope, name, version, node, at)
    VALUES (rev, 'skill', 'put', p_scope, p_name, written.version, p_node, t);
    RETURN QUERY SELECT CASE WHEN live THEN 'updated' ELSE 'created' END, written.version,
                        cm_skill_entry(written);
END $$;

-- The registry of nodes (OpenClaw gateways): what each says it can do, and when it was last heard.
CREATE TABLE nodes (
    id           text COLLATE "C" PRIMARY KEY CHECK (id ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 128),
    description  text,
    capabilities text[] NOT NULL DEFAULT '{}' CHECK (cardinality(capabilities) <= 64),
    endpoint     text,
    meta         jsonb,
    version      integer NOT NULL CHECK (version > 0),
    revision     bigint NOT NULL,
    node         text,               -- the node whose token wrote this version (null: an admin's)
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL
);

-- A node as the API shows it, with the skills the caller may see of it (the statements compute
-- them: a sub-SELECT in here would stop the planner from inlining the function, and a node
-- view then cost 2.8 ms instead of microseconds). online = heard from within the window.
CREATE FUNCTION cm_node_view(n nodes, p_window interval, p_skills text[]) RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', n.id, 'name', n.name, 'description', n.description,
        'capabilities', n.capabilities, 'endpoint', n.endpoint, 'meta', n.meta,
        'last_seen', cm_ts(n.last_seen), 'online', n.last_seen > clock_timestamp() - p_window,
        'skills', p_skills, 'version', n.version, 'revision', n.revision,
        'created_at', cm_ts(n.created_at), 'updated_at', cm_ts(n.updated_at))::text
$$;

-- Register or update a node ('put'), set only its capabilities ('capabilities': the bridge's
-- message, registering the node with its id as name when new), or remove it ('delete').
-- A put or capabilities write counts as a heartbeat. Writing what is there changes nothing but
-- last_seen. o_status: created | updated | unchanged | deleted | not_found.
CREATE FUNCTION cm_node_write(p_op text, p_id text, p_name text, p_description text, p_capabilities text[],
    p_endpoint text, p_meta jsonb, p_node text)
RETURNS TABLE (o_status text, o_version integer)
LANGUAGE plpgsql AS $$
DECLARE
    cur nodes%ROWTYPE;
    found_cur boolean;
    t timestamptz;
    rev bigint;
BEGIN
    PERFORM cm_write_lock();
    t := clock_timestamp();
    SELECT * INTO cur FROM nodes n WHERE n.id = p_id FOR UPDATE;
    found_cur := FOUND;
    IF p_op = 'delete' THEN
        IF NOT found_cur THEN
            RETURN QUERY SELECT 'not_found'::text, NULL::integer;
            RETURN;
        END IF;
        rev := nextval('cm_revision');
        DELETE FROM nodes n WHERE n.id = p_id;
        INSERT INTO changes (revision, kind, op, scope, name, version, node, at)
        VALUES (rev, 'node', 'delete', NULL, p_id, cur.version, p_node, t);
        RETURN QUERY SELECT 'deleted'::text, cur.version;
        RETURN;
    END IF;
    IF p_op = 'capabilities' THEN
        p_name := CASE WHEN found_cur THEN cur.name ELSE p_id END;
        p_description := cur.description;
        p_endpoint := cur.endpoint;
        p_meta := cur.meta;
    END IF;
    IF found_cur AND cur.name = p_name AND cur.description IS NOT DISTINCT FROM p_description
            AND cur.capabilities = p_capabilities AND cur.endpoint IS NOT DISTINCT FROM p_endpoint
            AND cur.meta IS NOT DISTINCT FROM p_meta THEN
        UPDATE nodes n SET last_seen = t WHERE n.id = p_id;
        RETURN QUERY SELECT 'unchanged'::text, cur.version;
        RETURN;
    END IF;
    rev := nextval('cm_revision');
    INSERT INTO nodes AS n (id, name, description, capabilities, endpoint, meta, version, revision, node,
                            created_at, updated_at, last_seen)
    VALUES (p_id, p_name, p_description, p_capabilities, p_endpoint, p_meta,
            coalesce(cur.version, 0) + 1, rev, p_node, t, t, t)
    ON CONFLICT (id) DO UPDATE SET
        name = EXCLUDED.name, description = EXCLUDED.description, capabilities = EXCLUDED.capabilities,
        endpoint = EXCLUDED.endpoint, meta = EXCLUDED.meta, version = EXCLUDED.version,
        revision = EXCLUDED.revision, node = EXCLUDED.node, updated_at = EXCLUDED.updated_at,
        last_seen = EXCLUDED.last_seen;
    INSERT INTO changes (revision, kind, op, scope, name, version, node, at)
    VALUES (rev, 'node', 'put', NULL, p_id, coalesce(cur.version, 0) + 1, p_node, t);
    RETURN QUERY SELECT CASE WHEN found_cur THEN 'updated' ELSE 'created' END, coalesce(cur.version, 0) + 1;
END $$;

-- The time a bridge message wrote the current version with: msg_ts counts while msg_rev is
-- still the entry's revision (a later write through the REST API makes it stale without
-- touching it, so cm_memory_write needs no change).
ALTER TABLE memory ADD COLUMN msg_ts timestamptz, ADD COLUMN msg_rev bigint;

-- The bridge's memory message: a put, unless the message's own time is older than the stored
-- entry's time (last write wins), in which case it is not applied. The stored entry's time is
-- the time of the message that wrote it, or the server's time of a write through the REST API
-- (deletes included). A message time ahead of the server's clock counts as now, so a node with
-- a fast clock cannot shut out the others. The check and the write happen under one hold of
-- the write lock.
CREATE FUNCTION cm_memory_bridge_put(p_scope text, p_key text, p_value jsonb, p_tags text[],
    p_ts timestamptz, p_node text, p_max_size integer)
RETURNS TABLE (o_status text, o_version integer, o_entry text)
LANGUAGE plpgsql AS $$
DECLARE
    cur memory%ROWTYPE;
    r record;
BEGIN
    IF p_ts IS NULL THEN
        RETURN QUERY SELECT * FROM cm_memory_write('put', p_scope, p_key, p_value, p_tags, NULL, NULL,
                                                   NULL, false, p_node, p_max_size);
        RETURN;
    END IF;
    PERFORM cm_write_lock();
    p_ts := least(p_ts, clock_timestamp());
    SELECT * INTO cur FROM memory m WHERE m.scope = p_scope AND m.key = p_key;
    IF FOUND AND p_ts < (CASE WHEN cur.msg_rev = cur.revision THEN cur.msg_ts ELSE cur.updated_at END) THEN
        RETURN QUERY SELECT 'stale'::text, cur.version,
            CASE WHEN cm_memory_live(cur, clock_timestamp()) THEN cm_memory_entry(cur) END;
        RETURN;
    END IF;
    SELECT * INTO r FROM cm_memory_write('put', p_scope, p_key, p_value, p_tags, NULL, NULL, NULL, false,
                                         p_node, p_max_size);
    -- Not stale, so p_ts is at least the entry's time: it becomes the entry's time, for an
    -- unchanged value too (a re-send of the value at 10:30 must still beat a message of 10:20).
    IF r.o_status IN ('created', 'updated', 'unchanged') THEN
        UPDATE memory m SET msg_ts = p_ts, msg_rev = m.revision WHERE m.scope = p_scope AND m.key = p_key;
    END IF;
    RETURN QUERY SELECT r.o_status, r.o_version, r.o_entry;
END $$;
