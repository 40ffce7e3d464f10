SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
-- Audiences: every error, with its SQLSTATE and exact message.
SELECT push_app_create('auderr');
SELECT push_app_create('auderr_other');
INSERT INTO account_packages (app_id, filename, account_type, account_count, byte_size)
VALUES (_app_id('auderr', 'reader'), 'a.txt', 1, 0, 0), (_app_id('auderr_other', 'reader'), 'b.txt', 1, 0, 0);
CREATE TEMP TABLE pkg AS
SELECT upload_id, (SELECT app FROM apps a WHERE a.app_id = p.app_id) AS app FROM account_packages p
WHERE app_id IN (_app_id('auderr', 'reader'), _app_id('auderr_other', 'reader'));

CREATE FUNCTION pg_temp.err(a jsonb, app text DEFAULT 'auderr') RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_detail text;
    v_hint text;
BEGIN
    RETURN 'no error: ' || push_audience_count(app, a);
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ' ' || SQLERRM
        || coalesce(' (detail: ' || nullif(v_detail, '') || ')', '')
        || coalesce(' (hint: ' || nullif(v_hint, '') || ')', '');
END $$;

SELECT push_audience_count('nosuchapp', '"all"');
SELECT push_audience_preview('nosuchapp', '"all"');
SELECT push_audience_count(NULL, '"all"');
-- 90001: neither "all" nor an object
SELECT pg_temp.err('"everyone"');
SELECT pg_temp.err('42');
SELECT pg_temp.err('["all"]');
SELECT pg_temp.err('null');
SELECT pg_temp.err(NULL);
-- 92100: unknown keys, per dialect
SELECT pg_temp.err('{"tag": ["a"], "alias": ["x"]}');
SELECT pg_temp.err('{"condition": {"tag": "a", "weight": 1}}');
SELECT pg_temp.err('{"audience_type": "all", "message_type": "notify"}');
SELECT pg_temp.err('{"TagsAnd": ["a"], "tag": ["b"]}');
SELECT pg_temp.err('{"MsgRandom": 1, "TagsAnd": ["a"]}');
SELECT pg_temp.err('{"audience_type": "tag", "tag_list": {"tags": ["a"], "op": "OR", "x": 1}}');
-- 92101: no target
SELECT pg_temp.err('{}');
SELECT pg_temp.err('{"MsgRandom": 1, "Condition": {}}');
-- 92102 .. 92107: lists
SELECT pg_temp.err('{"tag": "vip"}');
SELECT pg_temp.err('{"registration_id": {"a": 1}}');
SELECT pg_temp.err('{"condition": {"and": {"tag": "a"}}}');
SELECT pg_temp.err('{"tag": []}');
SELECT pg_temp.err('{"token": []}');
SELECT pg_temp.err('{"condition": {"or": []}}');
SELECT pg_temp.err('{"registration_id": ["r1", 2]}');
SELECT pg_temp.err('{"tag_not": [null]}');
SELECT pg_temp.err('{"token": ["t", ""]}');
SELECT pg_temp.err('{"condition": {"account": ""}}');
SELECT pg_temp.err(jsonb_build_object('registration_id', (SELECT jsonb_agg('r' || g) FROM generate_series(1, 1001) g)));
SELECT pg_temp.err(jsonb_build_object('account', (SELECT jsonb_agg('a' || g) FROM generate_series(1, 1001) g)));
SELECT pg_temp.err(jsonb_build_object('registration_id', (SELECT jsonb_agg('r' || g) FROM generate_series(1, 1000) g)));
SELECT pg_temp.err(jsonb_build_object('tag_and', (SELECT jsonb_agg('t' || g) FROM generate_series(1, 21) g)));
SELECT pg_temp.err(jsonb_build_object('tag_not', (SELECT jsonb_agg('t' || g) FROM generate_series(1, 20) g)));
-- 92108 .. 92111: accounts and packages
SELECT pg_temp.err('{"account": ["a"], "account_type": -1}');
SELECT pg_temp.err('{"account": ["a"], "account_type": "1"}');
SELECT pg_temp.err('{"account": ["a"], "account_type": 1.5}');
SELECT pg_temp.err('{"account": ["a"], "account_type": 2147483648}');
SELECT pg_temp.err('{"upload_id": 0}');
SELECT pg_temp.err('{"upload_id": "11231"}');
SELECT pg_temp.err('{"account": ["a"], "account_push_type": 2}');
SELECT pg_temp.err('{"audience_type": "account", "account_list": ["a"], "account_push_type": -1}');
SELECT pg_temp.err('{"condition": {"account": "a", "account_push_type": true}}');
SELECT pg_temp.err('{"upload_id": 999999999}');
SELECT push_audience_count('auderr', jsonb_build_object('upload_id', upload_id)) FROM pkg WHERE app = 'auderr';
-- another app's package does not exist for this one
SELECT pg_temp.err(jsonb_build_object('upload_id', upload_id)) = '42704 92111: account package ' || upload_id || ' does not exist'
FROM pkg WHERE app = 'auderr_other';
-- 92112, 90033: attributes
SELECT pg_temp.err('{"attr_and": ["city"]}');
SELECT pg_temp.err('{"attr_or": {}}');
SELECT pg_temp.err('{"condition": {"attr": "city"}}');
SELECT pg_temp.err('{"MsgRandom": 1, "Condition": ["TagsAnd"]}');
SELECT pg_temp.err('{"attr_and": {"city": {"name": "sz"}}}');
SELECT pg_temp.err('{"attr_or": {"city": ["sz", "bj"]}}');
SELECT pg_temp.err('{"AttrsAnd": {"city": null}}');
SELECT pg_temp.err('{"AttrsOr": {"": "x"}}');
-- 92113 .. 92115: condition trees; 64 nodes are fine, 65 are not
SELECT pg_temp.err(jsonb_build_object('condition', jsonb_build_object('or',
    (SELECT jsonb_agg(jsonb_build_object('tag', 't' || g)) FROM generate_series(1, 63) g))));
SELECT pg_temp.err(jsonb_build_object('condition', jsonb_build_object('or',
    (SELECT jsonb_agg(jsonb_build_object('tag', 't' || g)) FROM generate_series(1, 64) g))));
SELECT pg_temp.err('{"condition": {}}');
SELECT pg_temp.err('{"condition": "vip"}');
SELECT pg_temp.err('{"condition": {"and": ["vip"]}}');
SELECT pg_temp.err('{"condition": {"tag": "a", "attr": {"city": "sz"}}}');
SELECT pg_temp.err('{"condition": {"not": [{"tag": "a"}]}}');
SELECT pg_temp.err('{"condition": {"tag": ["a"]}}');
SELECT pg_temp.err('{"condition": {"account": 1}}');
-- 92116 .. 92119: account options
SELECT pg_temp.err(jsonb_build_object('upload_id', upload_id, 'account_type', 1)) FROM pkg WHERE app = 'auderr';
SELECT replace(pg_temp.err(jsonb_build_object('audience_type', 'package_account_push', 'upload_id', upload_id,
                                              'account_type', 2)), 'package ' || upload_id, 'package <upload_id>')
FROM pkg WHERE app = 'auderr';
SELECT pg_temp.err('{"tag": ["a"], "account_type": 1}');
SELECT pg_temp.err('{"account_push_type": 1, "tag": ["a"]}');
SELECT pg_temp.err('{"condition": {"tag": "a", "account_type": 1}}');
SELECT pg_temp.err('{"condition": {"not": {"tag": "a"}, "account_push_type": 1}}');
SELECT pg_temp.err('{"account": ["a"], "upload_id": 1}');
-- 92120 .. 92123: Tencent Push
SELECT pg_temp.err('{"audience_type": "everyone"}');
SELECT pg_temp.err('{"audience_type": 1}');
SELECT pg_temp.err('{"audience_type": "token"}');
SELECT pg_temp.err('{"audience_type": "package_account_push", "account_type": 1}');
SELECT pg_temp.err('{"audience_type": "all", "token_list": ["a"]}');
SELECT pg_temp.err('{"audience_type": "token_list", "token_list": ["a"], "account_type": 1}');
SELECT pg_temp.err('{"audience_type": "tag", "tag_list": ["a"]}');
SELECT pg_temp.err('{"audience_type": "tag", "tag_list": {"tags": ["a"], "op": "XOR"}}');
SELECT pg_temp.err('{"audience_type": "tag", "tag_list": {"tags": ["a"]}}');
SELECT pg_temp.err('{"audience_type": "token_list", "token_list": ["a", 1]}');
-- Tencent IM's codes: 90020 tag longer than 50 bytes (50 is fine; 17 three-byte characters are 51)
SELECT pg_temp.err(jsonb_build_object('tag', jsonb_build_array(repeat('x', 50))));
SELECT pg_temp.err(jsonb_build_object('tag', jsonb_build_array(repeat('x', 51))));
SELECT pg_temp.err(jsonb_build_object('TagsOr', jsonb_build_array(repeat('股', 17))));
SELECT pg_temp.err(jsonb_build_object('condition', jsonb_build_object('tag', repeat('x', 51))));
-- 90040 empty tag
SELECT pg_temp.err('{"tag_and": ["a", ""]}');
SELECT pg_temp.err('{"TagsAnd": [""]}');
SELECT pg_temp.err('{"condition": {"tag": ""}}');
SELECT pg_temp.err('{"audience_type": "tag", "tag_list": {"tags": [""], "op": "OR"}}');
-- 90022 a tag in both the OR and the AND list
SELECT pg_temp.err('{"tag": ["a", "b"], "tag_and": ["c", "b"]}');
SELECT pg_temp.err('{"TagsOr": ["股票A"], "TagsAnd": ["股票A"]}');
-- 90032 more than 10 tags (IM); 10 are fine
SELECT pg_temp.err(jsonb_build_object('TagsAnd', (SELECT jsonb_agg('t' || g) FROM generate_series(1, 11) g)));
SELECT pg_temp.err(jsonb_build_object('TagsOr', (SELECT jsonb_agg('t' || g) FROM generate_series(1, 10) g)));
-- 90039 tags with attributes; 92124 AttrsAnd with AttrsOr
SELECT pg_temp.err('{"TagsAnd": ["a"], "AttrsAnd": {"city": "sz"}}');
SELECT pg_temp.err('{"Condition": {"TagsOr": ["a"], "AttrsOr": {"city": "sz"}}}');
SELECT pg_temp.err('{"AttrsAnd": {"city": "sz"}, "AttrsOr": {"level": "1"}}');
-- 92140 max_rows
SELECT push_audience_preview('auderr', '"all"', 0);
SELECT push_audience_preview('auderr', '"all"', 10001);
SELECT push_audience_preview('auderr', '"all"', NULL);
SELECT count(*) FROM push_audience_preview('auderr', '"all"', 10000);
