SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
-- Audiences: every form of every dialect against a small data set whose expected answers were
-- worked out by hand (the comments give them), never by the compiler under test.
SELECT push_app_create('aud');
SELECT push_app_create('aud_other');

-- app aud:  r1..r9.  r6, r7, r8 are unreachable (opted out, no token, unregistered).
INSERT INTO devices (app_id, registration_id, platform, vendor, token, opted_in, registered, attrs)
SELECT _app_id('aud', 'reader'), r, 'android', 'fcm', tok, opt, reg, a::jsonb
FROM (VALUES
    ('r1', 'tok1', true,  true,  '{"city": "sz", "level": "gold"}'),
    ('r2', 'tok2', true,  true,  '{"city": "bj", "level": "gold"}'),
    ('r3', 'tok3', true,  true,  '{"city": "sz"}'),
    ('r4', 'tok4', true,  true,  '{"city": "sz", "level": "silver", "age": 30}'),
    ('r5', 'tok5', true,  true,  '{}'),
    ('r6', 'tok6', false, true,  '{"city": "sz"}'),
    ('r7', NULL,   true,  true,  '{"city": "sz"}'),
    ('r8', 'tok8', true,  false, '{"city": "sz"}'),
    ('r9', 'tok9', true,  true,  '{"city": "gz", "vip": true, "age": "30"}')
) v(r, tok, opt, reg, a)
ORDER BY r;
-- app aud_other: the same registration id, token, tags, attributes and accounts as r1.
INSERT INTO devices (app_id, registration_id, platform, vendor, token, attrs)
VALUES (_app_id('aud_other', 'reader'), 'r1', 'android', 'fcm', 'tok1', '{"city": "sz", "level": "gold"}'),
       (_app_id('aud_other', 'reader'), 'o2', 'android', 'fcm', 'otok2', '{"city": "sz"}');

INSERT INTO tags (app_id, tag) VALUES
    (_app_id('aud', 'reader'), 'vip'), (_app_id('aud', 'reader'), 'cn'), (_app_id('aud', 'reader'), 'churned'),
    (_app_id('aud', 'reader'), 'news'), (_app_id('aud', 'reader'), '股票A'),
    (_app_id('aud_other', 'reader'), 'vip'), (_app_id('aud_other', 'reader'), 'cn'), (_app_id('aud_other', 'reader'), 'news');
-- vip: r1 r2 r4 r6 r8   cn: r1 r3 r6 r7   churned: r3 r4   news: r9   股票A: r1 r9
INSERT INTO device_tags (tag_id, device_id)
SELECT t.tag_id, d.device_id
FROM (VALUES ('r1', 'vip'), ('r2', 'vip'), ('r4', 'vip'), ('r6', 'vip'), ('r8', 'vip'),
             ('r1', 'cn'), ('r3', 'cn'), ('r6', 'cn'), ('r7', 'cn'),
             ('r3', 'churned'), ('r4', 'churned'), ('r9', 'news'),
             ('r1', '股票A'), ('r9', '股票A')) v(r, tag)
JOIN devices d ON d.app_id = _app_id('aud', 'reader') AND d.registration_id = v.r
JOIN tags t ON t.app_id = _app_id('aud', 'reader') AND t.tag = v.tag;
INSERT INTO device_tags (tag_id, device_id)
SELECT t.tag_id, d.device_id FROM devices d JOIN tags t USING (app_id)
WHERE d.app_id = _app_id('aud_other', 'reader');

-- accounts, type 1: alice -> r1 (older), r2 (newer); bob -> r3 (older), r6 (newer, unreachable);
-- carol -> r4 and r5 bound at the same time; type 0: alice -> r9.  Other app: alice -> its r1.
INSERT INTO device_accounts (app_id, account_type, account, device_id, bound_at)
SELECT d.app_id, v.t, v.acc, d.device_id, v.at::timestamptz
FROM (VALUES ('aud', 'r1', 1, 'alice', '2025-01-01'), ('aud', 'r2', 1, 'alice', '2025-02-01'),
             ('aud', 'r3', 1, 'bob', '2025-01-01'), ('aud', 'r6', 1, 'bob', '2025-03-01'),
             ('aud', 'r4', 1, 'carol', '2025-01-01'), ('aud', 'r5', 1, 'carol', '2025-01-01'),
             ('aud', 'r9', 0, 'alice', '2025-01-01'),
             ('aud_other', 'r1', 1, 'alice', '2025-05-01')) v(app, r, t, acc, at)
JOIN apps a ON a.app = v.app
JOIN devices d ON d.app_id = a.app_id AND d.registration_id = v.r;

-- account packages: aud's holds alice, bob, dave (type 1); aud_other's holds alice.
CREATE TEMP TABLE pkg AS
WITH p AS (
    INSERT INTO account_packages (app_id, filename, account_type, account_count, byte_size)
    VALUES (_app_id('aud', 'reader'), 'winners.txt', 1, 3, 17), (_app_id('aud_other', 'reader'), 'o.txt', 1, 1, 6)
    RETURNING upload_id, app_id)
SELECT upload_id, (SELECT app FROM apps a WHERE a.app_id = p.app_id) AS app FROM p;
INSERT INTO account_package_accounts (upload_id, account)
SELECT upload_id, a FROM pkg, unnest(ARRAY['alice', 'bob', 'dave']) a WHERE app = 'aud'
UNION ALL
SELECT upload_id, 'alice' FROM pkg WHERE app = 'aud_other';

-- count, then the preview's registration ids (sorted here); the two must agree
CREATE FUNCTION pg_temp.aud(a jsonb, app text DEFAULT 'aud') RETURNS text LANGUAGE sql AS $$
    SELECT push_audience_count(app, a) || ': ' ||
           coalesce((SELECT string_agg(r, ' ' ORDER BY r) FROM push_audience_preview(app, a, 10000) r), '-')
$$;

-- all: the six reachable devices r1 r2 r3 r4 r5 r9
SELECT pg_temp.aud('"all"');
SELECT pg_temp.aud('"all"', 'aud_other');
-- registration ids: unreachable r6 and unknown rx dropped
SELECT pg_temp.aud('{"registration_id": ["r1", "r6", "r9", "rx", "r1"]}');
SELECT pg_temp.aud('{"registration_id": ["r1"]}', 'aud_other');
-- tokens: tok1 (r1), tok8 (unregistered r8)
SELECT pg_temp.aud('{"token": ["tok1", "tok8", "otok2"]}');
-- accounts: type 1, push type 1 = every device: alice r1 r2, bob r3 (r6 unreachable)
SELECT pg_temp.aud('{"account": ["alice", "bob"], "account_type": 1, "account_push_type": 1}');
-- push type 0 = latest binding only: alice r2; bob's latest is r6, unreachable: nothing
SELECT pg_temp.aud('{"account": ["alice", "bob"], "account_type": 1, "account_push_type": 0}');
-- carol's two devices were bound at the same moment: the newer device (r5) wins
SELECT pg_temp.aud('{"account": ["carol"], "account_type": 1}');
SELECT pg_temp.aud('{"account": ["carol"], "account_type": 1, "account_push_type": 1}');
-- account_type defaults to 0: alice -> r9
SELECT pg_temp.aud('{"account": ["alice"]}');
-- the other app's alice
SELECT pg_temp.aud('{"account": ["alice"], "account_type": 1, "account_push_type": 1}', 'aud_other');
-- account package (alice, bob, dave; type 1): all devices r1 r2 r3; latest only: r2
SELECT pg_temp.aud(jsonb_build_object('upload_id', upload_id, 'account_push_type', 1)) FROM pkg WHERE app = 'aud';
SELECT pg_temp.aud(jsonb_build_object('upload_id', upload_id)) FROM pkg WHERE app = 'aud';
-- tags: OR list: vip or cn -> r1 r2 r3 r4 (r6 r7 r8 unreachable)
SELECT pg_temp.aud('{"tag": ["vip", "cn"]}');
SELECT pg_temp.aud('{"tag": ["vip"]}', 'aud_other');
-- AND list: vip and cn -> r1 (r6 unreachable)
SELECT pg_temp.aud('{"tag_and": ["vip", "cn"]}');
-- NOT: vip minus churned -> r1 r2
SELECT pg_temp.aud('{"tag": ["vip"], "tag_not": ["churned"]}');
-- only tag_not: every reachable device without churned or news -> r1 r2 r5
SELECT pg_temp.aud('{"tag_not": ["churned", "news"]}');
-- all three: (vip or news) and cn and not churned -> r1
SELECT pg_temp.aud('{"tag": ["vip", "news"], "tag_and": ["cn"], "tag_not": ["churned"]}');
-- unknown tags: in an OR list they match nothing, in an AND list they empty the set,
-- in tag_not they exclude nothing
SELECT pg_temp.aud('{"tag": ["vip", "nosuchtag"]}');
SELECT pg_temp.aud('{"tag_and": ["vip", "nosuchtag"]}');
SELECT pg_temp.aud('{"tag": ["vip"], "tag_not": ["nosuchtag"]}');
SELECT pg_temp.aud('{"tag": ["nosuchtag"]}');
-- a tag known only in the other app
INSERT INTO tags (app_id, tag) VALUES (_app_id('aud_other', 'reader'), 'only_other');
SELECT pg_temp.aud('{"tag": ["only_other"]}');
-- attributes: city sz and level gold -> r1; city sz or level gold -> r1 r2 r3 r4
SELECT pg_temp.aud('{"attr_and": {"city": "sz", "level": "gold"}}');
SELECT pg_temp.aud('{"attr_or": {"city": "sz", "level": "gold"}}');
SELECT pg_temp.aud('{"attr_and": {"city": "sz"}}', 'aud_other');
-- JSON types matter: age 30 is r4, age "30" is r9; vip true is r9
SELECT pg_temp.aud('{"attr_and": {"age": 30}}');
SELECT pg_temp.aud('{"attr_and": {"age": "30"}}');
SELECT pg_temp.aud('{"attr_or": {"vip": true, "age": 30}}');
-- several targets together must all hold: tag vip and city sz -> r1 r4
SELECT pg_temp.aud('{"tag": ["vip"], "attr_and": {"city": "sz"}}');
SELECT pg_temp.aud('{"registration_id": ["r1", "r2", "r3"], "tag": ["vip"]}');
-- condition trees: the API example: vip and (city 深圳 (nobody) or not churned) -> r1 r2
SELECT pg_temp.aud('{"condition": {"and": [{"tag": "vip"},
    {"or": [{"attr": {"city": "深圳"}}, {"not": {"tag": "churned"}}]}]}}');
-- vip and (city sz or not churned) -> r1 r2 r4
SELECT pg_temp.aud('{"condition": {"and": [{"tag": "vip"},
    {"or": [{"attr": {"city": "sz"}}, {"not": {"tag": "churned"}}]}]}}');
-- not alone: not vip -> r3 r5 r9
SELECT pg_temp.aud('{"condition": {"not": {"tag": "vip"}}}');
-- double negation: churned -> r3 r4; not of an or: not (vip or cn) -> r5 r9
SELECT pg_temp.aud('{"condition": {"not": {"not": {"tag": "churned"}}}}');
SELECT pg_temp.aud('{"condition": {"not": {"or": [{"tag": "vip"}, {"tag": "cn"}]}}}');
-- or of and's: (vip and churned) or (cn and city sz) -> r1 r3 r4
SELECT pg_temp.aud('{"condition": {"or": [{"and": [{"tag": "vip"}, {"tag": "churned"}]},
    {"and": [{"tag": "cn"}, {"attr": {"city": "sz"}}]}]}}');
-- attr with two pairs is an AND; or across attributes and tags: level gold and city bj, or news
SELECT pg_temp.aud('{"condition": {"or": [{"attr": {"level": "gold", "city": "bj"}}, {"tag": "news"}]}}');
-- accounts in a tree: alice type 1 (all devices) and not city bj -> r1; alice's latest -> r2
SELECT pg_temp.aud('{"condition": {"and": [{"account": "alice", "account_type": 1, "account_push_type": 1},
    {"not": {"attr": {"city": "bj"}}}]}}');
SELECT pg_temp.aud('{"condition": {"account": "alice", "account_type": 1}}');
-- unknown tag under not: excludes nothing -> every reachable device
SELECT pg_temp.aud('{"condition": {"not": {"tag": "nosuchtag"}}}');
SELECT pg_temp.aud('{"condition": {"or": [{"tag": "nosuchtag"}, {"not": {"tag": "nosuchtag"}}]}}');
-- an or of a tag, an attribute and a double negation: news, city bj, churned -> r2 r3 r4 r9
SELECT pg_temp.aud('{"condition": {"or": [{"tag": "news"}, {"attr": {"city": "bj"}}, {"not": {"not": {"tag": "churned"}}}]}}');

-- Tencent Push dialect
SELECT pg_temp.aud('{"audience_type": "all"}');
SELECT pg_temp.aud('{"audience_type": "token", "token_list": ["tok2"]}');
SELECT pg_temp.aud('{"audience_type": "token_list", "token_list": ["tok2", "tok3", "tok6"]}');
SELECT pg_temp.aud('{"audience_type": "account", "account_list": ["alice"], "account_type": 1, "account_push_type": 0}');
SELECT pg_temp.aud('{"audience_type": "account_list", "account_list": ["alice", "carol"], "account_type": 1, "account_push_type": 1}');
SELECT pg_temp.aud(jsonb_build_object('audience_type', 'package_account_push', 'upload_id', upload_id,
                                      'account_type', 1, 'account_push_type', 1)) FROM pkg WHERE app = 'aud';
SELECT pg_temp.aud(jsonb_build_object('audience_type', 'package_account_push', 'upload_id', upload_id)) FROM pkg WHERE app = 'aud';
SELECT pg_temp.aud('{"audience_type": "tag", "tag_list": {"tags": ["vip", "cn"], "op": "AND"}}');
SELECT pg_temp.aud('{"audience_type": "tag", "tag_list": {"tags": ["vip", "cn"], "op": "OR"}}');

-- Tencent IM Condition dialect, bare and inside the whole push body
SELECT pg_temp.aud('{"TagsAnd": ["股票A", "vip"]}');
SELECT pg_temp.aud('{"TagsOr": ["股票A", "churned"]}');
SELECT pg_temp.aud('{"TagsOr": ["vip", "news"], "TagsAnd": ["股票A"]}');
SELECT pg_temp.aud('{"AttrsAnd": {"city": "sz", "level": "gold"}}');
SELECT pg_temp.aud('{"AttrsOr": {"city": "gz", "level": "silver"}}');
SELECT pg_temp.aud('{"From_Account": "administrator", "MsgRandom": 124032,
    "Condition": {"TagsAnd": ["股票A", "vip"]}, "OfflinePushInfo": {"PushFlag": 0, "Title": "t", "Desc": "d"}}');
SELECT pg_temp.aud('{"From_Account": "administrator", "MsgRandom": 3674128,
    "OfflinePushInfo": {"PushFlag": 0, "Title": "t", "Desc": "d"}}');

-- preview: registration order, limited
SELECT * FROM push_audience_preview('aud', '"all"', 2);
SELECT * FROM push_audience_preview('aud', '{"tag": ["vip", "cn"]}');

-- expansion into a table (the way sends will use the compiled query) agrees with an
-- independent hand-written query: reachable devices tagged vip or cn, not churned
CREATE TEMP TABLE expanded (device_id bigint);
SELECT _audience_expand('aud', '{"tag": ["vip", "cn"], "tag_not": ["churned"]}', 'expanded');
SELECT d.registration_id FROM expanded e JOIN devices d USING (device_id) ORDER BY 1;
SELECT array_agg(device_id ORDER BY device_id) = (
    SELECT array_agg(d.device_id ORDER BY d.device_id) FROM devices d
    WHERE d.app_id = (SELECT a.app_id FROM apps a WHERE a.app = 'aud') AND d.reachable
      AND EXISTS (SELECT 1 FROM device_tags dt JOIN tags t USING (tag_id)
                  WHERE dt.device_id = d.device_id AND t.tag IN ('vip', 'cn'))
      AND NOT EXISTS (SELECT 1 FROM device_tags dt JOIN tags t USING (tag_id)
                      WHERE dt.device_id = d.device_id AND t.tag = 'churned')) AS same
FROM expanded;
