-- Group commit (issue 7): clawmeshd's committer thread runs every single-entry memory write it
-- has queued in one statement of this function, so one transaction and one WAL flush serve them
-- all, instead of one flush per write serialised behind cm_write_lock().
--
-- p_ops is a JSON array of ops in arrival order; every field is a string or null, exactly the
-- text parameters cm_store_memory_write() gives cm_memory_write alone: op, scope, key, doc (the
-- request body as text: a put reads doc.value, a patch is doc), tags (a JSON array as text),
-- ttl, expires_at, if_match (an integer array literal), if_none_match ("true"/"false"), node.
-- The text is cast here, inside each op's own subtransaction, so an op that cannot be read (or
-- that raises for any other reason) fails alone: its row says 'error' with its SQLSTATE and
-- message in o_entry, and the others still commit. A refusal (version_mismatch, …) is not an
-- error: cm_memory_write writes nothing for it. One row per op, in order, o_index from 0.
--
-- The write lock is taken once, first, and held to the commit like any writer's, so the change
-- feed's guarantee holds (revisions commit in increasing order). Ops on the same key run in
-- array order, each seeing the ones before it. A statement timeout or cancel is not caught (a
-- plpgsql OTHERS handler never catches them): the whole group fails and nothing of it commits.
CREATE FUNCTION cm_memory_write_group(p_ops jsonb, p_max_size integer)
RETURNS TABLE (o_index integer, o_status text, o_version integer, o_entry text)
LANGUAGE plpgsql AS $$
DECLARE
    op jsonb;
    i integer;
    doc jsonb;
    r record;
BEGIN
    PERFORM cm_write_lock();
    FOR op, i IN SELECT a.value, a.ord - 1 FROM jsonb_array_elements(p_ops) WITH ORDINALITY a(value, ord)
                 ORDER BY a.ord LOOP
        o_index := i;
        BEGIN
            doc := (op ->> 'doc')::jsonb;
            SELECT * INTO STRICT r FROM cm_memory_write(op ->> 'op', op ->> 'scope', op ->> 'key',
                CASE WHEN op ->> 'op' = 'put' THEN doc -> 'value' ELSE doc END,
                CASE WHEN op ->> 'tags' IS NOT NULL THEN cm_tags((op ->> 'tags')::jsonb) END,
                (op ->> 'ttl')::bigint, (op ->> 'expires_at')::timestamptz,
                (op ->> 'if_match')::integer[], (op ->> 'if_none_match')::boolean,
                op ->> 'node', p_max_size);
            o_status := r.o_status;
            o_version := r.o_version;
            o_entry := r.o_entry;
        EXCEPTION WHEN OTHERS THEN
            o_status := 'error';
            o_version := NULL;
            o_entry := SQLSTATE || ' ' || SQLERRM;
        END;
        RETURN NEXT;
    END LOOP;
END $$;
