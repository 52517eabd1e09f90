-- bench/run.sh's data: 100,000 memory entries in scope mesh, keys k000001..k100000, each value
-- about 200 bytes of JSON, {"n": i, "text": 26 words drawn from a 2,000-word vocabulary}
-- (bench/lib.lua makes the same words). Written through cm_memory_write, the function every PUT
-- calls, so the entries, their history rows and their change rows are exactly what the server
-- would have written; in one statement, one transaction, one commit. Deterministic (setseed).
-- The two bench_* functions live only in the benchmark's throwaway database (pgbench uses them).

-- Word w (0..1999) of the vocabulary: three syllables, e.g. "tavune".
CREATE FUNCTION bench_word(w integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT s[1 + w % 20] || s[1 + (w / 20) % 20] || s[1 + w / 400]
    FROM (SELECT ARRAY['ka','lo','mi','ne','su','ta','ri','po','de','fu',
                       'ga','hi','jo','be','vu','zo','ce','wa','ny','xi'] AS s) v
$$;

-- 26 random words: the text of one value.
CREATE FUNCTION bench_text() RETURNS text
LANGUAGE sql VOLATILE AS $$
    SELECT string_agg(bench_word(floor(random() * 2000)::integer), ' ') FROM generate_series(1, 26)
$$;

SELECT setseed(0.42);
CREATE TEMP TABLE vals AS
SELECT i, string_agg(bench_word(w), ' ' ORDER BY j) AS text
FROM (SELECT i, j, floor(random() * 2000)::integer AS w
      FROM generate_series(1, 100000) i, generate_series(1, 26) j) r
GROUP BY i;
SELECT count(*) AS created FROM vals v,
    LATERAL cm_memory_write('put', 'mesh', 'k' || lpad(v.i::text, 6, '0'),
        jsonb_build_object('n', v.i, 'text', v.text), '{}', NULL, NULL, NULL, false, 'bench', 262144) w
WHERE w.o_status = 'created';
