-- The entry rules in one function (_flow_enter, sql/api/89_flow_enter.sql), which events,
-- the scheduler's triggers and geofences all call: a user's candidates in one call (the first
-- by order is decided), the idempotency key (the caller's, else the version's path into the
-- props), re-entry and max_concurrent for devices and accounts, and the locks it takes: one per
-- user under a shared lock on the flow, or the flow's lock alone for a call of more users of
-- one flow than its caller says (push_track_batch: 1,000; the other triggers: 64).
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;
SET timezone = 'UTC';
\set SHOW_CONTEXT never

SELECT _clock_set('2092-01-01 00:00:00+00') IS NOT NULL AS clock_moved;
SELECT push_app_create('enter_app') IS NOT NULL AS app;
SELECT push_device_register_batch('enter_app', (SELECT jsonb_agg(jsonb_build_object('registration_id', 'e' || i,
         'platform', 'android', 'vendor', 'fcm', 'token', 'enter-t' || i)) FROM generate_series(1, 4) i));
SELECT device_id AS e1 FROM devices WHERE registration_id = 'e1' \gset
SELECT device_id AS e2 FROM devices WHERE registration_id = 'e2' \gset
SELECT device_id AS e4 FROM devices WHERE registration_id = 'e4' \gset
SELECT push_flow_create('enter_app', '{"name": "keyed", "reentry": "1 hour", "max_concurrent": 2,
  "trigger": {"event": "order", "idempotency_key": "order.id"}, "steps": [{"wait": "1 day"}]}') AS keyed \gset
CREATE FUNCTION pg_temp.enter(flow text, devices bigint[], accounts text[], props jsonb[], keys text[], seq int[],
                               user_locks int DEFAULT 64, devices_held boolean DEFAULT false)
RETURNS bigint LANGUAGE sql AS $$
    SELECT pushplan._flow_enter(pushplan.clock_now(),
        array_fill(flow, ARRAY[greatest(cardinality(devices), cardinality(accounts))]),
        array_fill(1, ARRAY[greatest(cardinality(devices), cardinality(accounts))]),
        devices, accounts,
        CASE WHEN accounts IS NOT NULL THEN array_fill(0, ARRAY[cardinality(accounts)]) END,
        props, keys, seq, user_locks, devices_held)
$$;

-- one user twice in a call: the first by order enters (its props), the other is not decided
SELECT pg_temp.enter(:'keyed', ARRAY[:e1, :e1]::bigint[], NULL, ARRAY['{"n": "second"}', '{"n": "first"}']::jsonb[],
                     NULL, ARRAY[2, 1]) AS entered;
SELECT trigger_props, idempotency_key FROM flow_instances WHERE flow_id = :'keyed' ORDER BY instance_id;
-- the version's key path read from the props when the caller gives none; the caller's own wins
SELECT pg_temp.enter(:'keyed', ARRAY[:e2]::bigint[], NULL, ARRAY['{"order": {"id": "o-7"}}']::jsonb[],
                     NULL, ARRAY[1]) AS by_path;
SELECT _clock_set('2092-01-01 02:00:00+00') IS NOT NULL AS later;
-- o-7 taken by e2: e1 (its re-entry passed, one running of 2) does not enter with it
SELECT pg_temp.enter(:'keyed', ARRAY[:e1]::bigint[], NULL, ARRAY['{"order": {"id": "o-7"}}']::jsonb[],
                     NULL, ARRAY[1]) AS same_key;
SELECT pg_temp.enter(:'keyed', ARRAY[:e1]::bigint[], NULL, ARRAY['{"order": {"id": "o-7"}}']::jsonb[],
                     ARRAY['own'], ARRAY[1]) AS own_key;
SELECT d.registration_id, i.idempotency_key FROM flow_instances i JOIN devices d USING (device_id)
WHERE i.flow_id = :'keyed' ORDER BY i.instance_id;
-- two running: max_concurrent 2 refuses e1 a third, whatever the key
SELECT _clock_set('2092-01-01 04:00:00+00') IS NOT NULL AS later;
SELECT pg_temp.enter(:'keyed', ARRAY[:e1]::bigint[], NULL, NULL, ARRAY['third'], ARRAY[1]) AS third;

-- accounts: the same rules, an account's instances counted apart from its devices'
SELECT pg_temp.enter(:'keyed', NULL, ARRAY['acct-1', 'acct-2'], NULL, NULL, ARRAY[1, 2]) AS accounts;
SELECT pg_temp.enter(:'keyed', NULL, ARRAY['acct-1'], NULL, NULL, ARRAY[1]) AS too_soon;
SELECT _clock_set('2092-01-01 05:30:00+00') IS NOT NULL AS later;
SELECT pg_temp.enter(:'keyed', NULL, ARRAY['acct-1'], NULL, NULL, ARRAY[1]) AS after_reentry;
SELECT account, count(*) FROM flow_instances WHERE flow_id = :'keyed' AND account IS NOT NULL GROUP BY 1 ORDER BY 1;

-- push_track's path is the same function: e3's order enters once per key
SELECT push_track('enter_app', 'e3', 'order', '{"order": {"id": "o-9"}}');
SELECT push_track('enter_app', 'e2', 'order', '{"order": {"id": "o-9"}}');
SELECT d.registration_id FROM flow_instances i JOIN devices d USING (device_id)
WHERE i.idempotency_key = 'o-9';

-- the locks: a small call takes one per user under a shared lock on the flow
SELECT push_flow_create('enter_app', '{"name": "many", "reentry": "never",
  "trigger": {"event": "many"}, "steps": [{"wait": "1 day"}]}') AS many \gset
BEGIN;
SELECT pg_temp.enter(:'many', NULL, ARRAY['a1', 'a2', 'a3'], NULL, NULL, ARRAY[1, 2, 3]) AS small;
SELECT objsubid, mode, count(*) FROM pg_locks
WHERE locktype = 'advisory' AND pid = pg_backend_pid() GROUP BY 1, 2 ORDER BY 1, 2;
COMMIT;
-- a call of more users of one flow than the caller's bound: the flow's lock alone,
-- exclusively, and the rules the same (a1 to a3 entered already: a4 and a5 enter)
BEGIN;
SELECT pg_temp.enter(:'many', NULL, ARRAY['a1', 'a2', 'a3', 'a4', 'a5'], NULL, NULL, ARRAY[1, 2, 3, 4, 5], 4) AS big;
SELECT objsubid, mode, count(*) FROM pg_locks
WHERE locktype = 'advisory' AND pid = pg_backend_pid() GROUP BY 1, 2 ORDER BY 1, 2;
COMMIT;
-- push_track_batch's bound (1,000): each user of a batch of 100 is locked (and the app's
-- erasure lock taken shared: sql/api/88_privacy.sql, _erasure_lock)
BEGIN;
SELECT push_track_batch('enter_app', (SELECT jsonb_agg(jsonb_build_object('account', 'b' || i, 'event', 'many'))
                                      FROM generate_series(1, 100) i)) AS tracked;
SELECT objsubid, mode, count(*) FROM pg_locks
WHERE locktype = 'advisory' AND pid = pg_backend_pid() GROUP BY 1, 2 ORDER BY 1, 2;
COMMIT;
-- a batch of 1,001 entries: the flow's lock alone (two such batches at once take turns rather
-- than fill the lock table)
BEGIN;
SELECT push_track_batch('enter_app', (SELECT jsonb_agg(jsonb_build_object('account', 'c' || i, 'event', 'many'))
                                      FROM generate_series(1, 1001) i)) AS tracked;
SELECT objsubid, mode, count(*) FROM pg_locks
WHERE locktype = 'advisory' AND pid = pg_backend_pid() GROUP BY 1, 2 ORDER BY 1, 2;
COMMIT;
SELECT count(*) AS everyone_once FROM flow_instances WHERE flow_id = :'many';


-- no foreign keys on flow_instances: the flows and devices are locked once per call, and a
-- flow or device that is gone enters nobody
BEGIN;
SELECT pg_temp.enter(:'keyed', ARRAY[:e4, 999999999]::bigint[], NULL, NULL, ARRAY['k-a', 'k-b'], ARRAY[1, 2]) AS one_device_gone;
-- (the device's row and the flow's are locked by this transaction: their xmax is its id)
SELECT (SELECT xmax FROM devices WHERE device_id = :e4) = xid(pg_current_xact_id()) AS device_locked,
       (SELECT xmax FROM flows WHERE flow_id = :'keyed') = xid(pg_current_xact_id()) AS flow_locked,
       (SELECT xmax FROM devices WHERE device_id = :e2) = xid(pg_current_xact_id()) AS other_device_locked;
ROLLBACK;
-- a caller that holds the app's erasure lock (the event paths) has its devices left unlocked:
-- no erasure can delete them before it commits (flows_race.spec)
BEGIN;
SELECT pg_temp.enter(:'keyed', ARRAY[:e4]::bigint[], NULL, NULL, ARRAY['k-c'], ARRAY[1], devices_held => true) AS entered_held;
SELECT (SELECT xmax FROM devices WHERE device_id = :e4) = xid(pg_current_xact_id()) AS device_locked,
       (SELECT xmax FROM flows WHERE flow_id = :'keyed') = xid(pg_current_xact_id()) AS flow_locked;
ROLLBACK;
SELECT push_flow_create('enter_app', '{"name": "gone", "trigger": {"event": "gone"}, "steps": [{"wait": "1 day"}]}') AS gone \gset
DELETE FROM flows WHERE flow_id = :'gone';
SELECT _flow_enter(clock_now(), ARRAY[:'gone'], ARRAY[1], ARRAY[:e4]::bigint[], NULL, NULL, NULL, NULL, ARRAY[1], 64, false) AS flow_gone;
-- a deleted flow's instances go with it, and their step runs
SELECT _clock_set('2092-01-02 06:00:00+00') IS NOT NULL AS later;
SELECT _flow_advance(1000) > 0 AS advanced;
SELECT count(*) > 0 AS runs FROM flow_step_runs r JOIN flow_instances i USING (instance_id) WHERE i.flow_id = :'many';
SELECT push_flow_delete('enter_app', :'many');
SELECT count(*) AS instances_left FROM flow_instances WHERE flow_id = :'many';
-- an app's deletion takes its flows, and their instances with them; and its events (no key:
-- the trigger apps_deleted_events), not another app's
SELECT count(*) > 0 AS instances FROM flow_instances WHERE flow_id = :'keyed';
SELECT app_id AS enter_app_id FROM apps WHERE app = 'enter_app' \gset
SELECT push_app_create('enter_other');
SELECT push_track_account('enter_other', 'x1', 0, 'kept');
SELECT count(*) > 0 AS events FROM tracked_events WHERE app_id = :enter_app_id;
DELETE FROM apps WHERE app = 'enter_app';
SELECT count(*) AS instances_left FROM flow_instances WHERE app_id = :enter_app_id;
SELECT count(*) AS events_left FROM tracked_events WHERE app_id = :enter_app_id;
SELECT count(*) AS other_apps_events FROM tracked_events t JOIN apps a USING (app_id) WHERE a.app = 'enter_other';
DELETE FROM apps WHERE app = 'enter_other';
SELECT _clock_set(NULL) IS NOT NULL AS clock_back;
