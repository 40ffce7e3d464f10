-- The delivery-outcome webhook (doc/statistics.md, "Outcome webhook"): an app's final outcomes,
-- appended to outcome_outbox in the transactions that record them, posted in signed batches by
-- the scheduler (src/outcome_webhook.c). Tables: sql/install/schema.sql.

-- Sets (config {"url", "secret"}) or removes (NULL) an app's outcome webhook. The url and
-- secret are credentials: kept where no role but the owner and the workers reads them, and the
-- statement never written to the server log on an error (as push_vendor_set). Removing it drops
-- the outcomes not delivered yet.
CREATE OR REPLACE FUNCTION push_outcome_webhook_set(app text, config jsonb) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp
SET log_min_error_statement = panic AS $$
#variable_conflict use_column
DECLARE
    v_id int := _app_id(app, 'admin');
    v_key text;
    v_why text;
    v_now timestamptz := now();     -- Citus: no STABLE function in ON CONFLICT's SET
BEGIN
    IF config IS NULL THEN
        DELETE FROM outcome_webhooks w WHERE w.app_id = v_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION '92795: app "%" has no outcome webhook to remove', app
                USING ERRCODE = '42704';
        END IF;
        DELETE FROM outcome_outbox o WHERE o.app_id = v_id;
        DELETE FROM outcome_batches b WHERE b.app_id = v_id;
        RETURN;
    END IF;
    IF jsonb_typeof(config) <> 'object' THEN
        RAISE EXCEPTION '92790: outcome webhook config must be a JSON object, or NULL to remove it'
            USING ERRCODE = '22023';
    END IF;
    SELECT e.key INTO v_key FROM jsonb_object_keys(config) e(key)
        WHERE e.key NOT IN ('url', 'secret') ORDER BY 1 LIMIT 1;
    IF v_key IS NOT NULL THEN
        RAISE EXCEPTION '92791: unknown key "%" in outcome webhook config', _shown(v_key)
            USING ERRCODE = '22023', HINT = 'The keys are url and secret.';
    END IF;
    SELECT k INTO v_key FROM unnest(ARRAY['secret', 'url']) k WHERE NOT config ? k LIMIT 1;
    IF v_key IS NOT NULL THEN
        RAISE EXCEPTION '92792: missing key "%" in outcome webhook config', v_key USING ERRCODE = '22023';
    END IF;
    SELECT e.key INTO v_key FROM jsonb_each(config) e
        WHERE jsonb_typeof(e.value) <> 'string' OR e.value #>> '{}' = '' ORDER BY 1 LIMIT 1;
    IF v_key IS NOT NULL THEN
        RAISE EXCEPTION '92793: "%" in outcome webhook config must be a non-empty string', v_key
            USING ERRCODE = '22023';
    END IF;
    v_why := _url_problem(config->>'url');
    IF v_why IS NOT NULL THEN
        RAISE EXCEPTION '92794: "url" in outcome webhook config must be an http:// or https:// URL'
            USING ERRCODE = '22023', DETAIL = v_why;
    END IF;
    -- a receiver checks the signature with it: a short one could be guessed
    IF length(config->>'secret') < 16 THEN
        RAISE EXCEPTION '92796: "secret" in outcome webhook config must be at least 16 characters'
            USING ERRCODE = '22023';
    END IF;
    INSERT INTO outcome_webhooks AS w (app_id, config) VALUES (v_id, config)
        ON CONFLICT (app_id) DO UPDATE SET config = excluded.config, updated_at = v_now;
END $$;
COMMENT ON FUNCTION push_outcome_webhook_set(text, jsonb) IS
    'sets ({"url", "secret"}) or removes (NULL) the app''s delivery-outcome webhook (doc/statistics.md)';

-- What administrators may see of the webhooks: which apps have one, and what waits; never the
-- url or the secret.
CREATE OR REPLACE VIEW push_outcome_webhooks WITH (security_barrier) AS
    SELECT a.app, w.updated_at,
           (SELECT count(*) FROM outcome_outbox o WHERE o.app_id = w.app_id) AS waiting,
           b.batch_id, b.outcomes AS batch_outcomes, b.attempts AS batch_attempts,
           b.next_at AS batch_next_at, b.last_error AS batch_last_error
    FROM outcome_webhooks w
    JOIN apps a USING (app_id)
    LEFT JOIN outcome_batches b USING (app_id)
    WHERE a.app_id = ANY ((SELECT _visible_apps('admin'))::int[]);

-- The scheduler (src/outcome_webhook.c): for each app with a webhook and no batch waiting, the
-- oldest max_rows outcomes of its outbox become one batch, once there are max_rows of them or
-- the oldest has waited max_wait. The body is made once, here: every attempt posts the same
-- bytes under the same batch id. made: the batches made; waiting: whether outcomes or batches
-- wait (the scheduler then looks again soon). Every read of the outbox is a range of its index
-- by app: the rows taken are deleted from its head, and a scan from the table's start would
-- wade through them until the next vacuum (quadratic over a broadcast's outcomes).
CREATE OR REPLACE FUNCTION _outcome_batches_make(max_rows int, max_wait interval,
                                                 OUT made int, OUT waiting boolean,
                                                 OUT hooked boolean)
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    r record;
    v_batch uuid;
    v_rows bigint;
    v_oldest timestamptz;
    v_free boolean;
BEGIN
    made := 0;
    hooked := EXISTS (SELECT FROM outcome_webhooks);     -- none: the scheduler looks less often
    -- on the distributed layout, the worker nodes' outboxes first (doc/scale-out.md)
    IF hooked AND _registry_distributed() THEN
        PERFORM _distributed_outbox_pull();
    END IF;
    waiting := EXISTS (SELECT FROM outcome_batches);
    -- (whether an app's batch waits is asked apart: on the distributed layout the webhooks and
    -- the apps are reference tables, which Citus does not join with the coordinator's own)
    FOR r IN SELECT w.app_id, a.app
             FROM outcome_webhooks w JOIN apps a USING (app_id) ORDER BY w.app_id LOOP
        v_free := NOT EXISTS (SELECT FROM outcome_batches b WHERE b.app_id = r.app_id);
        SELECT count(*), min(x.at) INTO v_rows, v_oldest
        FROM (SELECT o.at FROM outcome_outbox o WHERE o.app_id = r.app_id
              ORDER BY o.outcome_id LIMIT max_rows) x;
        IF v_rows = 0 THEN
            CONTINUE;
        END IF;
        waiting := true;
        IF NOT v_free OR (v_rows < max_rows AND v_oldest > now() - max_wait) THEN
            CONTINUE;
        END IF;
        v_batch := gen_random_uuid();
        WITH taken AS (
            DELETE FROM outcome_outbox o WHERE o.outcome_id = ANY (ARRAY(
                SELECT outcome_id FROM outcome_outbox WHERE app_id = r.app_id
                ORDER BY outcome_id LIMIT max_rows))
            RETURNING o.*)
        -- delivery_id as a string: the ids pass 2^53 (day << 40), which a JavaScript or jq
        -- receiver would round to a neighbour's id (RFC 7493, section 2.2)
        INSERT INTO outcome_batches (batch_id, app_id, body, outcomes)
            SELECT v_batch, r.app_id,
                   jsonb_build_object('batch_id', v_batch, 'app', r.app,
                       'created_at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                       'outcomes', jsonb_agg(jsonb_build_object(
                           'delivery_id', t.delivery_id::text, 'task_id', t.task_id, 'plan_id', t.plan_id,
                           'registration_id', t.registration_id, 'vendor', t.vendor,
                           'platform', t.platform, 'status', t.status, 'error', t.error,
                           'http_status', t.http_status, 'vendor_message_id', t.vendor_message_id,
                           'at', to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))
                           ORDER BY t.outcome_id))::text,
                   count(*)
            FROM taken t HAVING count(*) > 0;
        made := made + 1;
    END LOOP;
END $$;

-- The scheduler's upkeep, once a minute: outcomes appended by a transaction that still saw a
-- webhook its app has removed since (push_outcome_webhook_set deleted those it could see), and
-- outcomes older than the raw rows are kept (pushplan.retention_days: sql/api/86_retention.sql),
-- so that a receiver down for long does not make the outbox grow without end.
CREATE OR REPLACE FUNCTION _outcome_outbox_sweep() RETURNS void
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_hooked int[];
BEGIN
    IF NOT _registry_distributed() THEN
        DELETE FROM outcome_outbox o
            WHERE NOT EXISTS (SELECT FROM outcome_webhooks w WHERE w.app_id = o.app_id)
               OR o.at < _retention_first_day()::timestamp AT TIME ZONE 'UTC';
        RETURN;
    END IF;
    -- On the distributed layout outcome_webhooks is a reference table, which Citus joins with
    -- none of the coordinator's own tables in a statement that writes them: the apps with a
    -- webhook are read first. A webhook set between the two statements has its outcomes
    -- appended after the first: only rows older than a minute go for an app without one.
    v_hooked := ARRAY(SELECT w.app_id FROM outcome_webhooks w);
    DELETE FROM outcome_outbox o
        WHERE (NOT (o.app_id = ANY (v_hooked)) AND o.at < now() - interval '1 minute')
           OR o.at < _retention_first_day()::timestamp AT TIME ZONE 'UTC';
END $$;
