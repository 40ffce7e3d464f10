-- Roles. Every API function is SECURITY DEFINER and no role gets rights on the tables, so each
-- role can do exactly what its functions and views allow. The group roles say which functions
-- a role may call; its bindings (push_app_grant) say on which apps (doc/security.md):
--   pushplan_reader     statistics and progress views
--   pushplan_app        device registration, consent, tags, attributes, accounts, events,
--                       transactional sends (application code)
--   pushplan_operator   plans, audiences, account packages, sends, schedules; what readers see
--   pushplan_app_admin  settings, vendor credentials and bindings of its apps; all of the above
--   pushplan_admin      every app, bound or not (cluster-wide), and creates apps
--   pushplan_worker     not a group role: what the background workers do their work as
--                       (push_worker_grants, below); bound to no app, member of nothing
-- Vendor credentials (vendor_configs) and outcome webhooks (outcome_webhooks) are readable by
-- no role but the extension's owner and pushplan_worker (the workers send with them).
-- Roles are cluster-wide: they are created once and survive DROP EXTENSION.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pushplan_reader') THEN
        CREATE ROLE pushplan_reader NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pushplan_app') THEN
        CREATE ROLE pushplan_app NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pushplan_operator') THEN
        CREATE ROLE pushplan_operator NOLOGIN IN ROLE pushplan_reader;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pushplan_app_admin') THEN
        CREATE ROLE pushplan_app_admin NOLOGIN IN ROLE pushplan_operator, pushplan_app;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pushplan_admin') THEN
        CREATE ROLE pushplan_admin NOLOGIN IN ROLE pushplan_app_admin;
    ELSIF NOT pg_has_role('pushplan_admin', 'pushplan_app_admin', 'MEMBER') THEN
        GRANT pushplan_app_admin TO pushplan_admin;     -- created by an earlier build
    END IF;
END $$;

-- The background workers' role (doc/security.md, "What runs as whom"). The scheduler and the
-- senders connect as the bootstrap superuser (PostgreSQL 15 connects a worker only as a role
-- that can log in) and do every unit of work as pushplan_worker, which holds exactly what their
-- statements need:
--   scheduler: due tasks (SELECT ... FOR NO KEY UPDATE, UPDATE); the audience (devices, tags,
--     device_tags, device_accounts, account_packages, account_package_accounts, device_consents);
--     vendors set
--     (vendor_configs); INSERT of deliveries (and their sequence) and queue rows, or of send
--     plans (delivery_plans); the upkeep (tasks done, stale claims back to the queue);
--   senders: the claim (delivery_queue FOR UPDATE, deliveries, tasks, devices, device_consents;
--     the due send plans claimed, their deliveries written with their outcomes),
--     task pushes and vendor credentials (vendor_configs), outcomes (deliveries, delivery_queue, tasks done), and
--     invalid tokens cleared (devices: only token, token_invalidated_at, updated_at);
--   smart send times (sql/api/75_smart_send.sql, run with the caller's rights): the scheduler
--     computes them (visits, profiles, marks) and refreshes the profiles in its upkeep;
--   engagement controls (sql/api/72_engagement.sql): the claim's gate reads the settings,
--     counts in engagement_counts, and moves held deliveries (deliveries, delivery_queue);
--   fallbacks (sql/api/74_fallback.sql): the scheduler reads a push's deliveries and the
--     devices' accounts and attributes, and writes fallbacks, the fallback task, its deliveries
--     and queue rows;
--   statistics (sql/api/85_statistics.sql): the scheduler's expansion and the senders' outcomes
--     append to stats_pending (and latency_pending), and the upkeep folds them into the
--     aggregates (_stats_rollup, run with the caller's rights).
-- Worker SQL calls no other pushplan function, so the role executes only those.
-- Nobody may be made a member of it: it reads every app's devices and credentials.
-- This script calls it; a superuser calls it again after the role was dropped (once per
-- database that has the extension; doc/operations.md).
CREATE OR REPLACE FUNCTION push_worker_grants() RETURNS void
LANGUAGE plpgsql SET search_path = pushplan, pg_temp AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'pushplan_worker') THEN
        CREATE ROLE pushplan_worker NOLOGIN;
    END IF;
    GRANT USAGE ON SCHEMA pushplan TO pushplan_worker;
    GRANT SELECT, INSERT, UPDATE ON tasks TO pushplan_worker;
    -- schedules: firing makes tasks through push_send's checks (plans, the app's quota)
    GRANT SELECT, UPDATE ON schedules TO pushplan_worker;
    GRANT SELECT, INSERT, UPDATE ON schedule_runs TO pushplan_worker;
    GRANT SELECT ON apps, plans TO pushplan_worker;
    GRANT SELECT, INSERT, UPDATE ON deliveries TO pushplan_worker;
    GRANT USAGE ON SEQUENCE deliveries_delivery_id_seq TO pushplan_worker;
    GRANT SELECT, INSERT, UPDATE, DELETE ON delivery_queue TO pushplan_worker;
    -- send plans: written by the expansion, made into deliveries by the senders' claims
    GRANT SELECT, INSERT, UPDATE, DELETE ON delivery_plans TO pushplan_worker;
    GRANT USAGE ON SEQUENCE delivery_plans_plan_id_seq TO pushplan_worker;
    GRANT SELECT ON devices, vendor_configs, tags, device_tags, device_accounts,
        account_packages, account_package_accounts TO pushplan_worker;
    GRANT UPDATE (token, token_invalidated_at, updated_at) ON devices TO pushplan_worker;
    -- the access tokens the nodes of a distributed cluster share (src/auth_share.c)
    GRANT SELECT, INSERT, UPDATE ON vendor_tokens TO pushplan_worker;
    -- the workers' clock and the occurrence arithmetic of schedules
    GRANT EXECUTE ON FUNCTION clock_now(), _schedule_next(jsonb, text, timestamptz, timestamptz)
        TO pushplan_worker;
    GRANT SELECT ON device_activity TO pushplan_worker;
    -- the audience compiler asks which layout this is (src/layout.c, doc/scale-out.md)
    GRANT SELECT ON cluster_layout TO pushplan_worker;
    GRANT SELECT ON device_reactions TO pushplan_worker;
    -- consent per category (doc/privacy.md): the expansion and the claim read it; a schedule's
    -- firing checks its push's category as push_send does
    GRANT SELECT ON device_consents TO pushplan_worker;
    GRANT EXECUTE ON FUNCTION _consent_rule(int, text) TO pushplan_worker;
    GRANT SELECT, INSERT, UPDATE, DELETE ON device_send_profiles TO pushplan_worker;
    GRANT SELECT, UPDATE, DELETE ON smart_profile_pending TO pushplan_worker;
    GRANT EXECUTE ON FUNCTION _smart_histograms(bigint[]),
        _smart_send_times(bigint[], timestamptz, timestamptz, timestamp),
        _smart_profiles_refresh(int), _smart_profiles_refresh_tables(regclass, regclass, int)
        TO pushplan_worker;
    GRANT SELECT, INSERT, DELETE ON stats_pending, latency_pending TO pushplan_worker;
    GRANT SELECT, INSERT, UPDATE ON task_stats, plan_stats, vendor_latency TO pushplan_worker;
    GRANT EXECUTE ON FUNCTION _stats_rollup(), _stats_period(timestamptz), _message_type(jsonb)
        TO pushplan_worker;
    -- A/B variants (sql/api/89_variants.sql): the expansion splits a push's audience by it, and
    -- the upkeep sends the winners of the variants tests that are due
    GRANT EXECUTE ON FUNCTION _variant_bucket(text, bigint), _variants_pick_winners() TO pushplan_worker;
    -- the raw partitions' upkeep (sql/api/86_retention.sql: SECURITY DEFINER, as it makes and
    -- drops tables the extension owns)
    GRANT EXECUTE ON FUNCTION _raw_partitions_maintain() TO pushplan_worker;
    -- the outcome webhook (sql/api/87_outcome_webhook.sql): the senders, the expansion and
    -- push_cancel append final outcomes to the outbox of the apps that have one; the scheduler
    -- makes batches of them and posts them with the webhook's url and secret
    GRANT SELECT ON outcome_webhooks TO pushplan_worker;
    GRANT SELECT, INSERT, DELETE ON outcome_outbox TO pushplan_worker;
    GRANT USAGE ON SEQUENCE outcome_outbox_outcome_id_seq TO pushplan_worker;
    GRANT SELECT, INSERT, UPDATE, DELETE ON outcome_batches TO pushplan_worker;
    GRANT EXECUTE ON FUNCTION _outcome_batches_make(int, interval), _outcome_outbox_sweep(),
        _retention_first_day()
        TO pushplan_worker;
    -- engagement controls (sql/api/72_engagement.sql): the senders' claim counts deliveries
    -- against frequency caps and holds those in quiet hours
    GRANT SELECT, INSERT, UPDATE ON engagement_counts TO pushplan_worker;
    GRANT EXECUTE ON FUNCTION _engagement_any(int, text), _engagement_gate(bigint[], timestamptz),
        _engagement_zone(text, text), _quiet_end(jsonb, timestamp),
        _cap_release(jsonb, timestamptz[], timestamptz, text)
        TO pushplan_worker;
    -- cross-channel fallback (sql/api/74_fallback.sql): the scheduler's look makes the
    -- fallbacks' rows, tasks and deliveries
    GRANT SELECT, INSERT ON fallbacks TO pushplan_worker;
    GRANT EXECUTE ON FUNCTION _fallback_step(int, timestamptz), _fallback_push(jsonb),
        _fallback_task_id(text)
        TO pushplan_worker;
    -- flows (sql/api/89_flows.sql): the scheduler advances the instances whose time has come
    -- (SECURITY DEFINER: a send step makes its task as push_send does)
    GRANT EXECUTE ON FUNCTION _flow_advance(int), _flow_next_due() TO pushplan_worker;
    -- the scheduler reads the flows; the senders' gate a flow's frequency_cap and quiet_hours
    -- (flow_controls, 72_engagement.sql)
    GRANT SELECT ON flows, flow_versions, flow_steps, flow_controls TO pushplan_worker;
    -- and evaluates the triggers of inactive, date_attr and audience_enter flows
    GRANT EXECUTE ON FUNCTION _flow_triggers_run(), _flow_triggers_next_due(), _flow_triggers_chunking()
        TO pushplan_worker;
    -- the distributed layout (sql/api/16_distribute_sending.sql): the coordinator's upkeep
    GRANT EXECUTE ON FUNCTION _distributed_tasks_done(), _distributed_stats_pull(),
        _registry_distributed(),
        _distributed_outbox_pull(int), _task_shards_start(text, timestamptz),
        _task_shards_finish(timestamptz, boolean) TO pushplan_worker;
    -- and every node's expansion of its shards
    GRANT SELECT, INSERT, UPDATE, DELETE ON task_shard_expansions TO pushplan_worker;
    -- the marks of the worker nodes' outboxes moved here (_distributed_outbox_pull)
    GRANT SELECT, INSERT, UPDATE ON outcome_outbox_pulled TO pushplan_worker;
END $$;
COMMENT ON FUNCTION push_worker_grants() IS
    'creates the role pushplan_worker if missing and grants it what the background workers need (superusers)';
SELECT push_worker_grants();

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pushplan FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA pushplan FROM PUBLIC;
GRANT USAGE ON SCHEMA pushplan
    TO pushplan_reader, pushplan_app, pushplan_operator, pushplan_app_admin, pushplan_admin;
-- the views' filter (it shows each caller only the apps it is bound to)
GRANT EXECUTE ON FUNCTION _visible_apps(text)
    TO pushplan_reader, pushplan_app, pushplan_operator, pushplan_app_admin, pushplan_admin;
-- and the views' rows on the distributed layout (it checks the caller's right on the view:
-- sql/api/15_distribute.sql)
GRANT EXECUTE ON FUNCTION _layout_view_rows(name)
    TO pushplan_reader, pushplan_app, pushplan_operator, pushplan_app_admin, pushplan_admin;

-- readers
GRANT SELECT ON push_plans TO pushplan_reader;

-- application code
GRANT EXECUTE ON FUNCTION
    push_device_register(text, text, text, text, text, text, text),
    push_device_register_batch(text, jsonb),
    push_device_unregister(text, text),
    push_device_opt(text, text, boolean),
    push_device_activity(text, text, timestamptz),
    push_tag_add(text, text, text[]),
    push_tag_remove(text, text, text[]),
    push_attr_set(text, text, jsonb),
    push_account_bind(text, text, text, int),
    push_account_unbind(text, text, text, int)
    TO pushplan_app;

-- operators
GRANT EXECUTE ON FUNCTION
    push_plan_create(text, text, text),
    push_plan_update(text, text, text),
    push_plan_set(text, text, jsonb),
    push_plan_delete(text, text),
    push_audience_count(text, jsonb),
    push_audience_preview(text, jsonb, int),
    push_account_package_upload(text, text, bytea, int),
    push_account_package_delete(text, bigint),
    canonical_timezone(text)
    TO pushplan_operator;
GRANT SELECT ON push_devices, push_vendors, push_account_packages TO pushplan_operator;

-- administrators of their apps
GRANT EXECUTE ON FUNCTION
    push_app_set(text, jsonb),
    push_vendor_set(text, text, jsonb),
    push_outcome_webhook_set(text, jsonb),
    push_app_grant(text, regrole, text),
    push_app_revoke(text, regrole, text)
    TO pushplan_app_admin;
GRANT SELECT ON push_app_grants, push_outcome_webhooks TO pushplan_app_admin;

-- cluster-wide administrators
GRANT EXECUTE ON FUNCTION push_app_create(text, text) TO pushplan_admin;

-- sending (sql/api/70_sending.sql, sql/api/60_push_parse.sql)
GRANT EXECUTE ON FUNCTION push_send(text, jsonb) TO pushplan_app, pushplan_operator;
GRANT EXECUTE ON FUNCTION push_cancel(text, text) TO pushplan_app, pushplan_operator;
GRANT EXECUTE ON FUNCTION push_validate(jsonb) TO pushplan_operator;
GRANT EXECUTE ON FUNCTION push_validate(jsonb) TO pushplan_app;
GRANT SELECT ON push_task_progress TO pushplan_reader;
-- (the view's form on the distributed layout; it reads only the caller's apps)
GRANT EXECUTE ON FUNCTION _task_progress_distributed() TO pushplan_reader;
GRANT SELECT ON push_deliveries TO pushplan_operator;
GRANT EXECUTE ON FUNCTION push_vendor_test TO pushplan_app_admin;

-- schedules (sql/api/80_schedules.sql)
GRANT EXECUTE ON FUNCTION
    push_schedule_create(text, jsonb),
    push_schedule_update(text, text, jsonb),
    push_schedule_enable(text, text, boolean),
    push_schedule_delete(text, text)
    TO pushplan_operator;
GRANT SELECT ON push_schedules, push_schedule_runs TO pushplan_reader;

-- statistics (sql/api/85_statistics.sql)
GRANT EXECUTE ON FUNCTION
    push_event(text, text, text, text, timestamptz, numeric),
    push_event_batch(text, jsonb)
    TO pushplan_app;
GRANT EXECUTE ON FUNCTION push_plan_stats(text, text[], timestamptz, timestamptz, text, text)
    TO pushplan_reader;
-- what the views compute with (a view's functions run with its reader's rights)
GRANT EXECUTE ON FUNCTION _stats_period(timestamptz), _message_type(jsonb), _rate(numeric, numeric),
    _latency_quantile(smallint[], numeric[], numeric)
    TO pushplan_reader;
GRANT SELECT ON push_task_stats, push_plan_stats_daily, push_plan_overview, push_vendor_stats_daily,
    push_variant_stats
    TO pushplan_reader;
-- one device's data, as push_deliveries shows it: operators (sql/api/87_trace.sql)
GRANT EXECUTE ON FUNCTION push_trace(text, text, text) TO pushplan_operator;

-- privacy (sql/api/88_privacy.sql, doc/privacy.md): consent, export and erasure are application
-- code's, which answers the person (a settings screen, a request to see or delete their data);
-- operators see the consents, administrators the erasures made
GRANT EXECUTE ON FUNCTION
    push_device_consent(text, text, text, boolean),
    push_account_consent(text, text, int, text, boolean),
    push_device_export(text, text),
    push_account_export(text, text, int),
    push_device_erase(text, text),
    push_account_erase(text, text, int)
    TO pushplan_app;
GRANT SELECT ON push_device_consents TO pushplan_operator;
GRANT SELECT ON push_erasures TO pushplan_app_admin;

-- flows (sql/api/89_flows.sql, doc/flows.md): application code reports events, as it reports
-- push events; operators define flows, as they define schedules
GRANT EXECUTE ON FUNCTION
    push_track(text, text, text, jsonb, timestamptz),
    push_track_account(text, text, int, text, jsonb, timestamptz),
    push_track_batch(text, jsonb)
    TO pushplan_app;
GRANT EXECUTE ON FUNCTION
    push_flow_create(text, jsonb),
    push_flow_update(text, text, jsonb),
    push_flow_enable(text, text, boolean),
    push_flow_delete(text, text)
    TO pushplan_operator;
GRANT SELECT ON push_flows TO pushplan_reader;
GRANT SELECT ON push_flow_runs TO pushplan_operator;

-- audiences from the application's views (sql/api/42_audience_views.sql, doc/audiences.md):
-- admins allow them (of their apps); operators, who write audiences, see which
GRANT EXECUTE ON FUNCTION
    push_audience_view_allow(text, regclass),
    push_audience_view_revoke(text, regclass)
    TO pushplan_app_admin;
GRANT SELECT ON push_audience_views TO pushplan_operator;

-- locations (sql/api/89_flow_geo.sql, doc/flows.md): application code reports them, as it
-- reports events
GRANT EXECUTE ON FUNCTION push_location(text, text, float8, float8, timestamptz) TO pushplan_app;
