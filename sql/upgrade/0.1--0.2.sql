-- pushplan 0.1 -> 0.2: what changes in the install-once objects (tables, indexes, their
-- comments). The functions, views and roles are replayed after it from sql/api/*.sql, as in a
-- fresh install (make assembles sql/pushplan--0.1--0.2.sql from the two).
\echo Use "ALTER EXTENSION pushplan UPDATE TO '0.2'" to load this file. \quit

-- Tenancy: which roles act on which app, and how (push_app_grant).
CREATE TABLE app_grants (
    app_id      int NOT NULL REFERENCES apps ON DELETE CASCADE,
    role        oid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('admin', 'operator', 'app', 'reader')),
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, role, kind)
);

-- The role that sent a task (an app role cancels only its own); NULL for tasks sent before.
ALTER TABLE tasks ADD COLUMN created_by oid;

-- Lanes: a task's priority (0 high, 1 normal, 2 low), copied to its queue rows, which are
-- claimed lane by lane; the tasks of 0.1 and their open deliveries are normal.
ALTER TABLE tasks ADD COLUMN priority smallint NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 2);
ALTER TABLE delivery_queue ADD COLUMN priority smallint NOT NULL DEFAULT 1;
DROP INDEX delivery_queue_due_idx;
CREATE INDEX delivery_queue_due_idx ON delivery_queue (priority, send_at);
DROP INDEX tasks_due_idx;
CREATE INDEX tasks_due_idx ON tasks (priority, send_at)
    WHERE state = 'queued' OR (state = 'sending' AND NOT expanded);

COMMENT ON TABLE apps IS 'tenants: one mobile or web application each (Tencent Push''s AccessID, Tencent IM''s SdkAppID, EngageLab''s AppKey)';

-- _app_id(app) became _app_id(app, kind): the rights the caller needs.
DROP FUNCTION _app_id(text);

-- Settings and vendor credentials moved from pushplan_admin to pushplan_app_admin (which
-- pushplan_admin is a member of): the direct grants of 0.1 go.
REVOKE EXECUTE ON FUNCTION push_app_set(text, jsonb), push_vendor_set(text, text, jsonb),
    push_vendor_test(text, text, text, jsonb, text, text) FROM pushplan_admin;

-- The tests' faces of the engine, the token cache and the crypto moved to the test-only
-- extension pushplan_test (test/modules/pushplan_test).
DROP FUNCTION _jwt_es256(text, text, text, bigint),
    _jwt_rs256(text, text, text, text, text, bigint, bigint),
    _hmac_sha256_hex(text, text), _hmac_sha256_hex(bytea, bytea),
    _base64url_encode(bytea), _base64url_decode(text),
    _engine_send_many(text, text, text[], jsonb, text, text),
    _vendor_payload(text, jsonb, text, text, jsonb, text), _message_check(jsonb),
    _auth_token_put(text, jsonb, text, int), _auth_token_peek(text, jsonb);

-- A delivery in flight is now a claimed queue row over a delivery that says 'queued' (the claim
-- no longer writes the delivery): 0.1's 'sending' deliveries, claimed by the senders that ran
-- before the update, become queued, and the restarted senders give their claims back.
UPDATE deliveries SET status = 'queued' WHERE status = 'sending';

-- Schedules (doc/schedules.md): per-device send times and expiry on tasks, the schedules and
-- their occurrences.
ALTER TABLE tasks ADD COLUMN send_rule jsonb;
ALTER TABLE tasks ADD COLUMN time_to_live interval;
-- Schedules (push_schedule_create; doc/schedules.md): a push that fires by itself, once, on
-- periodic points, or at each device's best time. trigger is the validated trigger,
-- normalized; push the normalized push (push_send's checks run again when it fires).
-- next_run_at: the next occurrence (NULL when none is left), what the scheduler looks for.
CREATE TABLE schedules (
    schedule_id text PRIMARY KEY,
    app_id      int NOT NULL REFERENCES apps ON DELETE CASCADE,
    name        text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    trigger     jsonb NOT NULL,
    push        jsonb NOT NULL,
    request_id  text,                   -- the push's request_id: creating it again returns it
    next_run_at timestamptz,
    last_run_at timestamptz,
    runs        int NOT NULL DEFAULT 0, -- occurrences fired
    created_by  oid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, request_id)
);
CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE enabled;
CREATE INDEX schedules_app_idx ON schedules (app_id);

-- Every occurrence of a schedule, once: the primary key is what makes a firing happen exactly
-- once, whatever restarts or crashes (the run row commits with the task it made).
-- state: fired (task_id made) | missed (too late, or superseded by a later occurrence already
-- due) | skipped (the push was refused when it fired: detail says why).
CREATE TABLE schedule_runs (
    schedule_id text NOT NULL REFERENCES schedules ON DELETE CASCADE,
    occurrence  timestamptz NOT NULL,
    state       text NOT NULL CHECK (state IN ('fired', 'missed', 'skipped')),
    fired_at    timestamptz NOT NULL DEFAULT now(),
    task_id     text,
    detail      text,
    PRIMARY KEY (schedule_id, occurrence)
);

-- Intelligent send times (doc/smart_send.md): each device's histogram of visits over the 288
-- five-minute slots of its local day, decayed by age (src/smart_send.c), kept so that an
-- expansion reads one row per device instead of its visits. Weights are relative to the
-- device's latest visit, so a profile goes stale only when a visit is recorded.
CREATE TABLE device_send_profiles (
    device_id     bigint PRIMARY KEY REFERENCES devices ON DELETE CASCADE,
    timezone      text NOT NULL,            -- the zone its slots are in (the device's, then)
    slots         smallint[] NOT NULL,      -- local five-minute slots with a weight, ascending
    weights       real[] NOT NULL,          -- their weights (the latest visit counts 1)
    visits        int NOT NULL,             -- visits read
    last_visit_at timestamptz NOT NULL,
    computed_at   timestamptz NOT NULL DEFAULT now()
);
-- Devices with visits their profile does not hold yet: push_device_activity marks them, the
-- scheduler's upkeep (_smart_profiles_refresh) takes the marks, and _smart_send_times computes
-- marked devices from their visits. No foreign key: every visit writes a mark, and the check
-- cost a sixth of push_device_activity; a mark of a device deleted since is taken and dropped
-- by the next refresh.
CREATE TABLE smart_profile_pending (
    device_id   bigint PRIMARY KEY,
    marked_at   timestamptz NOT NULL DEFAULT now()
);
-- the visits recorded by 0.1 are in no profile yet
INSERT INTO smart_profile_pending (device_id) SELECT DISTINCT device_id FROM device_activity;

-- Statistics (doc/statistics.md). The deliveries of 0.1 get their device's platform; their
-- figures are counted into the aggregates by sql/api/85_statistics.sql (_stats_backfill).
ALTER TABLE deliveries ADD COLUMN platform text;
ALTER TABLE deliveries ADD COLUMN events smallint NOT NULL DEFAULT 0;
ALTER TABLE deliveries ADD COLUMN events_added smallint NOT NULL DEFAULT 0;
-- a fallback's message (doc/fallback.md): none among 0.1's deliveries
ALTER TABLE deliveries ADD COLUMN fallback jsonb;
-- tries lost with their connection (doc/reliability.md): none counted in 0.1
ALTER TABLE deliveries ADD COLUMN collateral smallint NOT NULL DEFAULT 0;
UPDATE deliveries d SET platform = v.platform FROM devices v WHERE v.device_id = d.device_id;

-- Deliveries are partitioned by day (doc/statistics.md, "Retention"; sql/install/schema.sql
-- says how). The table of 0.1 becomes the partition of everything before today,
-- deliveries_before_YYYYMMDD, dropped whole once today is older than pushplan.retention_days;
-- its ids (a plain sequence) are all below today's. Its indexes are renamed out of the way
-- first; its unique index on (task_id, device_id) goes once the new one is built.
ALTER TABLE deliveries RENAME TO deliveries_0_1;
ALTER INDEX deliveries_pkey RENAME TO deliveries_0_1_pkey;
ALTER INDEX deliveries_device_idx RENAME TO deliveries_0_1_device_idx;
ALTER TABLE deliveries_0_1 RENAME CONSTRAINT deliveries_task_id_fkey TO deliveries_0_1_task_id_fkey;
ALTER EXTENSION pushplan DROP TABLE deliveries_0_1;     -- a partition, dropped when its day passes
ALTER TABLE deliveries_0_1 ALTER COLUMN delivery_id DROP DEFAULT;
ALTER SEQUENCE deliveries_delivery_id_seq OWNED BY NONE;
ALTER SEQUENCE deliveries_delivery_id_seq MAXVALUE 1099511627775;    -- 2^40 - 1
CREATE TABLE deliveries (
    delivery_id       bigint NOT NULL
        DEFAULT (floor(extract(epoch FROM now()) / 86400)::bigint << 40) + nextval('deliveries_delivery_id_seq'),
    task_id           text NOT NULL REFERENCES tasks ON DELETE CASCADE,
    app_id            int NOT NULL,
    device_id         bigint NOT NULL,
    vendor            text NOT NULL,
    status            text NOT NULL DEFAULT 'queued',
    send_at           timestamptz NOT NULL,     -- planned (per device for local-time schedules)
    attempts          int NOT NULL DEFAULT 0,
    claimed_by        int,                      -- sender slot of the last claim
    claimed_at        timestamptz,
    sent_at           timestamptz,
    http_status       int,
    vendor_message_id text,
    error             text,
    -- added in 0.2 (last, as ALTER TABLE ADD COLUMN puts them in an upgrade):
    platform          text,                     -- the device's, when the delivery was made
    events            smallint NOT NULL DEFAULT 0, -- the kinds of event reported, one bit each
    events_added      smallint NOT NULL DEFAULT 0, -- what the last batch of events added (schema.sql)
    -- a fallback's message (doc/fallback.md): {"task_id", "delivery_id"} of the push's delivery
    -- it stands in for, "unless" and the address "to"; NULL for every push's own delivery
    fallback          jsonb,
    collateral        smallint NOT NULL DEFAULT 0, -- tries lost with their connection (schema.sql)
    PRIMARY KEY (delivery_id)
) PARTITION BY RANGE (delivery_id);
ALTER SEQUENCE deliveries_delivery_id_seq OWNED BY deliveries.delivery_id;
CREATE INDEX deliveries_task_device_idx ON deliveries (task_id, device_id);
CREATE INDEX deliveries_device_idx ON deliveries (device_id);
CREATE TABLE deliveries_default PARTITION OF deliveries DEFAULT WITH (fillfactor = 50);
DO $$
DECLARE
    v_today date := (now() AT TIME ZONE 'UTC')::date;
BEGIN
    EXECUTE format('ALTER TABLE deliveries ATTACH PARTITION deliveries_0_1 FOR VALUES FROM (MINVALUE) TO (%s)',
                   (v_today - date '1970-01-01')::bigint << 40);
    ALTER TABLE deliveries_0_1 DROP CONSTRAINT deliveries_task_id_device_id_key;
    EXECUTE format('ALTER TABLE deliveries_0_1 RENAME TO %I', 'deliveries_before_' || to_char(v_today, 'YYYYMMDD'));
END $$;

-- Statistics (doc/statistics.md). Events are what devices and application code report
-- (push_event); every one is kept in the raw log, and the funnel counts each kind once per
-- delivery (deliveries.events). The figures are kept for ever as aggregates, written as
-- outcomes and events are: writers only append to stats_pending (no row that two writers
-- update, so an application's transaction reporting an event never waits for a sender's or
-- another's), and the scheduler's upkeep folds those rows into task_stats and plan_stats in one
-- statement. Readers add the rows not folded yet, so every figure is exact at any moment.
CREATE TABLE events (
    app_id      int NOT NULL,
    task_id     text NOT NULL,
    device_id   bigint NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('received', 'open', 'click', 'dismiss', 'convert')),
    at          timestamptz NOT NULL,           -- when it happened, as reported
    value       numeric,                        -- convert: e.g. the order amount
    recorded_at timestamptz NOT NULL DEFAULT now(),
    counted     boolean NOT NULL                -- the report that counted in the funnel
) PARTITION BY RANGE (recorded_at);
CREATE INDEX events_task_device_idx ON events (task_id, device_id);
-- one partition per UTC day (events_YYYYMMDD), as deliveries
CREATE TABLE events_default PARTITION OF events DEFAULT;
-- the first open and click of each delivery, for intelligent send times (schema.sql says why
-- no foreign key); 0.1 had no events
CREATE TABLE device_reactions (
    device_id   bigint NOT NULL,
    at          timestamptz NOT NULL,           -- when it happened, as reported
    kind        smallint NOT NULL               -- the event's bit: 2 open, 4 click
);
CREATE INDEX device_reactions_device_idx ON device_reactions (device_id, at);

-- The counters, in the same order in the three tables below. A delivery counts in targeted when it is made, then in exactly
-- one of sent, failed, suppressed, cancelled (or none while it is queued); invalid_token,
-- rejected and gave_up are kinds of failed; opted_out, unregistered, no_token, expired,
-- missing_attribute, capped, quiet_hours and consent kinds of suppressed. retries counts the answers that put a delivery back in the queue.
CREATE TABLE stats_pending (
    task_id         text NOT NULL,
    platform        text NOT NULL,
    vendor          text NOT NULL,
    targeted        bigint NOT NULL DEFAULT 0,
    sent            bigint NOT NULL DEFAULT 0,
    failed          bigint NOT NULL DEFAULT 0,
    invalid_token   bigint NOT NULL DEFAULT 0,
    rejected        bigint NOT NULL DEFAULT 0,
    gave_up         bigint NOT NULL DEFAULT 0,
    suppressed      bigint NOT NULL DEFAULT 0,
    opted_out       bigint NOT NULL DEFAULT 0,
    unregistered    bigint NOT NULL DEFAULT 0,
    no_token        bigint NOT NULL DEFAULT 0,
    expired         bigint NOT NULL DEFAULT 0,
    cancelled       bigint NOT NULL DEFAULT 0,
    retries         bigint NOT NULL DEFAULT 0,
    received        bigint NOT NULL DEFAULT 0,
    opened          bigint NOT NULL DEFAULT 0,
    clicked         bigint NOT NULL DEFAULT 0,
    dismissed       bigint NOT NULL DEFAULT 0,
    converted       bigint NOT NULL DEFAULT 0,
    converted_value numeric NOT NULL DEFAULT 0,
    missing_attribute bigint NOT NULL DEFAULT 0, -- suppressed: a template's attribute missing (options.missing_attribute skip)
    capped          bigint NOT NULL DEFAULT 0,  -- kinds of suppressed: frequency caps (0.2)
    quiet_hours     bigint NOT NULL DEFAULT 0,  -- ... and quiet hours
    consent         bigint NOT NULL DEFAULT 0,  -- suppressed: consent withdrawn (doc/privacy.md)
    control         bigint NOT NULL DEFAULT 0,  -- not a delivery: held out in a control group (doc/variants.md)
    -- a push's fallback messages (doc/fallback.md), counted apart from its deliveries: taken by
    -- the webhook receiver, ended otherwise, and due but without an address
    fallback_sent   bigint NOT NULL DEFAULT 0,
    fallback_failed bigint NOT NULL DEFAULT 0,
    fallback_no_address bigint NOT NULL DEFAULT 0
);

-- One row per task, platform and vendor: the same columns.
CREATE TABLE task_stats (
    LIKE stats_pending INCLUDING DEFAULTS,
    PRIMARY KEY (task_id, platform, vendor)
);

-- One row per plan, quarter hour, platform, vendor and message type: what push_plan_stats and
-- the daily views read, whatever the number of tasks. A task's figures count in the quarter
-- hour it was due (tasks.send_at): a push's funnel stays in one period, whenever its events
-- come. Quarter hours, so that days and hours can be cut in any zone (every UTC offset is a
-- multiple of 15 minutes).
CREATE TABLE plan_stats (
    app_id          int NOT NULL,
    plan_id         text NOT NULL,
    period          timestamptz NOT NULL,
    platform        text NOT NULL,
    vendor          text NOT NULL,
    message_type    text NOT NULL,              -- notification | message
    targeted        bigint NOT NULL DEFAULT 0,
    sent            bigint NOT NULL DEFAULT 0,
    failed          bigint NOT NULL DEFAULT 0,
    invalid_token   bigint NOT NULL DEFAULT 0,
    rejected        bigint NOT NULL DEFAULT 0,
    gave_up         bigint NOT NULL DEFAULT 0,
    suppressed      bigint NOT NULL DEFAULT 0,
    opted_out       bigint NOT NULL DEFAULT 0,
    unregistered    bigint NOT NULL DEFAULT 0,
    no_token        bigint NOT NULL DEFAULT 0,
    expired         bigint NOT NULL DEFAULT 0,
    cancelled       bigint NOT NULL DEFAULT 0,
    retries         bigint NOT NULL DEFAULT 0,
    received        bigint NOT NULL DEFAULT 0,
    opened          bigint NOT NULL DEFAULT 0,
    clicked         bigint NOT NULL DEFAULT 0,
    dismissed       bigint NOT NULL DEFAULT 0,
    converted       bigint NOT NULL DEFAULT 0,
    converted_value numeric NOT NULL DEFAULT 0,
    missing_attribute bigint NOT NULL DEFAULT 0,
    capped          bigint NOT NULL DEFAULT 0,
    quiet_hours     bigint NOT NULL DEFAULT 0,
    consent         bigint NOT NULL DEFAULT 0,
    control         bigint NOT NULL DEFAULT 0,
    fallback_sent   bigint NOT NULL DEFAULT 0,
    fallback_failed bigint NOT NULL DEFAULT 0,
    fallback_no_address bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (app_id, plan_id, period, platform, vendor, message_type)
);

-- Vendor answer times (request sent to answer read), per app, vendor and UTC hour, as a
-- histogram: bucket b > 0 holds the answers of [2^((b-1)/4), 2^(b/4)) ms, bucket 0 those under
-- 1 ms.
-- Appended by the senders (latency_pending) and folded by the upkeep, as above.
CREATE TABLE latency_pending (
    app_id      int NOT NULL,
    vendor      text NOT NULL,
    hour        timestamptz NOT NULL,
    bucket      smallint NOT NULL,
    answers     bigint NOT NULL
);
CREATE TABLE vendor_latency (
    app_id      int NOT NULL,
    vendor      text NOT NULL,
    hour        timestamptz NOT NULL,
    bucket      smallint NOT NULL,
    answers     bigint NOT NULL,
    PRIMARY KEY (app_id, vendor, hour, bucket)
);

-- The delivery-outcome webhook (doc/statistics.md, "Outcome webhook"). An app's receiver: its
-- url and secret are credentials, so this table, as vendor_configs, is readable by no role but
-- the extension's owner and pushplan_worker (push_outcome_webhook_set writes it).
CREATE TABLE outcome_webhooks (
    app_id      int PRIMARY KEY REFERENCES apps ON DELETE CASCADE,
    config      jsonb NOT NULL,                 -- {"url", "secret"}
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The final outcomes of the apps that have a webhook, appended in the transaction that records
-- them (the senders' outcome statement, push_cancel, the expansion's failed-at-once rows) and
-- taken out by the scheduler into batches. No foreign key: the senders' hot path appends here.
CREATE TABLE outcome_outbox (
    outcome_id        bigserial PRIMARY KEY,
    app_id            int NOT NULL,
    delivery_id       bigint NOT NULL,
    task_id           text NOT NULL,
    plan_id           text,
    registration_id   text,
    vendor            text NOT NULL,
    platform          text,
    status            text NOT NULL,            -- sent | failed | invalid_token | expired | suppressed | cancelled
    error             text,
    http_status       int,
    vendor_message_id text,
    at                timestamptz NOT NULL      -- when the outcome was recorded
);
CREATE INDEX outcome_outbox_app_idx ON outcome_outbox (app_id, outcome_id);

-- Batches of outcomes, one at a time per app, each posted with its body and id unchanged until
-- the receiver takes it (2xx) or it is given up: the batch id is the receiver's idempotency key.
CREATE TABLE outcome_batches (
    batch_id    uuid PRIMARY KEY,
    app_id      int NOT NULL REFERENCES apps ON DELETE CASCADE,
    body        text NOT NULL,                  -- the JSON posted, signed as it is at each attempt
    outcomes    int NOT NULL,
    attempts    int NOT NULL DEFAULT 0,
    next_at     timestamptz NOT NULL DEFAULT now(),
    last_error  text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX outcome_batches_app_idx ON outcome_batches (app_id);

-- The distributed layout (doc/scale-out.md, "Outcome webhooks"): the worker nodes' senders append
-- to their own node's outcome_outbox, and the poster moves those rows into this node's
-- (_distributed_outbox_pull). For each node group, the last of its outbox's ids copied here:
-- rows up to it are deleted on that node by a later call, once the copy has committed.
CREATE TABLE outcome_outbox_pulled (
    node_group  int PRIMARY KEY,
    last_id     bigint NOT NULL
);

-- Engagement controls (doc/engagement.md): a plan's own settings, and the frequency caps'
-- counts. 0.1 accepted frequency_cap and quiet_hours in an app's settings and applied neither;
-- 0.2 applies them, with more keys and stricter checks. A stored value that 0.2's push_app_set
-- would refuse is removed (and named, in a WARNING: PostgreSQL does not show an extension script's
-- notices): kept, it would start to drop or hold pushes that 0.1
-- sent; one it accepts starts to apply, and is named too. The checks are sql/api's
-- _engagement_problem, which this script has not replayed yet: they are the same here.
ALTER TABLE plans ADD COLUMN settings jsonb NOT NULL DEFAULT '{}';
-- Frequency caps (doc/engagement.md): per device and scope ('' counts for the app's cap, a plan
-- id for that plan's), the times of the pushes counted, newest first, no older than 8 days.
-- The senders' claim locks a device's rows (SELECT ... FOR UPDATE, in device order) before it
-- counts and appends: two senders never both pass a cap. Only devices of capped pushes have
-- rows; each row is trimmed whenever it is written.
CREATE TABLE engagement_counts (
    device_id   bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
    scope       text NOT NULL,
    sent        timestamptz[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (device_id, scope)
);

DO $$
DECLARE
    r record;
    v_bad boolean;
BEGIN
    FOR r IN SELECT a.app_id, a.app, e.key, e.value FROM apps a, jsonb_each(a.settings) e
             WHERE e.key IN ('frequency_cap', 'quiet_hours') ORDER BY a.app, e.key LOOP
        IF r.key = 'frequency_cap' THEN
            v_bad := jsonb_typeof(r.value) <> 'object'
                OR EXISTS (SELECT 1 FROM jsonb_each(r.value) f
                           WHERE f.key NOT IN ('per_day', 'per_week')
                              OR jsonb_typeof(f.value) <> 'number'
                              OR (f.value)::numeric NOT BETWEEN 1 AND 1000
                              OR (f.value)::numeric <> trunc((f.value)::numeric))
                OR NOT (r.value ?| ARRAY['per_day', 'per_week'])
                OR (r.value->>'per_day')::numeric > (r.value->>'per_week')::numeric;
        ELSE
            v_bad := jsonb_typeof(r.value) <> 'object'
                OR EXISTS (SELECT 1 FROM jsonb_object_keys(r.value) k WHERE k NOT IN ('from', 'to'))
                OR coalesce(r.value->>'from', '') !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
                OR coalesce(r.value->>'to', '') !~ '^([01][0-9]|2[0-3]):[0-5][0-9]$'
                OR r.value->>'from' = r.value->>'to';
        END IF;
        IF v_bad THEN
            RAISE WARNING 'pushplan: % removed from the settings of app %: 0.2 does not accept %',
                r.key, r.app, r.value;
            UPDATE apps SET settings = settings - r.key WHERE app_id = r.app_id;
        ELSE
            RAISE WARNING 'pushplan: % of app % (%) is applied from now on (doc/engagement.md)',
                r.key, r.app, r.value;
        END IF;
    END LOOP;
END $$;

-- Templates (doc/templates.md): what a task's templates read of each device.
ALTER TABLE tasks ADD COLUMN template_reads text[];
-- Consent per category, erasure and export (doc/privacy.md). A push's category and the consent
-- its devices need (NULL for the tasks of 0.1: none); each device's grants and withdrawals; the
-- audit rows of erasures.
ALTER TABLE tasks ADD COLUMN category text;
ALTER TABLE tasks ADD COLUMN consent text CHECK (consent IN ('opt_in', 'opt_out'));
CREATE TABLE device_consents (
    device_id   bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
    category    text NOT NULL,
    granted     boolean NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),    -- when the person said so
    PRIMARY KEY (device_id, category)
);
CREATE TABLE erasures (
    erasure_id   bigserial PRIMARY KEY,
    app_id       int NOT NULL REFERENCES apps ON DELETE CASCADE,
    subject      text NOT NULL CHECK (subject IN ('device', 'account')),
    subject_hash text NOT NULL,
    erased_by    text NOT NULL,                  -- the role that called
    erased_at    timestamptz NOT NULL DEFAULT now(),
    counts       jsonb NOT NULL                  -- rows removed, per table
);
CREATE INDEX erasures_app_idx ON erasures (app_id, erased_at);

-- A/B variants (doc/variants.md): a push's variants are child tasks of the push's task.
ALTER TABLE tasks ADD COLUMN parent_task_id text REFERENCES tasks ON DELETE CASCADE;
ALTER TABLE tasks ADD COLUMN variant text;
ALTER TABLE tasks ADD COLUMN variant_buckets int4range;
ALTER TABLE tasks ADD COLUMN variant_control boolean NOT NULL DEFAULT false;
ALTER TABLE tasks ADD COLUMN variant_winner boolean NOT NULL DEFAULT false;
CREATE INDEX tasks_parent_idx ON tasks (parent_task_id) WHERE parent_task_id IS NOT NULL;
CREATE INDEX tasks_testing_idx ON tasks (send_at) WHERE state = 'testing';
-- the pushes with variants still sending: the upkeep marks one done when its variants are
CREATE INDEX tasks_variants_idx ON tasks (created_at) WHERE state = 'variants';
-- Cross-channel fallbacks (doc/fallback.md; schema.sql says what each is)
ALTER TABLE tasks ADD COLUMN fallback_at timestamptz;
ALTER TABLE tasks ADD COLUMN fallback_upto bigint;
ALTER TABLE tasks ADD COLUMN fallback_next_at timestamptz;
CREATE INDEX tasks_fallback_due_idx ON tasks (fallback_at) WHERE fallback_at IS NOT NULL;
CREATE TABLE fallbacks (
    delivery_id bigint PRIMARY KEY,            -- the push's delivery the fallback stands in for
    task_id     text NOT NULL,                 -- the push's task
    platform    text NOT NULL,                 -- the delivery's, as its statistics count it
    outcome     text NOT NULL CHECK (outcome IN ('queued', 'no_address')),
    made_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fallbacks_task_idx ON fallbacks (task_id);
-- The layout (doc/scale-out.md): empty on a single node; push_distribute() writes its row.
CREATE TABLE cluster_layout (
    singleton       boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    registry        text NOT NULL CHECK (registry IN ('distributed')),
    shard_count     int NOT NULL,
    distributed_at  timestamptz NOT NULL DEFAULT now()
);
-- The vendors' access tokens shared by the nodes of the distributed layout (src/auth_share.c,
-- doc/scale-out.md "Vendor tokens"): the tokens one node fetched, which the others use instead
-- of fetching their own. Keyed as the senders' cache is (a hash of the credential's identifying
-- parts); the token is a secret, read by the workers' role only. Unused on a single node.
CREATE TABLE vendor_tokens (
    key         text PRIMARY KEY,
    token       text NOT NULL,
    renew_at    timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    shared_at   timestamptz NOT NULL DEFAULT now()
);
-- The public views' one-node definitions, kept by push_distribute() when it points each view
-- at _layout_view_rows (sql/api/15_distribute.sql): on the layout a view is read through that
-- function, as the extension's owner. Empty on a single node.
CREATE TABLE layout_views (
    view        name PRIMARY KEY,
    definition  text NOT NULL
);
-- Flows (doc/flows.md): a flow send's task names its flow, step and instance.
ALTER TABLE tasks ADD COLUMN flow_id text;
ALTER TABLE tasks ADD COLUMN flow_step text;
ALTER TABLE tasks ADD COLUMN flow_instance bigint;

-- Flows (automated notifications; doc/flows.md). A flow is a trigger, steps and rules; each
-- change is a new version (flow_versions, flow_steps), and an instance runs on the version it
-- entered with. push_track writes the events (tracked_events) and, in the same transaction,
-- starts instances, ends those an exit event stops, and moves those waiting for the event.
CREATE TABLE flows (
    flow_id     text PRIMARY KEY,
    app_id      int NOT NULL REFERENCES apps ON DELETE CASCADE,
    name        text NOT NULL,
    enabled     boolean NOT NULL DEFAULT true,
    version     int NOT NULL,               -- the version new instances enter
    created_by  oid,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, name)
);
-- Every version, as given and as compiled: what push_track reads (trigger, exit, entry rules)
-- is in columns, so that the event's flows are one index probe.
CREATE TABLE flow_versions (
    flow_id         text NOT NULL REFERENCES flows ON DELETE CASCADE,
    version         int NOT NULL,
    app_id          int NOT NULL,
    definition      jsonb NOT NULL,         -- the flow as given
    trigger_event   text,                   -- NULL: another kind of trigger (trigger_kind)
    trigger_where   jsonb,                  -- conditions on the event's props, or NULL
    idempotency_key text,                   -- the prop whose value enters a user once
    exit_event      text,
    exit_where      jsonb,
    reentry         interval,               -- NULL: never
    max_concurrent  int NOT NULL DEFAULT 1,
    first_step      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    -- the trigger's kind, and its compiled spec for the kinds other than event
    -- (sql/api/89_flow_triggers.sql): inactive, attr_change, date_attr, audience_enter
    trigger_kind    text NOT NULL DEFAULT 'event',
    trigger_spec    jsonb,
    PRIMARY KEY (flow_id, version)
);
CREATE INDEX flow_versions_trigger_idx ON flow_versions (app_id, trigger_event);
-- what attribute writes probe: does this app have an attr_change flow?
CREATE INDEX flow_versions_attr_change_idx ON flow_versions (app_id) WHERE trigger_kind = 'attr_change';
CREATE INDEX flow_versions_exit_idx ON flow_versions (app_id, exit_event) WHERE exit_event IS NOT NULL;
-- A version's steps, flattened: each step names the one after it (next_step, NULL: the end),
-- a wait_until the first step of its event path (event_step), a branch its paths (spec).
CREATE TABLE flow_steps (
    flow_id     text NOT NULL,
    version     int NOT NULL,
    step_id     text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('wait', 'wait_until', 'branch', 'send', 'webhook', 'set', 'exit')),
    spec        jsonb NOT NULL,
    next_step   text,
    event_step  text,
    PRIMARY KEY (flow_id, version, step_id),
    FOREIGN KEY (flow_id, version) REFERENCES flow_versions ON DELETE CASCADE
);
-- One row per user instance: a device (device_id) or an account (account, account_type).
-- state waiting: step_id is the step to run (step_started_at NULL) or the wait under way;
-- next_at is when the scheduler looks at it again. done / exited: ended, with the reason.
-- flow_id and device_id have no foreign keys: their checks, a trigger and a query per row, were
-- half of a batch of events' time (doc/benchmarks.md, "Flows at scale, round 2"). _flow_enter,
-- the one writer, locks the flows and devices it enters users into once per call, as the keys
-- would, and enters nobody into one deleted meanwhile; a deleted flow's instances go with it
-- (_flows_deleted, sql/api/89_flow_enter.sql); an erased device's are deleted by the erasure.
CREATE TABLE flow_instances (
    instance_id     bigserial PRIMARY KEY,
    flow_id         text NOT NULL,
    version         int NOT NULL,
    app_id          int NOT NULL,
    device_id       bigint,
    account         text,
    account_type    int,
    state           text NOT NULL DEFAULT 'waiting' CHECK (state IN ('waiting', 'done', 'exited')),
    step_id         text,
    step_started_at timestamptz,
    next_at         timestamptz,
    entered_at      timestamptz NOT NULL,
    exited_at       timestamptz,
    exit_reason     text,
    trigger_props   jsonb NOT NULL DEFAULT '{}',
    idempotency_key text,
    CHECK ((device_id IS NULL) <> (account IS NULL))
-- room on each page for the scheduler's updates that change no indexed column (HOT)
) WITH (fillfactor = 80);
-- an idempotency key enters a user once per flow; an instance without one is not indexed here
CREATE UNIQUE INDEX flow_instances_idempotency_idx ON flow_instances (flow_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX flow_instances_due_idx ON flow_instances (next_at) WHERE state = 'waiting';
CREATE INDEX flow_instances_device_idx ON flow_instances (device_id, flow_id) WHERE device_id IS NOT NULL;
CREATE INDEX flow_instances_account_idx ON flow_instances (app_id, account_type, account, flow_id)
    WHERE account IS NOT NULL;
-- Each step of an instance, once: the primary key is what makes a step fire once whatever the
-- crashes and the number of workers. task_id: the task a send made; detail: why it made none.
-- No foreign key to flow_instances: its check ran for every run written and again for every
-- run updated in its transaction (a send's task), a fifth of the advance through a send
-- (doc/benchmarks.md, "Flows at scale, round 2"). Runs are written by _flow_advance for the
-- instances it holds locked; whoever deletes instances deletes their runs after them
-- (_flow_instances_delete, sql/api/89_flow_enter.sql).
CREATE TABLE flow_step_runs (
    instance_id bigint NOT NULL,
    step_id     text NOT NULL,
    at          timestamptz NOT NULL,
    task_id     text,
    detail      text,
    PRIMARY KEY (instance_id, step_id)
);
CREATE INDEX flow_step_runs_task_idx ON flow_step_runs (task_id) WHERE task_id IS NOT NULL;
-- The events applications report (push_track): what wait_until and branches read.
-- tracked_at: on pushplan's clock, as the flows' steps are timed; recorded_at: the real time
-- the row was written. Partitioned by day of recorded_at (tracked_events_YYYYMMDD), as
-- deliveries and events are, and dropped whole past pushplan.retention_days
-- (sql/api/86_retention.sql; doc/statistics.md, "Retention"). No foreign keys: device_id's
-- check was 40 % of a batch's INSERT, app_id's a quarter of a batch (doc/benchmarks.md,
-- "Flows", "Flows at scale, round 3"); an erasure deletes a device's events itself
-- (sql/api/88_privacy.sql), an app's deletion its events (a trigger on apps:
-- sql/api/89_flows_track.sql), and retention drops the rest.
CREATE TABLE tracked_events (
    event_id     bigserial,
    app_id       int NOT NULL,
    device_id    bigint,
    account      text,
    account_type int,
    event        text NOT NULL,
    props        jsonb NOT NULL DEFAULT '{}',
    at           timestamptz NOT NULL,
    tracked_at   timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, recorded_at)
) PARTITION BY RANGE (recorded_at);
CREATE INDEX tracked_events_device_idx ON tracked_events (device_id, event, tracked_at)
    WHERE device_id IS NOT NULL;
CREATE INDEX tracked_events_account_idx ON tracked_events (app_id, account_type, account, event, tracked_at)
    WHERE account IS NOT NULL;
CREATE TABLE tracked_events_default PARTITION OF tracked_events DEFAULT;
-- the events of a time window, for the inactivity trigger's evaluations (rows arrive in about
-- tracked_at order: a BRIN index costs the inserts next to nothing)
CREATE INDEX tracked_events_time_idx ON tracked_events USING brin (tracked_at);
-- The scheduler's evaluations of the triggers it evaluates as set operations (inactive,
-- date_attr, audience_enter; sql/api/89_flow_triggers.sql): one row per flow, for the version it
-- last evaluated; next_at: when it evaluates the flow again (pushplan's clock).
CREATE TABLE flow_trigger_evals (
    flow_id      text PRIMARY KEY REFERENCES flows ON DELETE CASCADE,
    version      int NOT NULL,
    evaluated_at timestamptz NOT NULL,
    next_at      timestamptz NOT NULL,
    users        bigint NOT NULL DEFAULT 0,     -- users the last evaluation entered
    took_ms      double precision,               -- and what it took
    error        text,                           -- why it failed (then tried again a period later)
    -- a first inactivity evaluation under way, in chunks of device ids across the scheduler's
    -- turns (sql/api/89_flow_trigger_chunks.sql): the version it evaluates, the time it
    -- evaluates at (every chunk's), and the last device id looked at
    resume_version int,
    resume_at      timestamptz,
    resume_after   bigint
);
-- An audience_enter flow's members at its last evaluation: the next one enters the devices
-- that are in the audience and not here, and forgets those that left (they enter again when
-- they come back, under the flow's re-entry rules).
CREATE TABLE flow_audience_members (
    flow_id   text NOT NULL REFERENCES flows ON DELETE CASCADE,
    device_id bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
    PRIMARY KEY (flow_id, device_id)
);
CREATE INDEX flow_audience_members_device_idx ON flow_audience_members (device_id);
-- a flow's sends, by flow and step (statistics by flow; exits cancel an instance's tasks)
CREATE INDEX tasks_flow_idx ON tasks (flow_id, flow_step) WHERE flow_id IS NOT NULL;
-- A flow's own frequency cap and quiet hours (doc/flows.md, "Frequency caps and quiet hours"),
-- its current version's: what the senders' gate reads of a flow (sql/api/72_engagement.sql).
-- Written with each version (push_flow_create, push_flow_update: _flow_controls_sync), deleted
-- with the flow; on the distributed layout a reference table, which the worker nodes' senders
-- read (the flows' tables stay on the coordinator: doc/scale-out.md, "Flows and events").
CREATE TABLE flow_controls (
    flow_id        text PRIMARY KEY,
    app_id         int NOT NULL,
    plans          text[] NOT NULL,     -- the plans its send steps name, of any version
    frequency_cap  jsonb,
    quiet_hours    jsonb
);
-- Audiences from the application's own views (sql/api/42_audience_views.sql,
-- doc/audiences.md): the views an admin allowed an app to name in its audiences ({"view":
-- "schema.view"}). By OID: a view renamed keeps its allowance, one dropped loses it (the
-- compiler finds no view of that name); kind says which columns it returns.
CREATE TABLE audience_views (
    app_id      int NOT NULL REFERENCES apps ON DELETE CASCADE,
    view_oid    oid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('registration_id', 'account')),
    allowed_by  oid,
    allowed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, view_oid)
);
-- Locations devices report (push_location; sql/api/89_flow_geo.sql, doc/flows.md "geofence"):
-- the last 10 of each device, by the time the device gives; geofence triggers compare a new
-- one with the one before it. Erasure deletes them with the device.
CREATE TABLE device_locations (
    device_id   bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
    at          timestamptz NOT NULL,
    lat         float8 NOT NULL CHECK (lat BETWEEN -90 AND 90),
    lon         float8 NOT NULL CHECK (lon BETWEEN -180 AND 180),
    reported_at timestamptz NOT NULL,
    PRIMARY KEY (device_id, at)
);
-- The queue rows name their delivery's device (the distributed layout places them on its
-- shard: doc/scale-out.md). A row whose delivery is gone would be dropped at its claim: it goes now.
ALTER TABLE delivery_queue ADD COLUMN device_id bigint;
UPDATE delivery_queue q SET device_id = d.device_id FROM deliveries d WHERE d.delivery_id = q.delivery_id;
DELETE FROM delivery_queue WHERE device_id IS NULL;
ALTER TABLE delivery_queue ALTER COLUMN device_id SET NOT NULL;
-- The distributed layout's expansion on every node (doc/scale-out.md, "Expansion on every node").
ALTER TABLE tasks ADD COLUMN shard_expansion boolean NOT NULL DEFAULT false;
-- The distributed layout's expansion, shard by shard (doc/scale-out.md, "Expansion on every
-- node"): one row per task and shard of the devices' colocation group, kept on that shard (so
-- it moves with it), where the node's scheduler expands the shard's devices in batches as one
-- node expands a task (expanded_upto, targeted, spread_total as in tasks). The coordinator
-- writes the rows when it hands a task over and deletes them once every row is done. Empty on
-- one node.
CREATE TABLE task_shard_expansions (
    device_id     bigint NOT NULL,      -- not a device: a value of the shard's hash range, which places the row
    task_id       text NOT NULL,
    expanded_upto bigint NOT NULL DEFAULT -1,
    targeted      bigint NOT NULL DEFAULT 0,
    spread_total  bigint,
    done          boolean NOT NULL DEFAULT false,
    error         text,
    PRIMARY KEY (device_id, task_id)
);
-- the tasks the nodes are expanding (the coordinator's scheduler looks each turn)
CREATE INDEX tasks_shard_expansion_idx ON tasks (task_id) WHERE shard_expansion AND NOT expanded;
-- A task's plan of sends (doc/schedules.md, "Send plans"): the deliveries of a task the scheduler
-- expands (a broadcast, a schedule's firing, each device's own send time for zone_type 2 or an
-- intelligent trigger), kept as one row per send time, platform and vendor and up to 100
-- devices, instead of a delivery and a queue row per device. A sender claims the due rows
-- (claimed_by, as a queue row's) and sends their devices; each device's delivery is written
-- once, with its outcome, and leaves the row in the same statement (a row left empty goes)
-- (src/worker_sender.c). Until then the row is what push_task_progress counts as queued (or
-- sending, once claimed), push_cancel cancels (unclaimed) and an erasure removes a device
-- from. Empty on the distributed layout, where the nodes expand tasks into deliveries.
CREATE TABLE delivery_plans (
    plan_id     bigserial PRIMARY KEY,
    task_id     text NOT NULL REFERENCES tasks ON DELETE CASCADE,
    send_at     timestamptz NOT NULL,
    priority    smallint NOT NULL,      -- the task's lane, as delivery_queue.priority
    platform    text NOT NULL,          -- the devices' platform and vendor at the expansion, as
    vendor      text NOT NULL,          -- deliveries.platform and vendor would have kept them
    device_ids  bigint[] NOT NULL,      -- the devices not written yet
    claimed_by  int,                    -- sender slot of the claim (in flight), as delivery_queue's
    claimed_at  timestamptz
) WITH (fillfactor = 50);
-- what a claim looks for: the due rows of its lanes, high first
CREATE INDEX delivery_plans_due_idx ON delivery_plans (priority, send_at);
CREATE INDEX delivery_plans_task_idx ON delivery_plans (task_id);
-- The tasks being sent once expanded, among which the upkeep and the senders look for the
-- finished ones (the upkeep read every task each turn: tasks are kept forever).
CREATE INDEX tasks_sending_idx ON tasks (task_id) WHERE state = 'sending' AND expanded;
