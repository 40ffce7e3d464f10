-- Timing helpers for bench_audience.sh: each query runs reps times, the variants interleaved so
-- that they share the machine's ups and downs; the result is each variant's median and answer.
CREATE OR REPLACE FUNCTION pg_temp.bench(label text, queries text[], reps int)
RETURNS TABLE(test text, variant int, median_ms numeric, min_ms numeric, answer bigint)
LANGUAGE plpgsql AS $$
DECLARE
    t timestamptz;
    ms numeric[] := '{}';
    ans bigint[] := '{}';
    r int;
    i int;
    n int := array_length(queries, 1);
    v bigint;
BEGIN
    FOR i IN 1 .. n LOOP                    -- warm-up: caches, and the answers
        EXECUTE queries[i] INTO v;
        ans[i] := v;
    END LOOP;
    FOR r IN 1 .. reps LOOP
        FOR i IN 1 .. n LOOP
            t := clock_timestamp();
            EXECUTE queries[i] INTO v;
            ms[(i - 1) * reps + r] := extract(epoch FROM clock_timestamp() - t) * 1000;
        END LOOP;
    END LOOP;
    FOR i IN 1 .. n LOOP
        RETURN QUERY SELECT label, i,
            round((SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x)
                   FROM unnest(ms[(i - 1) * reps + 1 : i * reps]) x)::numeric, 1),
            round((SELECT min(x) FROM unnest(ms[(i - 1) * reps + 1 : i * reps]) x), 1),
            ans[i];
    END LOOP;
END $$;
