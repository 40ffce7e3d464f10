-- Branch conditions on audiences (doc/flows.md, "Branch conditions"): {"audience": ...} with any
-- audience push_send takes and {"view": "schema.view"}, checked at definition time with the
-- audience compiler's own errors (every one with its exact message), evaluated by _flow_advance
-- for a whole batch in the advance's snapshot (a change to the application's table between
-- entry and the branch is seen), for a device's and an account's user, combined with and / or /
-- not; a view revoked after the definition holds for nobody and the step run says why. Also
-- push_flows' trigger kind. The clock is moved to 2090.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
CREATE EXTENSION IF NOT EXISTS earthdistance CASCADE;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never

SELECT _clock_set('2090-03-01 00:00:00+00') IS NOT NULL AS clock_moved;

SELECT push_app_create('fb_app'), push_app_create('fb_other');
SELECT push_device_register_batch(a, '[
  {"registration_id": "ann", "platform": "android", "vendor": "fcm", "token": "a", "attrs": {"level": "gold"}},
  {"registration_id": "bob", "platform": "android", "vendor": "fcm", "token": "b", "tags": ["vip"]},
  {"registration_id": "cat", "platform": "android", "vendor": "fcm", "token": "c"},
  {"registration_id": "dan", "platform": "android", "vendor": "fcm", "token": "d"}]')
FROM unnest(ARRAY['fb_app', 'fb_other']) a;
SELECT push_account_bind('fb_app', 'dan', 'acct-dan', 0);

-- the application's own table and views over it
CREATE SCHEMA fbshop;
CREATE TABLE fbshop.customers (regid text, login text, spent numeric);
INSERT INTO fbshop.customers VALUES ('ann', 'ann-login', 500), ('bob', 'bob-login', 10),
    ('cat', 'cat-login', 500), (NULL, 'acct-dan', 10);
CREATE VIEW fbshop.big_spenders AS SELECT regid AS registration_id FROM fbshop.customers WHERE spent >= 100;
CREATE VIEW fbshop.big_accounts AS
    SELECT login AS account, 0 AS account_type FROM fbshop.customers WHERE spent >= 100;
CREATE VIEW fbshop.not_allowed AS SELECT regid AS registration_id FROM fbshop.customers;
CREATE VIEW fbshop.doomed AS SELECT regid AS registration_id FROM fbshop.customers;
GRANT USAGE ON SCHEMA fbshop TO pushplan_worker;
GRANT SELECT ON ALL TABLES IN SCHEMA fbshop TO pushplan_worker;
SELECT push_audience_view_allow('fb_app', 'fbshop.big_spenders'),
       push_audience_view_allow('fb_app', 'fbshop.big_accounts'),
       push_audience_view_allow('fb_app', 'fbshop.doomed'),
       push_audience_view_allow('fb_other', 'fbshop.not_allowed');

-- ---- definitions and their errors ------------------------------------------------------------------

CREATE FUNCTION pg_temp.branch(cond text) RETURNS text LANGUAGE sql AS $$
    SELECT pushplan.push_flow_create('fb_app', format('{"name": "bad", "trigger": {"event": "x"},
        "steps": [{"branch": [{"if": %s, "then": [{"exit": true}]}], "else": []}]}', cond)::jsonb)
$$;
-- a view not allowed for the app (allowed for another app), one that does not exist, a name of
-- one part, one inside an audience's condition tree: the audience compiler's own errors
SELECT pg_temp.branch('{"view": "fbshop.not_allowed"}');
SELECT pg_temp.branch('{"audience": {"view": "fbshop.nope"}}');
SELECT pg_temp.branch('{"view": "big_spenders"}');
SELECT pg_temp.branch('{"audience": {"condition": {"and": [{"tag": "vip"}, {"view": "fbshop.not_allowed"}]}}}');
-- an audience push_send would refuse: an unknown key, an empty one, a bad tag list
SELECT pg_temp.branch('{"audience": {"colour": "red"}}');
SELECT pg_temp.branch('{"audience": {}}');
SELECT pg_temp.branch('{"audience": {"tag": "vip"}}');
-- the condition's own shape (93018)
SELECT pg_temp.branch('{"audience": "all"}');
SELECT pg_temp.branch('{"view": ["fbshop.big_spenders"]}');
SELECT pg_temp.branch('{"view": "fbshop.big_spenders", "tag": "vip"}');
SELECT pg_temp.branch('{"audience": {"tag": ["vip"]}, "where": {}}');
SELECT pg_temp.branch('{"segment": "vip"}');
-- nesting: an audience deep in and / or / not is checked as well; conditions nest at most 10 deep
SELECT pg_temp.branch('{"or": [{"tag": "vip"}, {"not": {"and": [{"attr": {"level": "gold"}}, {"view": "fbshop.not_allowed"}]}}]}');
SELECT pg_temp.branch(repeat('{"not": ', 11) || '{"view": "fbshop.big_spenders"}' || repeat('}', 11));
SELECT count(*) AS nothing_stored FROM push_flows WHERE app = 'fb_app';

-- a view dropped: its allowance goes with it, and a definition naming it is refused as a view
-- not allowed
DROP VIEW fbshop.doomed;
SELECT pg_temp.branch('{"view": "fbshop.doomed"}');

-- the flow: gold users first (a view in an and), then an account view, then an audience of tags
-- and attributes; everyone else the else path. The audiences are listed once in the step.
SELECT push_flow_create('fb_app', '{
  "name": "by_audience", "trigger": {"event": "go"}, "reentry": "0",
  "steps": [
    {"wait": "1 hour"},
    {"id": "pick", "branch": [
       {"if": {"and": [{"view": "fbshop.big_spenders"}, {"not": {"tag": "vip"}}]}, "then": [{"id": "big", "set": {"tags_add": ["was_big"]}}]},
       {"if": {"audience": {"view": "fbshop.big_accounts"}}, "then": [{"id": "acct", "set": {"tags_add": ["was_acct"]}}]},
       {"if": {"or": [{"audience": {"tag": ["vip"]}}, {"view": "fbshop.big_spenders"}]}, "then": [{"id": "vip", "set": {"tags_add": ["was_vip"]}}]}],
     "else": [{"id": "other", "set": {"tags_add": ["was_other"]}}]}]}') AS flow \gset
SELECT step_id, kind, jsonb_pretty(spec->'audiences') AS audiences FROM flow_steps
    WHERE flow_id = :'flow' AND kind = 'branch';

-- ---- evaluation -----------------------------------------------------------------------------------

SELECT push_track('fb_app', r, 'go') FROM unnest(ARRAY['ann', 'bob', 'cat']) r;
SELECT push_track_account('fb_app', 'acct-dan', 0, 'go');
SELECT _flow_advance(1000) AS waiting;
-- between entry and the branch the application's table changes: bob spends, ann's spending is
-- refunded, dan's account becomes a big one
UPDATE fbshop.customers SET spent = 900 WHERE regid = 'bob';
UPDATE fbshop.customers SET spent = 0 WHERE regid = 'ann';
UPDATE fbshop.customers SET spent = 900 WHERE login = 'acct-dan';
SELECT _clock_set('2090-03-01 01:00:01+00') IS NOT NULL AS an_hour_later;
-- one query per audience for the whole batch: three audiences, four instances, three calls
BEGIN;
SET LOCAL track_functions = 'all';
SELECT _flow_advance(1000) AS advanced;
SELECT calls AS audience_queries FROM pg_stat_xact_user_functions WHERE funcname = '_flow_audience_members';
COMMIT;
-- ann: not a big spender any more (else); bob: a big spender now but vip (the third path); cat:
-- a big spender throughout (the first); dan's account is big now (the second, an account view)
SELECT coalesce(d.registration_id, i.account) AS user, r.step_id, r.detail
FROM flow_instances i JOIN flow_step_runs r USING (instance_id)
LEFT JOIN devices d ON d.device_id = i.device_id
WHERE i.flow_id = :'flow' AND r.step_id IN ('big', 'acct', 'vip', 'other') ORDER BY 1;
SELECT registration_id, state, exit_reason FROM push_flow_runs WHERE flow = 'by_audience' ORDER BY instance_id;

-- outside a batch (_flow_cond_holds without a batch's results): the same answers, one user at a time
-- (the devices read first: on the distributed layout Citus would call the function on their shards)
WITH d AS MATERIALIZED (SELECT d.registration_id, d.app_id, d.device_id FROM devices d
                        WHERE d.app_id = (SELECT app_id FROM apps WHERE app = 'fb_app'))
SELECT d.registration_id,
       _flow_cond_holds('{"view": "fbshop.big_spenders"}', d.app_id, d.device_id, NULL, NULL, now(), '{}') AS big,
       _flow_cond_holds('{"not": {"audience": {"tag": ["vip"]}}}', d.app_id, d.device_id, NULL, NULL, now(), '{}') AS not_vip
FROM d ORDER BY 1;
SELECT _flow_cond_holds('{"view": "fbshop.big_accounts"}', (SELECT app_id FROM apps WHERE app = 'fb_app'),
                        NULL, 'acct-dan', 0, now(), '{}') AS dan_account_big;

-- a view revoked after the definition: it holds for nobody, the instance goes on (else), and its
-- step run says why
SELECT push_flow_create('fb_app', '{
  "name": "revoked", "trigger": {"event": "again"},
  "steps": [{"wait": "1 hour"},
            {"id": "pick", "branch": [{"if": {"view": "fbshop.big_spenders"}, "then": [{"id": "in", "set": {"tags_add": ["in"]}}]}],
             "else": [{"id": "out", "set": {"tags_add": ["out"]}}]}]}') AS revoked \gset
SELECT push_track('fb_app', 'bob', 'again');
SELECT _flow_advance(1000) AS waiting;
SELECT push_audience_view_revoke('fb_app', 'fbshop.big_spenders');
SELECT _clock_set('2090-03-01 02:00:02+00') IS NOT NULL AS an_hour_later;
SELECT _flow_advance(1000) AS advanced;
SELECT r.step_id, r.detail FROM flow_instances i JOIN flow_step_runs r USING (instance_id)
WHERE i.flow_id = :'revoked' AND r.step_id IN ('pick', 'in', 'out') ORDER BY r.step_id;

-- ---- push_flows: the trigger's kind and the definition's trigger ---------------------------------

SELECT push_flow_create('fb_app', '{"name": "t_inactive", "enabled": false, "trigger": {"inactive": {"event": "app_open", "for": "7 days"}}, "steps": [{"exit": true}]}') IS NOT NULL AS made,
       push_flow_create('fb_app', '{"name": "t_date", "enabled": false, "trigger": {"date_attr": {"attr": "birthday", "at": "09:00"}}, "steps": [{"exit": true}]}') IS NOT NULL AS made,
       push_flow_create('fb_app', '{"name": "t_attr", "enabled": false, "trigger": {"attr_change": {"attr": "plan", "to": "pro"}}, "steps": [{"exit": true}]}') IS NOT NULL AS made,
       push_flow_create('fb_app', '{"name": "t_audience", "enabled": false, "trigger": {"audience_enter": {"tag": ["vip"]}}, "steps": [{"exit": true}]}') IS NOT NULL AS made,
       push_flow_create('fb_app', '{"name": "t_geo", "enabled": false, "trigger": {"geofence": {"enter": {"lat": 48.85, "lon": 2.35, "radius_m": 500}}}, "steps": [{"exit": true}]}') IS NOT NULL AS made;
SELECT name, trigger_kind, trigger FROM push_flows WHERE app = 'fb_app' ORDER BY name;

-- nothing left for the suites after this one (flows_geo.sql starts without earthdistance)
SELECT count(push_flow_delete('fb_app', flow_id)) AS deleted FROM push_flows WHERE app = 'fb_app';
DELETE FROM tracked_events WHERE app_id = (SELECT app_id FROM apps WHERE app = 'fb_app');
DELETE FROM devices WHERE app_id IN (SELECT app_id FROM apps WHERE app IN ('fb_app', 'fb_other'));
SET client_min_messages = warning;
DROP EXTENSION earthdistance, cube;
DROP SCHEMA fbshop CASCADE;
RESET client_min_messages;
SELECT _clock_set(NULL) IS NOT NULL AS clock_back;
