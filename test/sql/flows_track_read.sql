-- push_track_batch reads a batch in one pass in C (_track_read, src/track_read.c) and falls back
-- to its SQL checks when that pass refuses an event. The pass must never accept an event the
-- checks refuse, and must read what they read: held against each other here, event by event,
-- over a corpus of good and bad events.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
SET search_path = pushplan, public;
SELECT _clock_set('2090-03-01 12:00:00+00') IS NOT NULL AS clock_set;
SELECT push_app_create('read_app');
SELECT push_device_register('read_app', 'r1', 'android', 'fcm', 'tok-r1') IS NOT NULL AS registered;

-- what push_track_batch makes of a batch of one event: 'ok' and the row it would write, or its
-- error (rolled back either way: nothing is kept). (The event, then its device by id, each a
-- statement of its own: on the distributed layout the devices are on their shards.)
CREATE FUNCTION pg_temp.checked(e jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_device bigint;
    v_rest text;
    v_registration text;
BEGIN
    BEGIN
        PERFORM pushplan.push_track_batch('read_app', jsonb_build_array(e));
        SELECT t.device_id, format('%s|%s|%s|%s|%s', t.account, t.account_type, t.event, t.props,
                      CASE WHEN t.at = now() THEN 'now()' ELSE to_char(t.at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') END)
            INTO v_device, v_rest
        FROM pushplan.tracked_events t
        WHERE t.app_id = (SELECT app_id FROM pushplan.apps WHERE app = 'read_app')
        ORDER BY t.event_id DESC LIMIT 1;
        SELECT d.registration_id INTO v_registration FROM pushplan.devices d WHERE d.device_id = v_device;
        RAISE EXCEPTION USING MESSAGE = format('ok %s|%s', v_registration, v_rest), ERRCODE = 'P0001';
    EXCEPTION WHEN OTHERS THEN
        RETURN SQLERRM;
    END;
END $$;
-- what the fast path makes of it (the one pass, then the device looked up): the same form, or
-- 'refused' (the checks decide then)
CREATE FUNCTION pg_temp.read(e jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    SELECT * INTO r FROM pushplan._track_read(jsonb_build_array(e),
        least(now(), pushplan.clock_now()) - interval '1 year', greatest(now(), pushplan.clock_now()) + interval '1 day');
    IF r.names IS NULL THEN
        RETURN 'refused';
    END IF;
    IF r.registration_ids[1] IS NOT NULL THEN
        PERFORM FROM pushplan.devices d JOIN pushplan.apps a USING (app_id)
         WHERE a.app = 'read_app' AND d.registration_id = r.registration_ids[1];
        IF NOT FOUND THEN
            RETURN 'refused';
        END IF;
    END IF;
    RETURN format('ok %s|%s|%s|%s|%s|%s', r.registration_ids[1], r.accounts[1], r.account_types[1],
                  r.names[1], r.props[1], CASE WHEN r.ats[1] = now() THEN 'now()'
                  ELSE to_char(r.ats[1] AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') END);
END $$;

CREATE TEMP TABLE corpus (n serial, e jsonb);
INSERT INTO corpus (e) VALUES
    -- accepted
    ('{"registration_id": "r1", "event": "a"}'),
    ('{"registration_id": "r1", "event": "A.b:c-d_9", "props": {"x": [1, {"y": null}]}}'),
    ('{"registration_id": "r1", "event": "e", "at": "2090-03-01T11:00:00Z"}'),
    ('{"registration_id": "r1", "event": "e", "at": "2090-03-01 11:00+05:30"}'),
    ('{"registration_id": "r1", "event": "e", "at": "2090-03-01T11:00:59.123456-0800"}'),
    ('{"registration_id": "r1", "event": "e", "at": "2090-03-01T11:00:59+02"}'),
    ('{"account": "acct-1", "event": "e"}'),
    ('{"account": "acct-1", "account_type": 7, "event": "e"}'),
    ('{"account": "acct-1", "account_type": 1e2, "event": "e"}'),
    ('{"account": "acct-1", "account_type": 999999999, "event": "e"}'),
    ('{"account": "ää", "event": "e", "props": {}}'),
    -- refused by the checks
    ('7'),
    ('[{"registration_id": "r1", "event": "e"}]'),
    ('{"registration_id": "r1", "event": "e", "colour": 1}'),
    ('{"registration_id": "r1", "account": "acct-1", "event": "e"}'),
    ('{"event": "e"}'),
    ('{"registration_id": 1, "event": "e"}'),
    ('{"registration_id": null, "event": "e"}'),
    ('{"registration_id": "r1", "account_type": 1, "event": "e"}'),
    ('{"account": 12, "event": "e"}'),
    ('{"account": "acct-1", "account_type": -1, "event": "e"}'),
    ('{"account": "acct-1", "account_type": 1.5, "event": "e"}'),
    ('{"account": "acct-1", "account_type": 1.0, "event": "e"}'),
    ('{"account": "acct-1", "account_type": 1234567890, "event": "e"}'),
    ('{"account": "acct-1", "account_type": "1", "event": "e"}'),
    ('{"account": "acct-1", "account_type": null, "event": "e"}'),
    ('{"account": "a", "event": "e"}'),
    ('{"account": "ä", "event": "e"}'),
    ('{"account": "tab\there", "event": "e"}'),
    ('{"account": "   ", "event": "e"}'),
    ('{"registration_id": "r1"}'),
    ('{"registration_id": "r1", "event": 5}'),
    ('{"registration_id": "r1", "event": ""}'),
    ('{"registration_id": "r1", "event": "has space"}'),
    ('{"registration_id": "r1", "event": "é"}'),
    ('{"registration_id": "r1", "event": "a12345678901234567890123456789012345678901234567890123456789012345"}'),
    ('{"registration_id": "r1", "event": "e", "props": [1]}'),
    ('{"registration_id": "r1", "event": "e", "props": null}'),
    ('{"registration_id": "r1", "event": "e", "props": "x"}'),
    ('{"registration_id": "r1", "event": "e", "props": {"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": {"j": 1}}}}}}}}}}}'),
    ('{"registration_id": "r1", "event": "e", "at": 5}'),
    ('{"registration_id": "r1", "event": "e", "at": "2090-03-01T11:00:00"}'),
    ('{"registration_id": "r1", "event": "e", "at": "2090-03-01t11:00:00Z"}'),
    ('{"registration_id": "r1", "event": "e", "at": "2090-03-01T11:00:00.1234567Z"}'),
    ('{"registration_id": "r1", "event": "e", "at": "2090-03-01T11:00:00.Z"}'),
    ('{"registration_id": "r1", "event": "e", "at": "2090-03-01T11:00:00+5"}'),
    ('{"registration_id": "r1", "event": "e", "at": "2090-03-01T11:00:00+05:3"}'),
    ('{"registration_id": "r1", "event": "e", "at": "2090-03-01T11:00:00Z "}'),
    ('{"registration_id": "r1", "event": "e", "at": "2090-3-01T11:00:00Z"}'),
    ('{"registration_id": "r1", "event": "e", "at": "2024-01-01T00:00:00Z"}'),
    ('{"registration_id": "r1", "event": "e", "at": "2090-03-05T00:00:00Z"}'),
    ('{"registration_id": "nobody", "event": "e"}');
-- props past the bounds: 1,001 keys, 64 KB
INSERT INTO corpus (e)
SELECT jsonb_build_object('registration_id', 'r1', 'event', 'e', 'props', (SELECT jsonb_object_agg('k' || i, i) FROM generate_series(1, 1001) i))
UNION ALL
SELECT jsonb_build_object('registration_id', 'r1', 'event', 'e', 'props', jsonb_build_object('big', repeat('x', 70000)));

-- every event: what each makes of it
SELECT n, pg_temp.read(e) AS one_pass, left(pg_temp.checked(e), 110) AS checks FROM corpus ORDER BY n;
-- never accepted by the one pass and refused by the checks, and the same values when both accept
SELECT count(*) AS disagreements FROM corpus
WHERE pg_temp.read(e) <> 'refused' AND pg_temp.read(e) IS DISTINCT FROM pg_temp.checked(e);
-- nothing written
SELECT count(*) AS events_kept FROM tracked_events WHERE app_id = (SELECT app_id FROM apps WHERE app = 'read_app');

-- an impossible time that passes the form: the cast's own error, on both paths
\set SHOW_CONTEXT never
SELECT pg_temp.read('{"registration_id": "r1", "event": "e", "at": "2090-13-01T11:00:00Z"}');
SELECT pg_temp.checked('{"registration_id": "r1", "event": "e", "at": "2090-13-01T11:00:00Z"}');

-- a batch: taken by time, then place, as the checks take it (events without "at" are now())
SELECT registration_ids, accounts, account_types, names, props,
       ARRAY(SELECT to_char(a AT TIME ZONE 'UTC', 'MM-DD HH24:MI') FROM unnest(ats) a) AS ats
FROM _track_read('[{"registration_id": "r1", "event": "third", "at": "2090-03-01T11:00:00Z"},
                   {"account": "acct-1", "account_type": 3, "event": "first", "props": {"p": 1}, "at": "2090-03-01T09:00:00Z"},
                   {"registration_id": "r1", "event": "second", "at": "2090-03-01T10:00:00Z"},
                   {"registration_id": "r1", "event": "fourth", "at": "2090-03-01T11:00:00Z"}]',
                 '2089-01-01', '2091-01-01');
SELECT push_track_batch('read_app', '[{"registration_id": "r1", "event": "third", "at": "2090-03-01T11:00:00Z"},
                   {"account": "acct-1", "account_type": 3, "event": "first", "props": {"p": 1}, "at": "2090-03-01T09:00:00Z"},
                   {"registration_id": "r1", "event": "second", "at": "2090-03-01T10:00:00Z"},
                   {"registration_id": "r1", "event": "fourth", "at": "2090-03-01T11:00:00Z"}]') AS tracked;
SELECT string_agg(event, ',' ORDER BY event_id) AS kept_in_order FROM tracked_events
WHERE app_id = (SELECT app_id FROM apps WHERE app = 'read_app');
-- an empty batch: nothing
SELECT cardinality(names) AS none FROM _track_read('[]', '2089-01-01', '2091-01-01');
SELECT push_track_batch('read_app', '[]') AS tracked_none;
-- not an array: refused (push_track_batch has said why before calling it)
SELECT names IS NULL AS refused FROM _track_read('{"a": 1}', '2089-01-01', '2091-01-01');
-- gone with its events, as the tests after this one expect (the events first: on the
-- distributed layout an app's deletion does not reach the coordinator's tables)
DELETE FROM tracked_events WHERE app_id = (SELECT app_id FROM apps WHERE app = 'read_app');
DELETE FROM apps WHERE app = 'read_app';
SELECT _clock_set(NULL) IS NOT NULL AS clock_back;
