-- The change feed (GET /v1/changes): how far back it reaches, how waiters on every replica learn
-- of a commit, and how a change is shown.
--
-- Ordering needs nothing new: every writer takes cm_write_lock() (0002) before it draws from
-- cm_revision and holds it to its commit, and PostgreSQL releases a transaction's locks only after
-- the commit is visible. So when revision N is visible, every revision below N has committed or
-- rolled back, and "revision > since" never skips a committed change.

-- The feed's horizon: the highest revision pruned from changes. A follower at since < horizon
-- has missed rows that are gone and must resync (410). One row.
CREATE TABLE cm_feed (
    one      boolean PRIMARY KEY DEFAULT true CHECK (one),
    horizon  bigint NOT NULL DEFAULT 0 CHECK (horizon >= 0)
);
INSERT INTO cm_feed DEFAULT VALUES;

-- Retention prunes by time; rows are appended in time order, so a BRIN index finds the old ones
-- for almost nothing per write.
CREATE INDEX changes_at ON changes USING brin (at);

-- Removes up to 10,000 changes older than p_keep, always keeping the newest row, and moves the
-- horizon to the highest revision removed. Any replica may run it at any time; it never waits
-- for the write lock (a writer holding it makes the run return -1, to be tried again later), and
-- holding it keeps two runs and the writers apart, so the horizon only ever grows. Returns the
-- rows removed; 10,000 means more are due.
CREATE FUNCTION cm_feed_prune(p_keep interval) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    top bigint;
    removed bigint;
    n bigint;
BEGIN
    IF NOT pg_try_advisory_xact_lock(7316040533871625032) THEN
        RETURN -1;
    END IF;
    SELECT max(revision) INTO top FROM changes;
    WITH old AS (SELECT revision FROM changes WHERE at < clock_timestamp() - p_keep AND revision < top
                 ORDER BY revision LIMIT 10000),
         d AS (DELETE FROM changes c USING old WHERE c.revision = old.revision RETURNING c.revision)
    SELECT max(revision), count(*) INTO removed, n FROM d;
    IF removed IS NOT NULL THEN
        UPDATE cm_feed SET horizon = greatest(horizon, removed);
    END IF;
    RETURN n;
END $$;

-- Every replica LISTENs on clawmesh_changes; a statement that adds change rows wakes them once
-- its transaction commits (notifications are delivered after the commit is visible, and equal
-- ones within a transaction are folded into one). Token revocations wake them on
-- clawmesh_tokens, so a parked long-poll or open stream re-checks its token at once (not on the
-- once-a-minute last_used_at touch, which would wake every waiter for nothing).
CREATE FUNCTION cm_notify_changes() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('clawmesh_changes', '');
    RETURN NULL;
END $$;
CREATE TRIGGER changes_notify AFTER INSERT ON changes
    FOR EACH STATEMENT EXECUTE FUNCTION cm_notify_changes();

CREATE FUNCTION cm_notify_tokens() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('clawmesh_tokens', '');
    RETURN NULL;
END $$;
CREATE TRIGGER tokens_notify AFTER UPDATE OF revoked_at, expires_at, grants, admin OR DELETE ON tokens
    FOR EACH STATEMENT EXECUTE FUNCTION cm_notify_tokens();

-- A JSON object's text with more members appended: base's, then members' (an object, or NULL for
-- none). The feed renders a change once and adds its value only when asked, keeping key order.
CREATE FUNCTION cm_json_append(base text, members json) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN members IS NULL THEN base ELSE left(base, -1) || ', ' || substr(members::text, 2) END
$$;

-- A change as the feed shows it, in the documented field order; the target is named key (memory),
-- name (skill) or id (node).
CREATE FUNCTION cm_change_json(revision bigint, kind text, op text, scope text, name text, version integer,
    node text, at timestamptz)
RETURNS text
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT json_build_object('revision', revision, 'kind', kind, 'op', op, 'scope', scope,
        CASE kind WHEN 'memory' THEN 'key' WHEN 'skill' THEN 'name' ELSE 'id' END, name,
        'version', version, 'node', node, 'at', cm_ts(at))::text
$$;
