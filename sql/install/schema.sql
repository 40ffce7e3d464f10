-- pushplan: the data model. Every object belongs to one app (the tenant).
-- Internal tables use integer keys (app_id, device_id, tag_id); the SQL API speaks the
-- users' text names and translates once per call.

\echo Use "CREATE EXTENSION pushplan" to load this file. \quit

CREATE TABLE apps (
    app_id      serial PRIMARY KEY,
    app         text NOT NULL UNIQUE,
    name        text,
    settings    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE apps IS 'tenants: one mobile or web application each (Tencent Push''s AccessID, Tencent IM''s SdkAppID, EngageLab''s AppKey)';

-- Which roles act on which app, and how (push_app_grant; src/tenancy.c, doc/security.md).
-- role is a pg_authid oid: a dropped role's rows match nobody, and push_app_grant removes them.
CREATE TABLE app_grants (
    app_id      int NOT NULL REFERENCES apps ON DELETE CASCADE,
    role        oid NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('admin', 'operator', 'app', 'reader')),
    granted_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, role, kind)
);

-- Vendor credentials. Never granted to the reader or app roles.
CREATE TABLE vendor_configs (
    app_id      int NOT NULL REFERENCES apps ON DELETE CASCADE,
    vendor      text NOT NULL,
    config      jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (app_id, vendor)
);

CREATE TABLE devices (
    device_id       bigserial PRIMARY KEY,
    app_id          int NOT NULL REFERENCES apps ON DELETE CASCADE,
    -- Registration ids and tokens are opaque identifiers: bytewise comparison ("C") makes every
    -- index probe and insertion a memcmp instead of a locale-aware strcoll.
    registration_id text COLLATE "C" NOT NULL,
    platform        text NOT NULL,
    vendor          text NOT NULL,
    token           text COLLATE "C",           -- NULL once the vendor said it is invalid
    timezone        text NOT NULL DEFAULT 'UTC',-- canonical IANA name
    language        text,
    attrs           jsonb NOT NULL DEFAULT '{}',
    opted_in        boolean NOT NULL DEFAULT true,
    registered      boolean NOT NULL DEFAULT true, -- false after push_device_unregister
    -- the one predicate every audience applies; stored so a partial index can hold its complement
    reachable       boolean GENERATED ALWAYS AS
                        (opted_in AND registered AND token IS NOT NULL) STORED,
    token_invalidated_at timestamptz,
    last_active_at  timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (app_id, registration_id)
);
-- Tokens are looked up per app (audiences by token; a token moving to another registration,
-- which then checks the vendor).
CREATE INDEX devices_token_idx ON devices (app_id, token);
CREATE INDEX devices_attrs_idx ON devices USING gin (attrs jsonb_path_ops);
-- Few devices are unreachable; audiences subtract this small set instead of joining every match
-- back to devices.
CREATE INDEX devices_unreachable_idx ON devices (app_id, device_id) WHERE NOT reachable;

-- Visits, the history behind intelligent (smart) send times.
CREATE TABLE device_activity (
    device_id   bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
    at          timestamptz NOT NULL
);
CREATE INDEX device_activity_device_idx ON device_activity (device_id, at);
-- Reactions to pushes, the history that weighs most (doc/smart_send.md, "Opens and clicks"):
-- the first open and the first click of each delivery, written by push_event and
-- push_event_batch with the event that counted. No foreign key: the check would cost every
-- counted open or click a look-up and a lock of its device (push_event_batch's target is
-- 50,000 events/s); pushplan deletes no device, and reactions are read only joined with one.
CREATE TABLE device_reactions (
    device_id   bigint NOT NULL,
    at          timestamptz NOT NULL,           -- when it happened, as reported
    kind        smallint NOT NULL               -- the event's bit: 2 open, 4 click
);
CREATE INDEX device_reactions_device_idx ON device_reactions (device_id, at);

-- Intelligent send times (doc/smart_send.md): each device's histogram of visits over the 288
-- five-minute slots of its local day, decayed by age (src/smart_send.c), kept so that an
-- expansion reads one row per device instead of its visits. Weights are relative to the
-- device's latest visit, so a profile goes stale only when a visit is recorded.
CREATE TABLE device_send_profiles (
    device_id     bigint PRIMARY KEY REFERENCES devices ON DELETE CASCADE,
    timezone      text NOT NULL,            -- the zone its slots are in (the device's, then)
    slots         smallint[] NOT NULL,      -- local five-minute slots with a weight, ascending
    weights       real[] NOT NULL,          -- their weights (the latest visit counts 1)
    visits        int NOT NULL,             -- visits and reactions read
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

-- Tags: a per-app dictionary and a (tag_id, device_id) membership table, so tag audiences are
-- index-only scans and merge joins on integers.
CREATE TABLE tags (
    tag_id      serial PRIMARY KEY,
    app_id      int NOT NULL REFERENCES apps ON DELETE CASCADE,
    tag         text NOT NULL,
    UNIQUE (app_id, tag)
);
-- No foreign keys here: bulk registration writes tens of thousands of memberships a call and
-- the per-row RI triggers would triple its cost. Only the API functions write this table, with
-- ids they just read, and devices are never deleted (unregistering keeps them).
CREATE TABLE device_tags (
    tag_id      int NOT NULL,
    device_id   bigint NOT NULL,
    PRIMARY KEY (tag_id, device_id)
);
CREATE INDEX device_tags_device_idx ON device_tags (device_id);

-- Account binding (Tencent Push's account / account_type); bound_at orders an account's devices,
-- most recent first, for account_push_type 0.
CREATE TABLE device_accounts (
    app_id       int NOT NULL REFERENCES apps ON DELETE CASCADE,
    account_type int NOT NULL,
    account      text NOT NULL,
    device_id    bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
    bound_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (app_id, account_type, account, device_id)
);
CREATE INDEX device_accounts_device_idx ON device_accounts (device_id);

-- Consent per category (doc/privacy.md): a device's grant or withdrawal for one of its app's
-- categories (marketing, or one the app's settings define; transactional needs none). Read by
-- the expansion and the senders' claim only for pushes that name a category that needs it, by
-- the primary key.
CREATE TABLE device_consents (
    device_id   bigint NOT NULL REFERENCES devices ON DELETE CASCADE,
    category    text NOT NULL,
    granted     boolean NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),    -- when the person said so
    PRIMARY KEY (device_id, category)
);

-- Push plans (campaigns). Each app has a default plan that can be neither edited nor deleted.
CREATE TABLE plans (
    app_id      int NOT NULL REFERENCES apps ON DELETE CASCADE,
    plan_id     text NOT NULL,
    description text,
    is_default  boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- added in 0.2: a plan's own engagement controls (push_plan_set; doc/engagement.md)
    settings    jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (app_id, plan_id)
);

-- Push tasks: one per push_send or schedule run. The scheduler expands a task's audience into
-- deliveries; senders deliver them. state: queued (waiting for send_at, then expansion) ->
-- sending -> done, or cancelled.
CREATE TABLE tasks (
    task_id     text PRIMARY KEY,
    app_id      int NOT NULL REFERENCES apps ON DELETE CASCADE,
    plan_id     text NOT NULL,
    dialect     text NOT NULL DEFAULT 'engagelab',
    request_id  text,                   -- idempotency key (EngageLab request_id)
    msg_random  bigint,                 -- idempotency key within one second (Tencent IM MsgRandom)
    msg_second  bigint,                 -- ... that second, as Unix time
    push        jsonb NOT NULL,         -- the normalized push (doc/push.md)
    broadcast   boolean NOT NULL DEFAULT false, -- all / tag / attribute audience: counts for the quota
    state       text NOT NULL DEFAULT 'queued',
    send_at     timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz,            -- send_at + time_to_live: later deliveries expire
    targeted    bigint,                 -- deliveries made so far; all of them once expanded
    expanded    boolean NOT NULL DEFAULT false, -- every delivery of the audience exists
    expanded_upto bigint,               -- expansion runs in batches by device_id: the last one done
    spread_total bigint,                -- audience size, counted first when big_push_duration spreads it
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    started_at  timestamptz,
    finished_at timestamptz,
    -- added in 0.2: new columns go last, as ALTER TABLE ADD COLUMN puts them in an upgrade
    created_by  oid,                    -- the role that sent it (an app role cancels only its own)
    -- the lane its deliveries are claimed in: 0 high (transactional), 1 normal, 2 low
    -- (options.priority; without it, a small list of ids is high and the rest normal)
    priority    smallint NOT NULL DEFAULT 1 CHECK (priority BETWEEN 0 AND 2),
    -- per-device send times (a schedule's zone_type 2 or intelligent trigger; doc/schedules.md):
    -- {"local": "YYYY-MM-DD HH:MM:SS"} each device at that wall time in its own zone, or
    -- {"intelligent": {...}}; NULL: every device at send_at (or spread by big_push_duration)
    send_rule   jsonb,
    -- options.time_to_live; a task with a send_rule expires per device, at its send_at plus this
    time_to_live interval,
    -- what the push's templates read of each device ('attrs', 'account'; doc/templates.md);
    -- NULL: the push has no template, and the senders read neither
    template_reads text[],
    -- options.category (doc/privacy.md), and the consent its devices need, resolved from the
    -- app's settings when the push was stored: 'opt_in' (a grant), 'opt_out' (no withdrawal),
    -- NULL (none: no category, or transactional). The senders read consent only when it is set.
    category    text,
    consent     text CHECK (consent IN ('opt_in', 'opt_out')),
    -- A/B variants (doc/variants.md): a push with "variants" is a parent task (state 'variants',
    -- or 'testing' while a "variants_test" waits for its winner; never expanded itself) and one
    -- child task per variant, each with its own normalized push; a child expands the parent's
    -- audience restricted to the devices whose bucket (0..9999, by _variant_bucket(parent,
    -- device)) is in variant_buckets. A control child writes its devices' deliveries as
    -- 'control': never queued, counted in control, not in targeted. variant_winner: the task
    -- that sends a test's winner to the rest of the audience.
    parent_task_id  text REFERENCES tasks ON DELETE CASCADE,
    variant         text,
    variant_buckets int4range,
    variant_control boolean NOT NULL DEFAULT false,
    variant_winner  boolean NOT NULL DEFAULT false,
    -- a push's fallback (doc/fallback.md; the push's "fallback"): when the scheduler looks at its
    -- deliveries next (NULL: no fallback, or every one of them decided), the device_id its look
    -- has reached (a look runs in batches), and the soonest a delivery it saw will be due
    fallback_at      timestamptz,
    fallback_upto    bigint,
    fallback_next_at timestamptz,
    -- a flow's send (doc/flows.md): its flow, step and user instance; NULL for other tasks
    flow_id     text,
    flow_step   text,
    flow_instance bigint,
    -- the distributed layout: the nodes expand it, each the devices of its own shards, in
    -- task_shard_expansions (doc/scale-out.md, "Expansion on every node"); false: the
    -- scheduler of one node (or of the coordinator) expands it, by expanded_upto
    shard_expansion boolean NOT NULL DEFAULT false,
    FOREIGN KEY (app_id, plan_id) REFERENCES plans,
    UNIQUE (app_id, request_id)
);
CREATE UNIQUE INDEX tasks_msg_random_idx ON tasks (app_id, msg_random, msg_second)
    WHERE msg_random IS NOT NULL;
-- what the scheduler looks for: due tasks and those whose expansion is under way, lane by lane
CREATE INDEX tasks_due_idx ON tasks (priority, send_at)
    WHERE state = 'queued' OR (state = 'sending' AND NOT expanded);
-- the tasks being sent once expanded: the upkeep and the senders look for the finished ones
-- among them (tasks are kept forever: without it the upkeep read them all each turn)
CREATE INDEX tasks_sending_idx ON tasks (task_id) WHERE state = 'sending' AND expanded;
CREATE INDEX tasks_broadcast_idx ON tasks (app_id, created_at) WHERE broadcast;
CREATE INDEX tasks_plan_idx ON tasks (app_id, plan_id);
CREATE INDEX tasks_parent_idx ON tasks (parent_task_id) WHERE parent_task_id IS NOT NULL;
-- the pushes whose variants test waits for its winner (the scheduler's upkeep looks)
CREATE INDEX tasks_testing_idx ON tasks (send_at) WHERE state = 'testing';
-- the pushes with variants still sending: the upkeep marks one done when its variants are
CREATE INDEX tasks_variants_idx ON tasks (created_at) WHERE state = 'variants';
-- the fallbacks' due index: what the scheduler looks for (sql/api/74_fallback.sql)
CREATE INDEX tasks_fallback_due_idx ON tasks (fallback_at) WHERE fallback_at IS NOT NULL;

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

-- Uploaded account packages (Tencent Push's push to accounts). Accounts are de-duplicated on upload.
CREATE TABLE account_packages (
    upload_id     bigserial PRIMARY KEY,
    app_id        int NOT NULL REFERENCES apps ON DELETE CASCADE,
    filename      text NOT NULL,
    account_type  int NOT NULL,
    account_count bigint NOT NULL,
    byte_size     bigint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE account_package_accounts (
    upload_id   bigint NOT NULL REFERENCES account_packages ON DELETE CASCADE,
    account     text NOT NULL,
    PRIMARY KEY (upload_id, account)
);

-- Sending: deliveries (one per task and device) and the queue of the open ones.

-- One row per device a task reaches. Senders claim queued rows whose send_at has come
-- (through delivery_queue, below), deliver them outside any transaction and write the outcome back.
-- status: queued | suppressed | sent | failed | invalid_token | expired | cancelled. A queued
-- delivery whose queue row is claimed is in flight (push_deliveries shows it as 'sending'): the
-- claim writes only the queue row, and a delivery is updated once, with its outcome (claimed_by
-- and claimed_at then say which sender's claim it was, and when).
-- No index covers a column that an outcome changes (status is in none, not even in a
-- predicate), and pages are half empty: the outcome's update is HOT, so a broadcast's
-- hot path writes no index entries here at all.
-- Partitioned by day (doc/statistics.md, "Retention"): a delivery's id carries the UTC day it
-- was made in its high bits (days since 1970-01-01, times 2^40), so each day's deliveries are
-- one partition (deliveries_YYYYMMDD, fill factor 50), dropped whole once older than
-- pushplan.retention_days, while every statement finds a delivery by its id alone. The
-- scheduler's upkeep makes the partitions a few days ahead (sql/api/86_retention.sql); the
-- default partition catches a day made too late, and is trimmed by the same rule.
CREATE SEQUENCE deliveries_delivery_id_seq MAXVALUE 1099511627775;    -- 2^40 - 1
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
    -- the kinds the last batch of events added to events, set by that batch's UPDATE for its
    -- own RETURNING to read (which shows only the new row in PostgreSQL 15); no one else reads it
    events_added      smallint NOT NULL DEFAULT 0,
    -- a fallback's message (doc/fallback.md): {"task_id", "delivery_id"} of the push's delivery
    -- it stands in for, "unless" and the address "to"; NULL for every push's own delivery
    fallback          jsonb,
    -- of the attempts (every try), those lost with their connection (reset, closed or GOAWAY'd
    -- under them): they do not count against pushplan.max_attempts, up to 5 x as many of them
    -- (doc/reliability.md)
    collateral        smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (delivery_id)
) PARTITION BY RANGE (delivery_id);
ALTER SEQUENCE deliveries_delivery_id_seq OWNED BY deliveries.delivery_id;
-- A task's delivery to a device: one per device (an expansion's batches never overlap: each
-- commits with the progress it made; a unique index cannot span partitions by another key).
CREATE INDEX deliveries_task_device_idx ON deliveries (task_id, device_id);
CREATE INDEX deliveries_device_idx ON deliveries (device_id);
CREATE TABLE deliveries_default PARTITION OF deliveries DEFAULT WITH (fillfactor = 50);

-- The open deliveries (queued or sending), small whatever the history: what senders claim
-- (FOR UPDATE SKIP LOCKED on the due index), and what tells that a task is finished (no row of
-- it left). A row is written with its delivery, claimed (claimed_by: the delivery is in flight),
-- and deleted in the transaction that records its outcome; a retry puts it back with the new
-- send_at. The delivery's status stays the truth: a queue row whose delivery is no longer queued
-- is dropped when claimed.
CREATE TABLE delivery_queue (
    task_id     text NOT NULL,
    delivery_id bigint NOT NULL,
    send_at     timestamptz NOT NULL,
    claimed_by  int,
    claimed_at  timestamptz,
    priority    smallint NOT NULL DEFAULT 1,    -- the task's lane: claimed 0 (high) first, then 1, 2
    -- the delivery's device (0.2): the distributed layout places a queue row on its device's
    -- shard, next to the delivery (doc/scale-out.md); on one node only written
    device_id   bigint NOT NULL,
    -- Also what "is anything of this task left" probes: ORDER BY both columns DESC LIMIT 1, so
    -- that only this index answers it (a sequential scan, or the index of a lone delivery_id,
    -- would wade through the deleted rows of what was sent), from the end where the rows not
    -- sent yet are.
    PRIMARY KEY (task_id, delivery_id)
) WITH (fillfactor = 50);
-- Not partial on claimed_by: a claim then changes no indexed column and is a HOT update too
-- (the claim query skips the rows in flight, at most max_inflight per sender, by a filter).
-- Led by the lane: a claim reads each lane's due rows as one range, high first, so a
-- transactional push is claimed ahead of any broadcast backlog.
CREATE INDEX delivery_queue_due_idx ON delivery_queue (priority, send_at);

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

-- Erasures (push_device_erase, push_account_erase; doc/privacy.md): that one was done, when,
-- by whom and how many rows it removed, without the person: subject_hash is the hex SHA-256 of
-- the app's id and the identifier erased, so that a later request about the same identifier
-- can be matched ("was I erased?") while the row names nobody by itself.
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

-- Cross-channel fallbacks (doc/fallback.md): one row per delivery of a push that had its
-- fallback, written by the scheduler in the transaction that makes the fallback's message. The
-- primary key is what makes it once per delivery, whatever crashes, restarts or second looks.
-- outcome: queued (a message made, a delivery of the push's fallback task) | no_address (the
-- device had none: counted, nothing sent). No foreign key: deliveries' partitions are dropped
-- whole (doc/statistics.md, "Retention"), and these rows with them (_raw_partitions_maintain).
CREATE TABLE fallbacks (
    delivery_id bigint PRIMARY KEY,            -- the push's delivery the fallback stands in for
    task_id     text NOT NULL,                 -- the push's task
    platform    text NOT NULL,                 -- the delivery's, as its statistics count it
    outcome     text NOT NULL CHECK (outcome IN ('queued', 'no_address')),
    made_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX fallbacks_task_idx ON fallbacks (task_id);
-- The layout (doc/scale-out.md): empty on a single node; one row once push_distribute() has
-- turned the install into the distributed layout on a Citus coordinator. Registration reads it
-- to choose how a new device's id is made (a sequence, or a key of the app and registration id).
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
