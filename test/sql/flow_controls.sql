-- A flow's own engagement controls and its event templates (doc/flows.md, doc/engagement.md,
-- doc/templates.md): frequency_cap and quiet_hours in a flow's definition and their errors;
-- {{event.props...}} in send steps (refused elsewhere), bound from the instance's trigger props
-- when the step fires, rendered by the senders as any template (workers and the mock:
-- test/integration/flow_controls.sh); the senders' gate knowing a flow's plan; the export and
-- the erasure of what flows hold about a person.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never

SELECT _clock_set('2089-06-01 12:00:00+00') IS NOT NULL AS clock_moved;
SELECT push_app_create('ctl_app');
SELECT push_plan_create('ctl_app', 'promo', 'promotions');
SELECT push_device_register_batch('ctl_app', '[
  {"registration_id": "ctl-1", "platform": "android", "vendor": "fcm", "token": "ctl-token-1", "attrs": {"first_name": "Ann"}},
  {"registration_id": "ctl-2", "platform": "android", "vendor": "fcm", "token": "ctl-token-2"}]');

-- ---- a flow's controls: accepted as an app's or a plan's, with their errors -------------------
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"exit": true}], "frequency_cap": 3}');
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"exit": true}], "quiet_hours": "22:00-08:00"}');
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"exit": true}], "frequency_cap": {"per_hour": 1}}');
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"exit": true}], "frequency_cap": {"per_day": 0}}');
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"exit": true}], "frequency_cap": {"per_day": 1, "on_cap": "later"}}');
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"exit": true}], "quiet_hours": {"from": "25:00", "to": "08:00"}}');
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"exit": true}], "quiet_hours": {"from": "22:00", "to": "22:00"}}');
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"exit": true}], "quiet_hours": {"from": "22:00", "to": "08:00", "on_quiet": "later"}}');
SELECT count(*) AS nothing_written FROM flows WHERE app_id = (SELECT app_id FROM apps WHERE app = 'ctl_app');

-- the senders' gate: asked about a plan when a flow with controls sends with it
SELECT app_id AS ctl FROM apps WHERE app = 'ctl_app' \gset
SELECT _engagement_any(:ctl, 'promo') AS promo_gated_before;
SELECT push_flow_create('ctl_app', '{"name": "browse", "plan_id": "promo", "trigger": {"event": "view_item"},
  "reentry": "0", "frequency_cap": {"per_day": 1}, "quiet_hours": {"from": "22:00", "to": "08:00"},
  "steps": [{"id": "nudge", "send": {"body": {"platform": "all",
     "notification": {"alert": "{{attrs.first_name | default: \"Hi\"}}, still thinking about {{event.props.item | upcase}}?",
                      "android": {"extras": {"sku": "{{event.props[\"sku id\"]}}", "size": "{{event.props.variant.size | default: \"any\"}}"}}},
     "options": {"missing_attribute": "skip"}}}}]}') AS browse \gset
SELECT _engagement_any(:ctl, 'promo') AS promo_gated, _engagement_any(:ctl, 'default') AS default_gated;
SELECT definition->'frequency_cap' AS cap, definition->'quiet_hours' AS quiet FROM flow_versions WHERE flow_id = :'browse';

-- ---- event variables: only in a flow's send steps, with their errors --------------------------
SELECT push_send('ctl_app', '{"to": {"registration_id": ["ctl-1"]}, "body": {"platform": "all", "notification": {"alert": "{{event.props.item}}"}}}');
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"send": {"body": {"platform": "all", "notification": {"alert": "{{event.name}}"}}}}]}');
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"send": {"body": {"platform": "all", "notification": {"alert": "{{event.props}}"}}}}]}');
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"send": {"body": {"platform": "all", "notification": {"alert": "{{event.props.}}"}}}}]}');
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"send": {"body": {"platform": "all", "notification": {"alert": "{{event.props.a.b.c.d.e.f}}"}}}}]}');
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"send": {"body": {"platform": "all", "notification": {"alert": "{{event.props[\"\"]}}"}}}}]}');
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"send": {"body": {"platform": "all", "notification": {"alert": "{{event.props[item]}}"}}}}]}');
SELECT push_flow_create('ctl_app', '{"name": "bad", "trigger": {"event": "x"}, "steps": [{"send": {"body": {"platform": "all", "notification": {"alert": "{{event.props.item | shout}}"}}}}]}');

-- ---- binding: the trigger's props in place of the variables, as string literals -------------
CREATE FUNCTION pg_temp.bound(alert text, props jsonb) RETURNS text LANGUAGE sql AS $$
    SELECT _flow_bind_event(jsonb_build_object('body', jsonb_build_object('platform', 'all',
               'notification', jsonb_build_object('alert', alert))), props) #>> '{body,notification,alert}'
$$;
SELECT pg_temp.bound('About {{event.props.item}}!', '{"item": "Blue \"shoes\" \\ {{attrs.x}} }}"}') AS quoted;
SELECT pg_temp.bound('{{event.props.n}} {{event.props.ok}} {{event.props.obj}} {{event.props.list}}',
                     '{"n": 49.50, "ok": true, "obj": {"a": 1}, "list": [1, "x"]}') AS scalars_and_json;
SELECT pg_temp.bound('{{ event.props.variant.size | upcase }} / {{event.props["sku id"]}}',
                     '{"variant": {"size": "m"}, "sku id": "S-1"}') AS nested_and_bracketed;
SELECT pg_temp.bound('{{event.props.gone | default: "none"}} {{event.props.nil}} {{event.props.item.deeper}}',
                     '{"nil": null, "item": "flat"}') AS unbound_stay;
SELECT pg_temp.bound('no templates', '{"item": "x"}') AS untouched;
-- rendered as a sender renders them: literals through their filters, the unbound ones missing
SELECT r #>> '{body,notification,alert}' AS rendered
FROM _push_render(_flow_bind_event('{"to": {"registration_id": ["ctl-1"]}, "body": {"platform": "all", "notification": {"alert": "{{event.props.item | upcase | truncate: 8}} for {{attrs.first_name}}"}}}',
                                   '{"item": "blue shoes"}'), '{"first_name": "Ann"}') r;
SELECT _push_render(_flow_bind_event('{"to": {"registration_id": ["ctl-1"]}, "body": {"platform": "all", "notification": {"alert": "{{event.props.price}} EUR"}, "options": {"missing_attribute": "skip"}}}',
                                     '{"item": "hat"}'), '{}') AS missing_under_skip;
SELECT r #>> '{body,notification,alert}' AS missing_under_default
FROM _push_render(_flow_bind_event('{"to": {"registration_id": ["ctl-1"]}, "body": {"platform": "all", "notification": {"alert": "[{{event.props.price}}] EUR"}}}', '{}'), '{}') r;

-- ---- a send step binds its instance's props; the task renders per device -----------------------
SELECT push_track('ctl_app', 'ctl-1', 'view_item', '{"item": "lamp-4471", "sku id": "sku-5582", "variant": {"size": "size-6693"}}');
SELECT _flow_advance(1000) AS advanced;
SELECT t.plan_id, t.flow_step, t.template_reads,
       t.push #>> '{body,notification,alert}' AS alert,
       t.push #>> '{body,notification,android,extras,sku}' AS sku,
       t.push #>> '{body,notification,android,extras,size}' AS size
FROM tasks t WHERE t.flow_id = :'browse';
SELECT r #>> '{body,notification,alert}' AS ann_gets
FROM tasks t, _push_render(t.push, '{"first_name": "Ann"}') r WHERE t.flow_id = :'browse';
-- the senders' gate: a flow's send (the high lane) is not exempt, and counts in the flow's scope
-- (no scheduler expands the task here: its one delivery, as the expansion writes it)
INSERT INTO deliveries (task_id, app_id, device_id, vendor, platform, send_at)
SELECT t.task_id, t.app_id, v.device_id, 'fcm', 'android', t.send_at FROM tasks t, devices v
WHERE t.flow_id = :'browse' AND v.registration_id = 'ctl-1'
RETURNING delivery_id AS nudge_delivery \gset
SELECT t.priority = 0 AS high_lane FROM tasks t WHERE t.flow_id = :'browse';
SELECT * FROM _engagement_gate(ARRAY[:nudge_delivery]::bigint[], '2089-06-01 12:00:00+00');
SELECT scope = '~' || :'browse' AS flow_scope, cardinality(sent) AS counted FROM engagement_counts
WHERE device_id = (SELECT device_id FROM devices WHERE registration_id = 'ctl-1');
SELECT verdict AS capped_if_again, until FROM _engagement_gate(ARRAY[:nudge_delivery]::bigint[], '2089-06-01 12:30:00+00');
SELECT verdict, to_char(until, 'YYYY-MM-DD HH24:MI') AS until
FROM _engagement_gate(ARRAY[:nudge_delivery]::bigint[], '2089-06-01 23:00:00+00') AS held_in_quiet_hours;

-- ---- export and erasure of what flows hold about a person ---------------------------------------
SELECT jsonb_array_length(e->'device'->'tracked_events') AS tracked_events,
       e->'device'->'tracked_events'->0->'props'->>'item' AS item,
       e->'device'->'flow_runs'->0->>'flow' AS flow,
       e->'device'->'flow_runs'->0->>'state' AS state,
       jsonb_array_length(e->'device'->'flow_runs'->0->'steps') AS steps
FROM push_device_export('ctl_app', 'ctl-1') x(e);
SELECT push_track_account('ctl_app', 'ctl-acct', 0, 'signup', '{"plan": "free"}');
SELECT e->'tracked_events'->0->>'event' AS account_event, jsonb_array_length(e->'devices') AS devices
FROM push_account_export('ctl_app', 'ctl-acct', 0) x(e);
SELECT r->'counts'->'flow_instances' AS flow_instances, r->'counts'->'flow_task_texts' AS texts_restored,
       r->'counts'->'tracked_events' AS tracked_events
FROM push_device_erase('ctl_app', 'ctl-1') r;
-- the task keeps the step's template, not the person's values; nothing of theirs is left
SELECT push #>> '{body,notification,alert}' AS alert, push #>> '{body,notification,android,extras,sku}' AS sku,
       push->'to' AS audience
FROM tasks WHERE flow_id = :'browse';
-- every row of every table of the schema (from the catalog) that holds their values or ids
DO $$
DECLARE
    r record;
    n bigint;
BEGIN
    FOR r IN SELECT c.oid::regclass AS t FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
             WHERE s.nspname = 'pushplan' AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1 LOOP
        EXECUTE format('SELECT count(*) FROM %s x WHERE x::text LIKE ANY ($1)', r.t) INTO n
            USING ARRAY['%lamp-4471%', '%sku-5582%', '%size-6693%', '%ctl-1%', '%ctl-token-1%'];
        IF n > 0 THEN
            RAISE NOTICE 'left in %: % rows', r.t, n;
        END IF;
    END LOOP;
END $$;
SELECT r->'counts'->'tracked_events' AS account_events FROM push_account_erase('ctl_app', 'ctl-acct', 0) r;
SELECT count(*) AS events_left FROM tracked_events WHERE app_id = :ctl;

SELECT push_flow_delete('ctl_app', :'browse');
SELECT _clock_set(NULL) IS NOT NULL AS clock_back;
