-- Bounded, clean input: messages show at most 100 characters of a value (control characters
-- escaped); tags, attribute names and accounts refuse control characters and white space alone;
-- intervals, activity times and endpoint URLs are held to sane ranges; attribute conditions are
-- bounded.  Each refusal writes nothing.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

SELECT push_app_create('bounds');
SELECT push_device_register('bounds', 'r1', 'ios', 'apns', 'tok-1', 'UTC', 'en') IS NOT NULL AS registered;

-- SQLSTATE, message length, message and detail of a statement's error.
CREATE FUNCTION pg_temp.err(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_detail text;
    v_hint text;
BEGIN
    EXECUTE stmt;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ' [' || length(SQLERRM) || '] ' || SQLERRM
        || coalesce(' (detail: ' || nullif(v_detail, '') || ')', '')
        || coalesce(' (hint: ' || nullif(v_hint, '') || ')', '');
END $$;
-- (a statement per count: the suites also run on the distributed layout, test/citus/regress.sh,
-- where Citus plans no correlated subquery over the devices)
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_id int := _app_id('bounds', 'reader');
    v_tags bigint;
    v_attrs jsonb;
    v_accounts bigint;
    v_activity bigint;
BEGIN
    SELECT count(*) INTO v_tags FROM device_tags t JOIN devices d USING (device_id) WHERE d.app_id = v_id;
    SELECT attrs INTO v_attrs FROM devices WHERE app_id = v_id AND registration_id = 'r1';
    SELECT count(*) INTO v_accounts FROM device_accounts WHERE app_id = v_id;
    SELECT count(*) INTO v_activity FROM device_activity a JOIN devices d USING (device_id) WHERE d.app_id = v_id;
    RETURN format('tags %s, attrs %s, accounts %s, activity %s, vendors %s, settings %s',
                  v_tags, v_attrs, v_accounts, v_activity,
                  (SELECT count(*) FROM vendor_configs WHERE app_id = v_id),
                  (SELECT settings FROM apps WHERE app_id = v_id));
END $$;
SELECT pg_temp.state();

-- _shown: 100 characters at most, "..." when cut, control characters escaped (C0, DEL, C1).
SELECT _shown(repeat('x', 100)) = repeat('x', 100) AS hundred_kept,
       _shown(repeat('x', 101)) = repeat('x', 100) || '...' AS cut,
       _shown(repeat('名', 101)) = repeat('名', 100) || '...' AS characters_not_bytes;
SELECT _shown(E'a\x1b[31mb\nc\x7f' || chr(133) || 'd');

-- Long values: every message stays short (a 10 MB value used to give a 10 MB message).
SELECT pg_temp.err($$SELECT push_tag_add('bounds', 'r1', repeat('t', 10485760))$$);
SELECT pg_temp.err($$SELECT push_app_set(repeat('a', 10485760), '{}')$$);
SELECT pg_temp.err($$SELECT push_app_set('bounds', jsonb_build_object(repeat('k', 1000000), 1))$$);
SELECT pg_temp.err($$SELECT push_app_set('bounds', jsonb_build_object('timezone', repeat('z', 1000000)))$$);
SELECT pg_temp.err($$SELECT push_attr_set('bounds', 'r1', jsonb_build_object(repeat('k', 1000000), 1))$$);
SELECT pg_temp.err($$SELECT push_device_register('bounds', 'r2', repeat('p', 1000000), 'apns', 't', 'UTC', 'en')$$);
SELECT pg_temp.err($$SELECT push_device_register('bounds', 'r2', 'ios', repeat('v', 1000000), 't', 'UTC', 'en')$$);
SELECT pg_temp.err($$SELECT push_device_register('bounds', 'r2', 'ios', 'apns', 't', repeat('z', 1000000), 'en')$$);
SELECT pg_temp.err($$SELECT push_device_register('bounds', 'r2', 'ios', 'apns', 't', 'UTC', repeat('l', 1000000))$$);
SELECT pg_temp.err($$SELECT push_device_register_batch('bounds', jsonb_build_array(jsonb_build_object(repeat('k', 1000000), 1)))$$);
SELECT pg_temp.err($$SELECT push_device_activity('bounds', repeat('r', 1000000))$$);
SELECT pg_temp.err($$SELECT push_account_unbind('bounds', 'r1', repeat('u', 1000000))$$);
SELECT pg_temp.err($$SELECT push_plan_update('bounds', repeat('p', 1000000), 'x')$$);
SELECT pg_temp.err($$SELECT push_cancel('bounds', repeat('t', 1000000))$$);
SELECT pg_temp.err($$SELECT push_vendor_set('bounds', repeat('v', 1000000), '{}')$$);
SELECT pg_temp.err($$SELECT push_vendor_set('bounds', 'hms', jsonb_build_object(repeat('k', 1000000), 'x'))$$);
SELECT pg_temp.err($$SELECT push_app_revoke('bounds', 'pg_monitor', repeat('k', 1000000))$$);
SELECT pg_temp.err($$SELECT push_audience_count('bounds', jsonb_build_object('tag', jsonb_build_array(repeat('t', 1000000))))$$);
SELECT pg_temp.err($$SELECT push_audience_count('bounds', jsonb_build_object(repeat('k', 1000000), 1))$$);
SELECT pg_temp.err($$SELECT push_audience_count('bounds', jsonb_build_object('attr_and', jsonb_build_object('a', 1, repeat('k', 1000000), '{}'::jsonb)))$$);
SELECT pg_temp.err($$SELECT push_validate(jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', repeat('p', 60000), 'notification', '{"alert": "hi"}'::jsonb)))$$);
SELECT pg_temp.err($$SELECT push_validate(jsonb_build_object('to', 'all', repeat('k', 60000), 1))$$);
SELECT pg_temp.err($$SELECT push_account_package_upload('bounds', repeat('n', 99) || E'\x1b', 'x'::bytea)$$);
SELECT pg_temp.state();

-- 92070, 92071: tags
SELECT pg_temp.err($$SELECT push_tag_add('bounds', 'r1', E'vip\x1b[2J')$$);
SELECT pg_temp.err($$SELECT push_tag_add('bounds', 'r1', E'line\nbreak')$$);
SELECT pg_temp.err($$SELECT push_tag_add('bounds', 'r1', E'del\x7f')$$);
SELECT pg_temp.err($$SELECT push_tag_add('bounds', 'r1', 'c1' || chr(155))$$);
SELECT pg_temp.err($$SELECT push_tag_add('bounds', 'r1', '   ')$$);
SELECT pg_temp.err($$SELECT push_tag_add('bounds', 'r1', chr(160) || chr(8203) || chr(12288))$$);
SELECT pg_temp.err($$SELECT push_tag_add('bounds', 'r1', 'ok', E'\t')$$);
SELECT pg_temp.err($$SELECT push_device_register_batch('bounds', '[{"registration_id": "r3", "platform": "ios", "vendor": "apns", "token": "t3", "tags": ["fine", "\u001b"]}]')$$);
SELECT push_tag_add('bounds', 'r1', 'two words', ' padded ', '深圳');   -- fine
-- attribute names
SELECT pg_temp.err($$SELECT push_attr_set('bounds', 'r1', '{"ci\u0001ty": 1}')$$);
SELECT pg_temp.err($$SELECT push_attr_set('bounds', 'r1', '{"ci\nty": 1}')$$);
SELECT pg_temp.err($$SELECT push_attr_set('bounds', 'r1', '{" ": 1}')$$);
SELECT pg_temp.err($$SELECT push_device_register_batch('bounds', '[{"registration_id": "r3", "platform": "ios", "vendor": "apns", "token": "t3", "attrs": {"a\tb": 1}}]')$$);
SELECT push_attr_set('bounds', 'r1', '{"home city": "sz"}');             -- fine
-- accounts
SELECT pg_temp.err($$SELECT push_account_bind('bounds', 'r1', E'user\t01')$$);
SELECT pg_temp.err($$SELECT push_account_bind('bounds', 'r1', '    ')$$);
SELECT pg_temp.err($$SELECT push_account_bind('bounds', 'r1', chr(12288) || chr(12288))$$);
SELECT push_account_bind('bounds', 'r1', 'user 01');                   -- fine
-- ... and the same names in audiences, which could never match them
SELECT pg_temp.err($$SELECT push_audience_count('bounds', '{"tag": ["\u001b"]}')$$);
SELECT pg_temp.err($$SELECT push_audience_count('bounds', '{"condition": {"tag": "  "}}')$$);
SELECT pg_temp.err($$SELECT push_audience_count('bounds', '{"attr_or": {"a\nb": 1}}')$$);
-- an attribute name longer than a device can hold (64 bytes) is refused as on a device
SELECT pg_temp.err($$SELECT push_audience_count('bounds', ('{"attr_and": {"' || repeat('a', 65) || '": 1}}')::jsonb)$$);
SELECT push_audience_count('bounds', ('{"attr_and": {"' || repeat('a', 64) || '": 1}}')::jsonb);
SELECT pg_temp.err($$SELECT push_audience_count('bounds', '{"account": ["ok", "\u0085"]}')$$);
SELECT pg_temp.err($$SELECT push_audience_count('bounds', '{"condition": {"account": " "}}')$$);
SELECT pg_temp.err($$SELECT push_audience_count('bounds', '{"audience_type": "account_list", "account_list": ["a\rb"]}')$$);
SELECT push_audience_count('bounds', '{"tag": ["two words"], "attr_and": {"home city": "sz"}, "account": ["user 01"]}');
SELECT pg_temp.state();

-- 92125: at most 100 pairs in an attribute condition
SELECT pg_temp.err(format($$SELECT push_audience_count('bounds', '{"attr_and": %s}')$$,
    (SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 101) g)));
SELECT pg_temp.err(format($$SELECT push_audience_count('bounds', '{"attr_or": %s}')$$,
    (SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 101) g)));
SELECT pg_temp.err(format($$SELECT push_audience_count('bounds', '{"condition": {"attr": %s}}')$$,
    (SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 101) g)));
SELECT pg_temp.err(format($$SELECT push_audience_count('bounds', '{"AttrsOr": %s}')$$,
    (SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 101) g)));
SELECT pg_temp.err(format($$SELECT push_audience_count('bounds', '{"attr_or": %s}')$$,
    (SELECT jsonb_object_agg('k' || g, g) FROM generate_series(1, 100) g)));

-- 92008: broadcast_min_interval from 0 to 24 hours
SELECT pg_temp.err($$SELECT push_app_set('bounds', '{"broadcast_min_interval": "178000000 years"}')$$);
SELECT pg_temp.err($$SELECT push_app_set('bounds', '{"broadcast_min_interval": "24 hours 1 second"}')$$);
SELECT pg_temp.err($$SELECT push_app_set('bounds', '{"broadcast_min_interval": "1 mon"}')$$);
SELECT pg_temp.err($$SELECT push_app_set('bounds', '{"broadcast_min_interval": "infinity"}')$$);
SELECT push_app_set('bounds', '{"broadcast_min_interval": "1 day"}');
SELECT push_app_set('bounds', '{"broadcast_min_interval": "0"}');
SELECT pg_temp.state();

-- 92043: activity within the last year, and not in the future
SELECT pg_temp.err($$SELECT push_device_activity('bounds', 'r1', '-infinity')$$);
SELECT pg_temp.err($$SELECT push_device_activity('bounds', 'r1', 'infinity')$$);
SELECT pg_temp.err($$SELECT push_device_activity('bounds', 'r1', now() - interval '1 year 1 day')$$);
SELECT push_device_activity('bounds', 'r1', now() - interval '11 months');
SELECT push_device_activity('bounds', 'r1', now() + interval '4 minutes');

-- 92025: endpoint URLs as libcurl parses them
SELECT pg_temp.err($$SELECT push_vendor_set('bounds', 'hms', jsonb_build_object('app_id', '1', 'client_secret', 's', 'endpoint', E'https://127.0.0.1:8443/x\n'))$$);
SELECT pg_temp.err($$SELECT push_vendor_set('bounds', 'hms', jsonb_build_object('app_id', '1', 'client_secret', 's', 'endpoint', E'https://127.0.0.1\r\nX-Injected: 1'))$$);
SELECT pg_temp.err($$SELECT push_vendor_set('bounds', 'hms', '{"app_id": "1", "client_secret": "s", "endpoint": "https://127.0.0.1 /x"}')$$);
SELECT pg_temp.err($$SELECT push_vendor_set('bounds', 'hms', '{"app_id": "1", "client_secret": "s", "token_endpoint": "https://"}')$$);
SELECT pg_temp.err($$SELECT push_vendor_set('bounds', 'hms', '{"app_id": "1", "client_secret": "s", "endpoint": "127.0.0.1:8443/x"}')$$);
SELECT pg_temp.err($$SELECT push_vendor_set('bounds', 'hms', '{"app_id": "1", "client_secret": "s", "endpoint": "javascript:alert(1)"}')$$);
SELECT pg_temp.err($$SELECT push_vendor_set('bounds', 'hms', '{"app_id": "1", "client_secret": "s", "endpoint": "https://[::1"}')$$);
SELECT pg_temp.err($$SELECT push_vendor_set('bounds', 'webhook', '{"url": "file:///etc/passwd", "secret": "k"}')$$);
SELECT pg_temp.state();
SELECT push_vendor_set('bounds', 'hms', '{"app_id": "1", "client_secret": "s", "endpoint": "https://[::1]:8443/v1", "token_endpoint": "HTTP://127.0.0.1:8080/oauth2/v3/token"}');
SELECT pg_temp.state();
