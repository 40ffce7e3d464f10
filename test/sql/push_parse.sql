SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;

-- push_validate: every dialect (EngageLab, Tencent Push, Tencent IM) normalized to the EngageLab form (doc/push.md).
-- Errors are shown as "SQLSTATE message (detail: ...) (hint: ...)" through a helper, so all are checked.
CREATE FUNCTION pg_temp.err(p jsonb) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    v_detail text;
    v_hint text;
BEGIN
    PERFORM pushplan.push_validate(p);
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS v_detail = PG_EXCEPTION_DETAIL, v_hint = PG_EXCEPTION_HINT;
    RETURN SQLSTATE || ' ' || SQLERRM
        || coalesce(' (detail: ' || nullif(v_detail, '') || ')', '')
        || coalesce(' (hint: ' || nullif(v_hint, '') || ')', '');
END $$;

-- Every sample body; each must normalize, and a normalized push must normalize to itself.
CREATE TEMP TABLE samples (name text PRIMARY KEY, body jsonb NOT NULL);

-- Seed 000 (EngageLab), the "push" member of the /v4/schedules body, verbatim.
INSERT INTO samples VALUES ('seed000_push', $json$
{
"from": "push",
"to": {
"registration_id": [
"regId_userA", "regId_userB"
]
},
"body": {
"platform": "android",
"notification": {
"alert": "限时秒杀,马上抢购!",
"android": {
"title": "爆款来袭",
"extras": {
"promo": "618"
}
}
},
"options": {
"plan_id": "promo_618_2025",
"time_to_live": 86400
}
},
"request_id": "req_618_01",
"custom_args": {
"task": "reminder_01"
}
}
$json$);

-- The EngageLab push API's example, with one choice made where it lists alternatives.
INSERT INTO samples VALUES ('api_engagelab', $json$
{
  "from": "push",
  "to": {"condition": {"and": [{"tag": "vip"},
                               {"or": [{"attr": {"city": "深圳"}}, {"not": {"tag": "churned"}}]}]}},
  "body": {
    "platform": ["android", "ios"],
    "notification": {"alert": "限时秒杀,马上抢购!",
                     "android": {"title": "爆款来袭", "extras": {"promo": "618"}},
                     "ios": {"sound": "default", "badge": "+1", "extras": {}}},
    "message": {"msg_content": "...", "title": "...", "extras": {}},
    "options": {"plan_id": "promo_618_2025", "time_to_live": 86400,
                "multi_language": {"en": {"alert": "Flash sale!", "title": "Hot deals"}},
                "big_push_duration": 30, "apns_collapse_id": "..."}
  },
  "request_id": "req_618_01",
  "custom_args": {"task": "reminder_01"}
}
$json$);

-- Seed 001 (Tencent Push plan): the page shows its sample with the braces lost; here it is
-- with them put back (message, ios, aps, alert), every key and value as printed.
INSERT INTO samples VALUES ('seed001_token', $json$
{
"audience_type": "token",
"token_list": [ "05da87c0ae********fa9e08d884aada5bb2"],
"message_type": "notify",
"message": {
"title": "Push title",
"content": "Push content",
"ios": {
"aps": {
"alert": {
"subtitle": "Push subtitle"
},
"badge_type": -2,
"category": "INVITE_CATEGORY"
}
}
}
}
$json$);

-- Seed 002 (Tencent Push to accounts), both samples verbatim.
INSERT INTO samples VALUES ('seed002_account', $json$
{
"audience_type": "account",
"account_list": [
"123456"
],
"account_type":1,
"account_push_type":0,
"message_type": "notify",
"message": {
"title": "Congrats on winning in the campaign",
"content":"Get online to claim your prize!"
}
}
$json$);
INSERT INTO samples VALUES ('seed002_package', $json$
{
"audience_type": "package_account_push",
"upload_id": 11231,
"account_type":1,
"account_push_type":0,
"message_type": "notify",
"message": {
"title": "Congrats on winning in the campaign",
"content":"Get online to claim your prize!"
}
}
$json$);

-- The Tencent Push API's example, with plan_id.
INSERT INTO samples VALUES ('api_tencent_push', $json$
{"audience_type": "account_list", "account_list": ["a1", "a2"], "account_type": 1,
 "account_push_type": 0, "message_type": "notify",
 "message": {"title": "Sale", "content": "Everything half price"}, "plan_id": "promo_618_2025"}
$json$);
-- Tencent Push's scheduled send: send_time stays in the normalized push (push_send makes the
-- task due then)
INSERT INTO samples VALUES ('api_tencent_push_send_time', $json$
{"audience_type": "tag", "tag_list": {"tags": ["vip"], "op": "OR"}, "message_type": "notify",
 "message": {"title": "Sale", "content": "Tomorrow 9:00"}, "send_time": "2026-06-18 09:00:00"}
$json$);

-- Seed 004 (Tencent IM all/tag/attribute push), every request sample verbatim except the
-- "// ..." comments, which are not JSON.
INSERT INTO samples VALUES ('seed004_all', $json$
{
"From_Account": "administrator",
"MsgRandom": 3674128,
"OfflinePushInfo": {
"PushFlag": 0,
"Title": "离线推送标题",
"Desc": "离线推送内容"
}
}
$json$);
INSERT INTO samples VALUES ('seed004_online', $json$
{
"From_Account": "administrator",
"MsgRandom": 3674128,
"OfflinePushInfo": {
"PushFlag": 1,
"Ext": "透传内容"
}
}
$json$);
INSERT INTO samples VALUES ('seed004_tags_and', $json$
{
"From_Account": "administrator",
"MsgRandom": 124032,
"Condition": {
"TagsAnd": ["股票A","股票B"]
},
"OfflinePushInfo": {
"PushFlag": 0,
"Title": "离线推送标题",
"Desc": "离线推送内容"
}
}
$json$);
INSERT INTO samples VALUES ('seed004_tags_or', $json$
{
"From_Account": "administrator",
"MsgRandom": 124032,
"Condition": {
"TagsOr": ["股票A","股票B"]
},
"OfflinePushInfo": {
"PushFlag": 0,
"Title": "离线推送标题",
"Desc": "离线推送内容"
}
}
$json$);
INSERT INTO samples VALUES ('seed004_attrs_member', $json$
{
"From_Account": "administrator",
"MsgRandom": 389475,
"Condition": {
"AttrsAnd": {
"会员等级": "超白金会员",
"city": "深圳"
}
},
"OfflinePushInfo": {
"PushFlag": 0,
"Title": "离线推送标题",
"Desc": "离线推送内容"
}
}
$json$);
INSERT INTO samples VALUES ('seed004_attrs_user', $json$
{
"From_Account": "administrator",
"MsgRandom": 389475,
"Condition": {
"AttrsAnd": {
"会员等级": "超白金用户",
"city": "深圳"
}
},
"OfflinePushInfo": {
"PushFlag": 0,
"Title": "离线推送标题",
"Desc": "离线推送内容"
}
}
$json$);

-- The Tencent IM API's example.
INSERT INTO samples VALUES ('api_tencent_im', $json$
{"From_Account": "admin", "MsgRandom": 3674128, "Condition": {"TagsOr": ["vip"]},
 "OfflinePushInfo": {"PushFlag": 0, "Title": "标题", "Desc": "内容"}}
$json$);

SELECT name, jsonb_pretty(push_validate(body)) AS normalized FROM samples ORDER BY name;

-- Normalizing is idempotent, and the dialect is recorded.
SELECT name, push_validate(push_validate(body)) = push_validate(body) AS idempotent,
       push_validate(body)->>'dialect' AS dialect
FROM samples ORDER BY name;

-- ---------------------------------------------------------------------------------------------
-- EngageLab normalization rules
-- platform: "all" is the four platforms; a name becomes an array; arrays come out in one order.
SELECT push_validate('{"to": "all", "body": {"platform": "all", "notification": {"alert": "hi"}}}');
SELECT push_validate('{"to": "all", "body": {"platform": "ios", "notification": {"alert": "hi"}}}');
SELECT push_validate('{"to": "all", "body": {"platform": ["harmony", "web", "ios"], "notification": {"alert": "hi"}}}');
-- time_to_live defaults to 86400 and is kept when given (0 included); other options kept as given.
SELECT push_validate('{"to": "all", "body": {"platform": "web", "message": {"msg_content": "x"},
    "options": {"time_to_live": 0, "priority": "high", "apns_production": false}}}');
-- platform blocks carry the text: no top-level alert needed when each targeted platform has one.
SELECT push_validate('{"to": {"tag": ["a"]}, "body": {"platform": ["android", "ios"], "notification": {
    "android": {"alert": "A", "title": "T", "intent": {"url": "app://x"}, "priority": 2, "badge_add_num": 1,
                "style": 1, "big_text": "long", "channel_id": "c", "category": "promo", "sound": "s",
                "image": "https://i", "large_icon": "https://l", "big_pic_path": "https://b", "inbox": {"1": "a"}},
    "ios": {"alert": {"title": "T", "subtitle": "S", "body": "B"}, "badge": 3, "mutable_content": true,
            "content_available": false, "thread_id": "t", "category": "c", "image": "https://i",
            "sound": "default"}}}}');
SELECT push_validate('{"to": "all", "body": {"platform": ["web", "harmony"], "notification": {
    "web": {"alert": "W", "title": "t", "url": "https://u", "icon": "https://i", "image": "https://m", "extras": {"a": [1, {"b": null}]}},
    "harmony": {"alert": "H", "title": "t", "category": "IM", "extras": {"n": 1}}}}}');
-- a block for a platform not targeted is kept (and ignored when sending)
SELECT push_validate('{"to": "all", "body": {"platform": "android", "notification": {"alert": "x", "ios": {"badge": "-2"}}}}');
-- extras values may be any JSON type; multi_language accepts language tags with subtags
SELECT push_validate('{"to": "all", "body": {"platform": "ios", "notification": {"alert": "x",
    "ios": {"extras": {"n": 1.5, "b": true, "o": {"k": [1]}, "z": null}}},
    "options": {"multi_language": {"zh-Hans": {"alert": "你好"}, "pt_BR": {"title": "Olá"}, "en": {"alert": "Hi", "title": "T"}}}}}');
-- request_id counts characters: 64 Chinese characters are fine
SELECT length(push_validate(jsonb_build_object('to', 'all', 'body', '{"platform": "web", "message": {"msg_content": "x"}}'::jsonb,
    'request_id', repeat('请', 64)))->>'request_id');
-- the caps themselves are accepted
SELECT push_validate(jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', repeat('x', 4000), 'android', jsonb_build_object('title', repeat('t', 256))),
    'options', '{}'::jsonb))) IS NOT NULL AS at_caps;
SELECT push_validate('{"to": "all", "body": {"platform": "ios", "notification": {"alert": "x", "ios": {"badge": "+99999"}},
    "options": {"time_to_live": 1296000, "big_push_duration": 1400}}}')->'body'->'options';

-- ---------------------------------------------------------------------------------------------
-- Tencent Push translation rules
-- expire_time: kept; 0 and absent are Tencent's default of 72 hours; environment -> apns_production
SELECT push_validate('{"audience_type": "all", "message_type": "notify", "message": {"content": "c"}, "expire_time": 3600, "environment": "dev"}')->'body'->'options';
SELECT push_validate('{"audience_type": "all", "message_type": "notify", "message": {"content": "c"}, "expire_time": 0, "environment": "product"}')->'body'->'options';
-- a data message; custom_content given as Tencent writes it (a string of JSON), Android's own wins
SELECT push_validate($j${"audience_type": "tag", "tag_list": {"tags": ["vip"], "op": "OR"}, "message_type": "message",
    "message": {"title": "t", "content": "data", "custom_content": "{\"a\": 1, \"b\": 2}",
                "android": {"custom_content": {"b": 3}}}}$j$);
-- Android: channel, ring, badge -2, actions; iOS: badge N, custom keys as extras, media, thread
SELECT jsonb_pretty(push_validate($j${"audience_type": "token_list", "token_list": ["t1", "t2"], "message_type": "notify",
    "message": {"title": "T", "content": "C", "custom_content": {"common": "1", "k": "common"},
        "android": {"n_ch_id": "promo", "ring_raw": "ding", "badge_type": -2,
                    "action": {"action_type": 2, "browser": {"url": "https://example.com/sale", "confirm": 1}}},
        "ios": {"aps": {"alert": {"title": "iOS title", "subtitle": "S", "body": "iOS body"}, "badge_type": 5,
                        "sound": "default", "mutable-content": 1, "thread-id": "th"},
                "xg_media_resources": "https://example.com/i.png", "k": "ios", "order_id": 42}}}$j$));
SELECT push_validate('{"audience_type": "all", "message_type": "notify", "message": {"content": "c",
    "android": {"action": {"action_type": 3, "intent": "app://open/1"}, "badge_type": -1},
    "ios": {"aps": {"badge_type": -1, "mutable-content": 0}}}}')->'body'->'notification';
SELECT push_validate('{"audience_type": "all", "message_type": "notify", "message": {"content": "c",
    "android": {"action": {"action_type": 1, "activity": "com.x.Main"}}}}')->'body'->'notification';

-- ---------------------------------------------------------------------------------------------
-- Tencent IM translation rules
-- ApnsInfo: its Title wins on iOS, SubTitle, Sound, Image, MutableContent; BadgeMode 1: no badge;
-- AndroidInfo: Sound, GoogleChannelID; Ext -> extras.ext; MsgLifeTime -> time_to_live
SELECT jsonb_pretty(push_validate('{"MsgRandom": 0, "MsgLifeTime": 600, "OfflinePushInfo": {"PushFlag": 0,
    "Title": "T", "Desc": "D", "Ext": "{\"order\": 1}",
    "AndroidInfo": {"Sound": "a.mp3", "GoogleChannelID": "news"},
    "ApnsInfo": {"Title": "iT", "SubTitle": "iS", "Sound": "b.caf", "BadgeMode": 1, "Image": "https://i", "MutableContent": 1}}}'));
-- no Title: the alert alone; MsgRandom 4294967295 is the largest; PushFlag defaults to 0
SELECT push_validate('{"MsgRandom": 4294967295, "MsgLifeTime": 0, "OfflinePushInfo": {"Desc": "D"}}');
-- PushFlag 1 without Ext: the Desc is the data message's content
SELECT push_validate('{"MsgRandom": 1, "OfflinePushInfo": {"PushFlag": 1, "Title": "T", "Desc": "D"}}')->'body';
-- the 10 KB limit is on the body's JSON text (as jsonb::text prints it): 10240 bytes pass
CREATE TEMP TABLE im_big AS SELECT jsonb_build_object('MsgRandom', 1, 'OfflinePushInfo',
    jsonb_build_object('Desc', repeat('x', 4000), 'Ext', repeat('y', 3000)),
    'Condition', jsonb_build_object('AttrsOr', jsonb_build_object('k', repeat('z', 3143)))) AS body;
SELECT octet_length(body::text) AS bytes, push_validate(body)->'body'->'notification'->>'alert' = repeat('x', 4000) AS ok
FROM im_big;
-- Ext becomes extras {"ext": Ext}: the largest Ext that fits the 4000-byte extras cap
SELECT push_validate(jsonb_build_object('MsgRandom', 1, 'OfflinePushInfo',
    jsonb_build_object('Desc', 'd', 'Ext', repeat('y', 3989))))->'body'->'notification'->'ios'->'extras'->>'ext' = repeat('y', 3989) AS ok;

-- ---------------------------------------------------------------------------------------------
-- Errors: every path, with its SQLSTATE and exact message.
CREATE TEMP TABLE bad (n serial, what text, body jsonb);
INSERT INTO bad (what, body) VALUES
-- dialect detection
('not an object', '[1]'),
('scalar', '"push"'),
('no dialect', '{"alert": "x"}'),
('empty', '{}'),
('EngageLab + IM', '{"to": "all", "MsgRandom": 1}'),
('Tencent Push + IM', '{"audience_type": "all", "OfflinePushInfo": {}}'),
('EngageLab + Tencent Push', '{"body": {}, "message": {}}'),
-- EngageLab: structure
('unknown top key', '{"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}, "audience": 1}'),
('to missing', '{"body": {"platform": "all", "notification": {"alert": "x"}}}'),
('body missing', '{"to": "all"}'),
('to a string', '{"to": "everyone", "body": {"platform": "all", "notification": {"alert": "x"}}}'),
('to an array', '{"to": ["a"], "body": {"platform": "all", "notification": {"alert": "x"}}}'),
('body not object', '{"to": "all", "body": "x"}'),
('unknown body key', '{"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}, "audience": "all"}}'),
('platform missing', '{"to": "all", "body": {"notification": {"alert": "x"}}}'),
('platform unknown', '{"to": "all", "body": {"platform": "windows", "notification": {"alert": "x"}}}'),
('platform all in array', '{"to": "all", "body": {"platform": ["all"], "notification": {"alert": "x"}}}'),
('platform case', '{"to": "all", "body": {"platform": "iOS", "notification": {"alert": "x"}}}'),
('platform duplicate', '{"to": "all", "body": {"platform": ["ios", "android", "ios"], "notification": {"alert": "x"}}}'),
('platform empty', '{"to": "all", "body": {"platform": [], "notification": {"alert": "x"}}}'),
('platform number', '{"to": "all", "body": {"platform": 1, "notification": {"alert": "x"}}}'),
('platform element', '{"to": "all", "body": {"platform": ["ios", 2], "notification": {"alert": "x"}}}'),
('no notification nor message', '{"to": "all", "body": {"platform": "all", "options": {}}}'),
('no alert for ios', '{"to": "all", "body": {"platform": ["android", "ios"], "notification": {"android": {"alert": "a"}}}}'),
('ios alert object without body', '{"to": "all", "body": {"platform": "ios", "notification": {"ios": {"alert": {"title": "t"}}}}}'),
('empty notification', '{"to": "all", "body": {"platform": "web", "notification": {}}}'),
-- EngageLab: notification fields
('alert not string', '{"to": "all", "body": {"platform": "all", "notification": {"alert": 1}}}'),
('alert empty', '{"to": "all", "body": {"platform": "all", "notification": {"alert": ""}}}'),
('alert too long', jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'all', 'notification', jsonb_build_object('alert', repeat('x', 4001))))),
('alert too long in bytes', jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'all', 'notification', jsonb_build_object('alert', repeat('秒', 1334))))),
('unknown notification key', '{"to": "all", "body": {"platform": "all", "notification": {"alert": "x", "title": "t"}}}'),
('ios badgee', '{"to": "all", "body": {"platform": "ios", "notification": {"alert": "x", "ios": {"badgee": 1}}}}'),
('unknown android key', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "x", "android": {"titel": "t"}}}}'),
('unknown web key', '{"to": "all", "body": {"platform": "web", "notification": {"alert": "x", "web": {"link": "t"}}}}'),
('unknown harmony key', '{"to": "all", "body": {"platform": "harmony", "notification": {"alert": "x", "harmony": {"badge": 1}}}}'),
('android not object', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "x", "android": "t"}}}'),
('android title too long', jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'android', 'notification', jsonb_build_object('alert', 'x', 'android', jsonb_build_object('title', repeat('t', 257)))))),
('android priority range', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "x", "android": {"priority": 3}}}}'),
('android priority fraction', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "x", "android": {"priority": 1.5}}}}'),
('android priority string', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "x", "android": {"priority": "1"}}}}'),
('android badge_add_num 0', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "x", "android": {"badge_add_num": 0}}}}'),
('android style 4', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "x", "android": {"style": 4}}}}'),
('android huge integer', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "x", "android": {"style": 99999999999999999999999}}}}'),
('android intent without url', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "x", "android": {"intent": {}}}}}'),
('android intent unknown key', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "x", "android": {"intent": {"url": "u", "uri": "u"}}}}}'),
('android image too long', jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'android', 'notification', jsonb_build_object('alert', 'x', 'android', jsonb_build_object('image', repeat('i', 1025)))))),
('extras not object', '{"to": "all", "body": {"platform": "android", "notification": {"alert": "x", "android": {"extras": ["a"]}}}}'),
('extras too large', jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'android', 'notification', jsonb_build_object('alert', 'x', 'android', jsonb_build_object('extras', jsonb_build_object('k', repeat('v', 4000))))))),
('ios alert number', '{"to": "all", "body": {"platform": "ios", "notification": {"ios": {"alert": 5}}}}'),
('ios alert object unknown key', '{"to": "all", "body": {"platform": "ios", "notification": {"ios": {"alert": {"body": "b", "text": "t"}}}}}'),
('ios alert body empty', '{"to": "all", "body": {"platform": "ios", "notification": {"ios": {"alert": {"body": ""}}}}}'),
('ios badge +0', '{"to": "all", "body": {"platform": "ios", "notification": {"alert": "x", "ios": {"badge": "+0"}}}}'),
('ios badge 1 string', '{"to": "all", "body": {"platform": "ios", "notification": {"alert": "x", "ios": {"badge": "1"}}}}'),
('ios badge negative', '{"to": "all", "body": {"platform": "ios", "notification": {"alert": "x", "ios": {"badge": -1}}}}'),
('ios badge too big', '{"to": "all", "body": {"platform": "ios", "notification": {"alert": "x", "ios": {"badge": "+100000"}}}}'),
('ios badge bool', '{"to": "all", "body": {"platform": "ios", "notification": {"alert": "x", "ios": {"badge": true}}}}'),
('ios mutable_content 1', '{"to": "all", "body": {"platform": "ios", "notification": {"alert": "x", "ios": {"mutable_content": 1}}}}'),
('ios sound object', '{"to": "all", "body": {"platform": "ios", "notification": {"alert": "x", "ios": {"sound": {"name": "a"}}}}}'),
-- EngageLab: message
('message without msg_content', '{"to": "all", "body": {"platform": "all", "message": {"title": "t"}}}'),
('message msg_content empty', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": ""}}}'),
('message unknown key', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c", "content": "c"}}}'),
('message content_type number', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c", "content_type": 1}}}'),
-- EngageLab: options
('options not object', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}, "options": []}}'),
('options unknown key', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}, "options": {"ttl": 1}}}'),
('time_to_live too big', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}, "options": {"time_to_live": 1296001}}}'),
('time_to_live negative', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}, "options": {"time_to_live": -1}}}'),
('time_to_live string', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}, "options": {"time_to_live": "86400"}}}'),
('big_push_duration', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}, "options": {"big_push_duration": 1401}}}'),
('plan_id number', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}, "options": {"plan_id": 7}}}'),
('plan_id too long', jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'all', 'message', '{"msg_content": "c"}'::jsonb, 'options', jsonb_build_object('plan_id', repeat('p', 65))))),
('apns_collapse_id too long', jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'all', 'message', '{"msg_content": "c"}'::jsonb, 'options', jsonb_build_object('apns_collapse_id', repeat('c', 65))))),
('priority', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}, "options": {"priority": "urgent"}}}'),
('apns_production', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}, "options": {"apns_production": "yes"}}}'),
('multi_language not object', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}, "options": {"multi_language": ["en"]}}}'),
('multi_language bad tag', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}, "options": {"multi_language": {"english!": {"alert": "a"}}}}}'),
('multi_language empty entry', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}, "options": {"multi_language": {"en": {}}}}}'),
('multi_language unknown key', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}, "options": {"multi_language": {"en": {"content": "a"}}}}}'),
('multi_language entry string', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}, "options": {"multi_language": {"en": "a"}}}}'),
('multi_language too many', jsonb_build_object('to', 'all', 'body', jsonb_build_object('platform', 'all', 'message', '{"msg_content": "c"}'::jsonb, 'options', jsonb_build_object('multi_language',
    (SELECT jsonb_object_agg('l' || chr(97 + i / 26) || chr(97 + i % 26), '{"alert": "a"}'::jsonb) FROM generate_series(0, 100) i))))),
-- EngageLab: top-level members
('request_id too long', jsonb_build_object('to', 'all', 'body', '{"platform": "all", "message": {"msg_content": "c"}}'::jsonb, 'request_id', repeat('请', 65))),
('request_id empty', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}}, "request_id": ""}'),
('request_id number', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}}, "request_id": 5}'),
('custom_args not object', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}}, "custom_args": "x"}'),
('from number', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}}, "from": 1}'),
('dialect unknown', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}}, "dialect": "jpush"}'),
('MsgRandom outside IM', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}}, "dialect": "engagelab", "MsgRandom": 1}'),
('From_Account outside IM', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}}, "dialect": "tencent_push", "From_Account": "a"}'),
('normalized IM without MsgRandom', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}}, "dialect": "tencent_im"}'),
('push larger than 64 KB', jsonb_build_object('to', 'all', 'body', '{"platform": "all", "message": {"msg_content": "c"}}'::jsonb,
    'custom_args', (SELECT jsonb_object_agg(i, repeat('v', 100)) FROM generate_series(1, 700) i))),
-- Tencent Push
('tp audience_type missing', '{"message_type": "notify", "message": {"content": "c"}}'),
('tp audience_type unknown', '{"audience_type": "everyone", "message_type": "notify", "message": {"content": "c"}}'),
('tp audience_type number', '{"audience_type": 1, "message_type": "notify", "message": {"content": "c"}}'),
('tp token_list missing', '{"audience_type": "token", "message_type": "notify", "message": {"content": "c"}}'),
('tp account_list missing', '{"audience_type": "account_list", "message_type": "notify", "message": {"content": "c"}}'),
('tp upload_id missing', '{"audience_type": "package_account_push", "message_type": "notify", "message": {"content": "c"}}'),
('tp tag_list missing', '{"audience_type": "tag", "message_type": "notify", "message": {"content": "c"}}'),
('tp token_list with all', '{"audience_type": "all", "token_list": ["t"], "message_type": "notify", "message": {"content": "c"}}'),
('tp account_type with token', '{"audience_type": "token", "token_list": ["t"], "account_type": 1, "message_type": "notify", "message": {"content": "c"}}'),
('tp unknown key', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c"}, "push_speed": 1000}'),
('tp send_time impossible', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c"}, "send_time": "2025-02-30 09:00:00"}'),
('tp send_time not a string', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c"}, "send_time": 1750208400}'),
('send_time outside Tencent Push', '{"to": "all", "body": {"platform": "all", "message": {"msg_content": "c"}}, "send_time": "2025-06-18 09:00:00"}'),
('tp message_type missing', '{"audience_type": "all", "message": {"content": "c"}}'),
('tp message_type unknown', '{"audience_type": "all", "message_type": "alert", "message": {"content": "c"}}'),
('tp message missing', '{"audience_type": "all", "message_type": "notify"}'),
('tp message not object', '{"audience_type": "all", "message_type": "notify", "message": "c"}'),
('tp content missing', '{"audience_type": "all", "message_type": "notify", "message": {"title": "t"}}'),
('tp content empty', '{"audience_type": "all", "message_type": "message", "message": {"content": ""}}'),
('tp message unknown key', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "body": "b"}}'),
('tp expire_time too big', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c"}, "expire_time": 259201}'),
('tp expire_time string', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c"}, "expire_time": "3600"}'),
('tp environment', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c"}, "environment": "prod"}'),
('tp plan_id empty', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c"}, "plan_id": ""}'),
('tp android unknown key', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "android": {"n_ch_name": "n"}}}'),
('tp android badge_type N', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "android": {"badge_type": 3}}}'),
('tp android badge_type -3', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "android": {"badge_type": -3}}}'),
('tp action_type 2 without browser', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "android": {"action": {"action_type": 2}}}}'),
('tp action_type 3 without intent', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "android": {"action": {"action_type": 3}}}}'),
('tp action_type missing', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "android": {"action": {"intent": "x"}}}}'),
('tp action_type 4', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "android": {"action": {"action_type": 4}}}}'),
('tp browser without url', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "android": {"action": {"action_type": 2, "browser": {"confirm": 1}}}}}'),
('tp custom_content bad JSON', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "custom_content": "{oops"}}'),
('tp custom_content array text', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "custom_content": "[1]"}}'),
('tp custom_content number', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "custom_content": 1}}'),
('tp android custom_content bad JSON', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "android": {"custom_content": ""}}}'),
('tp ios not object', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "ios": []}}'),
('tp aps unknown key', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "ios": {"aps": {"badge": 1}}}}'),
('tp aps alert unknown key', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "ios": {"aps": {"alert": {"loc-key": "k"}}}}}'),
('tp aps badge_type -3', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "ios": {"aps": {"badge_type": -3}}}}'),
('tp aps mutable-content 2', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "ios": {"aps": {"mutable-content": 2}}}}'),
('tp media not string', '{"audience_type": "all", "message_type": "notify", "message": {"content": "c", "ios": {"xg_media_resources": 1}}}'),
('tp ios too large', jsonb_build_object('audience_type', 'all', 'message_type', 'notify', 'message', jsonb_build_object('content', 'c', 'ios', jsonb_build_object('k', repeat('v', 4000))))),
-- extras merged from two Tencent sources are checked on the normalized field
('tp merged extras too large', jsonb_build_object('audience_type', 'all', 'message_type', 'notify', 'message',
    jsonb_build_object('content', 'c', 'custom_content', jsonb_build_object('a', repeat('v', 2500)), 'ios', jsonb_build_object('b', repeat('w', 2500))))),
('tp data message with ios', '{"audience_type": "all", "message_type": "message", "message": {"content": "c", "ios": {}}}'),
('tp data message android key', '{"audience_type": "all", "message_type": "message", "message": {"content": "c", "android": {"n_ch_id": "x"}}}'),
-- Tencent IM
('im MsgRandom missing', '{"From_Account": "admin", "OfflinePushInfo": {"Desc": "d"}}'),
('im MsgRandom string', '{"MsgRandom": "3674128", "OfflinePushInfo": {"Desc": "d"}}'),
('im MsgRandom fraction', '{"MsgRandom": 1.5, "OfflinePushInfo": {"Desc": "d"}}'),
('im MsgRandom negative', '{"MsgRandom": -1, "OfflinePushInfo": {"Desc": "d"}}'),
('im MsgRandom over 32 bits', '{"MsgRandom": 4294967296, "OfflinePushInfo": {"Desc": "d"}}'),
('im body over 10 KB', jsonb_build_object('MsgRandom', 1, 'OfflinePushInfo', jsonb_build_object('Desc', repeat('x', 4000), 'Ext', repeat('y', 3000)),
    'Condition', jsonb_build_object('AttrsOr', jsonb_build_object('k', repeat('z', 3144))))),
('im body over 10 KB before anything else', jsonb_build_object('MsgRandom', 'x', 'Junk', repeat('z', 10300))),
('im unknown key', '{"MsgRandom": 1, "OfflinePushInfo": {"Desc": "d"}, "MsgBody": []}'),
('im OfflinePushInfo missing', '{"MsgRandom": 1, "From_Account": "admin"}'),
('im OfflinePushInfo not object', '{"MsgRandom": 1, "OfflinePushInfo": "d"}'),
('im OfflinePushInfo unknown key', '{"MsgRandom": 1, "OfflinePushInfo": {"Desc": "d", "OPPOInfo": {}}}'),
('im PushFlag 2', '{"MsgRandom": 1, "OfflinePushInfo": {"PushFlag": 2, "Desc": "d"}}'),
('im Desc missing', '{"MsgRandom": 1, "OfflinePushInfo": {"PushFlag": 0, "Title": "t"}}'),
('im Desc empty', '{"MsgRandom": 1, "OfflinePushInfo": {"Desc": ""}}'),
('im Title too long', jsonb_build_object('MsgRandom', 1, 'OfflinePushInfo', jsonb_build_object('Desc', 'd', 'Title', repeat('标', 86)))),
('im PushFlag 1 without content', '{"MsgRandom": 1, "OfflinePushInfo": {"PushFlag": 1, "Title": "t"}}'),
('im PushFlag 1 with ApnsInfo', '{"MsgRandom": 1, "OfflinePushInfo": {"PushFlag": 1, "Ext": "e", "ApnsInfo": {"Sound": "s"}}}'),
('im PushFlag 1 with AndroidInfo', '{"MsgRandom": 1, "OfflinePushInfo": {"PushFlag": 1, "Ext": "e", "AndroidInfo": {"Sound": "s"}}}'),
('im ApnsInfo unknown key', '{"MsgRandom": 1, "OfflinePushInfo": {"Desc": "d", "ApnsInfo": {"Badge": 1}}}'),
('im ApnsInfo BadgeMode 2', '{"MsgRandom": 1, "OfflinePushInfo": {"Desc": "d", "ApnsInfo": {"BadgeMode": 2}}}'),
('im AndroidInfo unknown key', '{"MsgRandom": 1, "OfflinePushInfo": {"Desc": "d", "AndroidInfo": {"HuaWeiChannelID": "x"}}}'),
('im Condition array', '{"MsgRandom": 1, "Condition": ["TagsOr"], "OfflinePushInfo": {"Desc": "d"}}'),
('im MsgLifeTime too long', '{"MsgRandom": 1, "MsgLifeTime": 604801, "OfflinePushInfo": {"Desc": "d"}}'),
('im MsgLifeTime string', '{"MsgRandom": 1, "MsgLifeTime": "60", "OfflinePushInfo": {"Desc": "d"}}'),
('im From_Account number', '{"MsgRandom": 1, "From_Account": 7, "OfflinePushInfo": {"Desc": "d"}}'),
('im Ext too long for extras', jsonb_build_object('MsgRandom', 1, 'OfflinePushInfo', jsonb_build_object('Desc', 'd', 'Ext', repeat('y', 3990)))),
('im Ext with quotes too long', jsonb_build_object('MsgRandom', 1, 'OfflinePushInfo', jsonb_build_object('Desc', 'd', 'Ext', repeat('"', 1996)))),
('im Ext too long', jsonb_build_object('MsgRandom', 1, 'OfflinePushInfo', jsonb_build_object('Desc', 'd', 'Ext', repeat('y', 4001)))),
('im Ext not string', '{"MsgRandom": 1, "OfflinePushInfo": {"Desc": "d", "Ext": {"a": 1}}}');
SELECT n, what, pg_temp.err(body) FROM bad ORDER BY n;

-- NULL in, NULL out (STRICT)
SELECT push_validate(NULL) IS NULL AS strict;
