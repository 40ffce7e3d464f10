-- Templates (doc/templates.md): the parser, the renderer, the policies, a push rendered per
-- device, and every error push_send raises for a template, with nothing written.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;

-- Variables: attrs.NAME, attrs["NAME"], account; numbers and booleans as JSON writes them
SELECT * FROM _template_render('Hi {{attrs.first_name}}!', '{"first_name": "Ann"}');
SELECT * FROM _template_render('{{ attrs["home city"] }} / {{attrs.level}} / {{attrs.vip}} / {{attrs.score}}',
                               '{"home city": "Zürich", "level": 3, "vip": true, "score": 2.50}');
SELECT * FROM _template_render('account {{account}}', '{}', 'user-1001');
-- no template: the text as it is; a literal "{{" is written as a string expression
SELECT * FROM _template_render('plain text, { single } braces');
SELECT * FROM _template_render('{{ "{{" }}name}} and {{''it\''s''}} {{"say \"hi\""}}');
-- filters: default (missing, null or empty), upcase, downcase, truncate (n characters in all)
SELECT * FROM _template_render('Hi {{attrs.first_name | default: "there"}}', '{}');
SELECT * FROM _template_render('Hi {{attrs.first_name | default: "there"}}', '{"first_name": null}');
SELECT * FROM _template_render('Hi {{attrs.first_name | default: "there"}}', '{"first_name": ""}');
SELECT * FROM _template_render('{{attrs.n | upcase}} {{attrs.n | downcase}}', '{"n": "Émile Zola"}');
SELECT * FROM _template_render('{{attrs.n | truncate: 5}}|{{attrs.n | truncate: 10}}|{{attrs.c | truncate: 3}}',
                               '{"n": "Jonathan", "c": "深圳市南山区"}');
SELECT * FROM _template_render('{{attrs.n | default: "friend" | upcase | truncate: 4}}', '{}');
SELECT * FROM _template_render('{{attrs.n | upcase | default: "x"}}', '{"n": "abc"}');
-- a missing value under each policy: default renders empty, skip and fail name the attribute
SELECT * FROM _template_render('Hi {{attrs.first_name}}!', '{}', NULL, 'default');
SELECT * FROM _template_render('Hi {{attrs.first_name}}!', '{}', NULL, 'skip');
SELECT * FROM _template_render('Hi {{account}}', '{}', NULL, 'fail');
-- an expression with a default is never missing
SELECT * FROM _template_render('Hi {{attrs.first_name | default: "there"}} {{attrs.coupon}}',
                               '{}', NULL, 'skip');

-- Syntax errors, with the character where they are
SELECT * FROM _template_render('Hi {{attrs.first_name');
SELECT * FROM _template_render('Hi {{ }}');
SELECT * FROM _template_render('Hi {{attrs.first_name | }}');
SELECT * FROM _template_render('Hi {{attrs.}}');
SELECT * FROM _template_render('Hi {{attrs}}');
SELECT * FROM _template_render('Hi {{attrs["x"}}');
SELECT * FROM _template_render('Hi {{attrs.a attrs.b}}');
SELECT * FROM _template_render('Hi {{"open}}');
SELECT * FROM _template_render('Hi name}} {{attrs.a}');
SELECT * FROM _template_render('深圳 {{attrs.a ! }}');
-- unknown variables and filters; event variables belong to flows
SELECT * FROM _template_render('Hi {{user.first_name}}');
SELECT * FROM _template_render('Hi {{event.props.item}}');
SELECT * FROM _template_render('Hi {{attrs.a | capitalize}}');
-- filter arguments
SELECT * FROM _template_render('{{attrs.a | default}}');
SELECT * FROM _template_render('{{attrs.a | default: there}}');
SELECT * FROM _template_render('{{attrs.a | truncate}}');
SELECT * FROM _template_render('{{attrs.a | truncate: 0}}');
SELECT * FROM _template_render('{{attrs.a | truncate: 1001}}');
SELECT * FROM _template_render('{{attrs.a | truncate: 99999999999999999999}}');
SELECT * FROM _template_render('{{attrs.a | upcase: 3}}');
-- attribute names: 1 to 64 bytes
SELECT * FROM _template_render('{{attrs[""]}}');
SELECT * FROM _template_render('{{attrs["' || repeat('a', 65) || '"]}}');
-- the policy's values
SELECT * FROM _template_render('x', '{}', NULL, 'ignore');

-- A push rendered for a device: title, alert, extras and a multi_language text; the rest as it was
\set push '{"to": {"registration_id": ["r1"]}, "body": {"platform": "android", "notification": {"alert": "Hello {{attrs.first_name | default: \\"there\\"}}", "android": {"title": "{{attrs.city | upcase}} deals", "extras": {"coupon": "{{attrs.coupon}}", "n": 3, "deep": {"k": "for {{account}}"}}, "intent": {"url": "https://shop/x"}}}, "options": {"multi_language": {"en": {"alert": "Hi {{attrs.first_name | default: \\"friend\\"}}"}}}}}'
SELECT jsonb_pretty(_push_render(:'push', '{"first_name": "Ann", "city": "Shenzhen", "coupon": "C-42"}', 'user-1'));
-- missing values: default renders them empty
SELECT _push_render(:'push', '{}')->'body'->'notification';
-- skip and fail name the first missing attribute without a default
SELECT _push_render(jsonb_set(:'push', '{body,options,missing_attribute}', '"skip"'), '{"city": "x"}', 'u1');
SELECT _push_render(jsonb_set(:'push', '{body,options,missing_attribute}', '"fail"'), '{"city": "x", "coupon": "c"}');
-- a multi_language text counts only for its language's devices (exact, then the primary subtag)
\set mlpush '{"to": {"registration_id": ["r1"]}, "body": {"platform": "android", "notification": {"alert": "Hi"}, "options": {"missing_attribute": "skip", "multi_language": {"en": {"alert": "Hi {{attrs.first_name}}"}, "zh": {"alert": "{{attrs.cn_name}}"}}}}}'
SELECT _push_render(:'mlpush', '{}', NULL, 'fr')->'body'->'options'->'multi_language';
SELECT _push_render(:'mlpush', '{}', NULL, 'en-GB');
SELECT _push_render(:'mlpush', '{"first_name": "Ann"}', NULL, 'en-GB')->'body'->'options'->'multi_language';
SELECT _push_render(:'mlpush', '{"first_name": "Ann"}', NULL, 'zh-Hans');
-- the vendor payload of a rendered push
SELECT _vendor_payload('fcm', _push_render(:'push', '{"first_name": "Ann", "city": "sz", "coupon": "C-1"}', 'u1'), 'android', 'en')->'body'->'message'->'notification';
-- a message (data) push, and the Tencent dialects with their own missing_attribute
SELECT _push_render('{"to": {"registration_id": ["r1"]}, "body": {"platform": "android", "message": {"msg_content": "{{attrs.a}}", "title": "t {{attrs.b | default: \"-\"}}"}}}', '{"a": "A"}')->'body'->'message';
SELECT _push_render('{"audience_type": "all", "message_type": "notify", "message": {"title": "Hi {{attrs.n}}", "content": "for {{account}}"}, "missing_attribute": "skip"}', '{"n": "Bo"}', 'acct');
SELECT _push_render('{"audience_type": "all", "message_type": "notify", "message": {"title": "Hi {{attrs.n}}", "content": "c"}, "missing_attribute": "skip"}', '{}');
SELECT _push_render('{"MsgRandom": 1, "OfflinePushInfo": {"Title": "Hi {{attrs.n}}", "Desc": "d"}, "missing_attribute": "fail"}', '{}');

-- push_send: an app, a plan, devices
SELECT push_app_create('tpl', 'Templates') IS NULL;
SELECT push_device_register('tpl', 'r1', 'android', 'fcm', 'tok1') IS NOT NULL;
-- a push with templates is accepted; what its templates read is kept with the task
SELECT push_send('tpl', :'push') IS NOT NULL AS sent;
SELECT template_reads FROM tasks JOIN apps USING (app_id) WHERE app = 'tpl' ORDER BY tasks.created_at DESC LIMIT 1;
SELECT push_send('tpl', '{"to": {"registration_id": ["r1"]}, "body": {"platform": "android", "notification": {"alert": "{{attrs.a}}"}}}') IS NOT NULL AS sent;
SELECT template_reads FROM tasks JOIN apps USING (app_id) WHERE app = 'tpl' ORDER BY tasks.created_at DESC LIMIT 1;
SELECT push_send('tpl', '{"to": {"registration_id": ["r1"]}, "body": {"platform": "android", "notification": {"alert": "no template"}}}') IS NOT NULL AS sent;
SELECT template_reads IS NULL AS none FROM tasks JOIN apps USING (app_id) WHERE app = 'tpl' ORDER BY tasks.created_at DESC LIMIT 1;
SELECT count(*) AS tasks FROM tasks JOIN apps USING (app_id) WHERE app = 'tpl';

-- Every error of push_send, with nothing written
SELECT push_send('tpl', '{"to": {"registration_id": ["r1"]}, "body": {"platform": "android", "notification": {"alert": "Hi {{attrs.first_name"}}}');
SELECT push_send('tpl', '{"to": {"registration_id": ["r1"]}, "body": {"platform": "android", "notification": {"alert": "a", "android": {"title": "Hi {{name}}"}}}}');
SELECT push_send('tpl', '{"to": {"registration_id": ["r1"]}, "body": {"platform": "android", "notification": {"alert": "x"}, "options": {"multi_language": {"en": {"alert": "{{event.props.item}}"}}}}}');
SELECT push_send('tpl', '{"to": {"registration_id": ["r1"]}, "body": {"platform": "android", "notification": {"android": {"alert": "a", "extras": {"k": "{{attrs.a | reverse}}"}}}}}');
SELECT push_send('tpl', '{"to": {"registration_id": ["r1"]}, "body": {"platform": "android", "message": {"msg_content": "{{attrs.a | truncate: x}}"}}}');
SELECT push_send('tpl', '{"to": {"registration_id": ["r1"]}, "body": {"platform": "android", "notification": {"alert": "{{attrs.a}}"}, "options": {"missing_attribute": "drop"}}}');
SELECT push_send('tpl', '{"to": {"registration_id": ["r1"]}, "body": {"platform": "android", "notification": {"alert": "{{attrs.a}}"}, "options": {"missing_attribute": true}}}');
SELECT push_send('tpl', '{"audience_type": "all", "message_type": "notify", "message": {"title": "t", "content": "c"}, "missing_attribute": "never"}');
-- "{{" outside a text: refused, not sent as it is
SELECT push_send('tpl', '{"to": {"registration_id": ["r1"]}, "body": {"platform": "android", "notification": {"alert": "a", "android": {"intent": {"url": "https://shop/{{attrs.id}}"}}}}}');
-- at most 200 expressions in a push
SELECT push_send('tpl', jsonb_build_object('to', jsonb_build_object('registration_id', jsonb_build_array('r1')), 'body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', repeat('{{attrs.a}}', 201)))));
-- over the vendor's limit even with every expression empty (FCM: 4096 bytes)
SELECT push_send('tpl', jsonb_build_object('to', jsonb_build_object('registration_id', jsonb_build_array('r1')), 'body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', '{{attrs.a}}' || repeat('y', 2500), 'android', jsonb_build_object('extras',
        jsonb_build_object('b', repeat('z', 2000)))))));
-- under it once the expressions are empty: accepted (the raw text alone would be over)
SELECT push_send('tpl', jsonb_build_object('to', jsonb_build_object('registration_id', jsonb_build_array('r1')), 'body', jsonb_build_object('platform', 'android',
    'notification', jsonb_build_object('alert', repeat('{{attrs.a}}', 180) || repeat('y', 500), 'android', jsonb_build_object('extras',
        jsonb_build_object('b', repeat('z', 2000))))))) IS NOT NULL AS sent;
SELECT count(*) AS tasks FROM tasks JOIN apps USING (app_id) WHERE app = 'tpl';
-- push_validate raises the same errors
SELECT push_validate('{"to": {"registration_id": ["r1"]}, "body": {"platform": "android", "notification": {"alert": "{{attrs.a | nope}}"}}}');
-- push_vendor_test sends to a token, which has no values for a template
SELECT push_vendor_test('tpl', 'fcm', 'tok1', '{"body": {"platform": "android", "notification": {"alert": "Hi {{attrs.first_name}}"}}}');
-- a schedule's push is checked as push_send's
SELECT push_schedule_create('tpl', '{"name": "tpl", "trigger": {"single": {"time": "2090-07-01 09:00:00"}},
  "push": {"to": "all", "body": {"platform": "android", "notification": {"alert": "Hi {{attrs.name | upcase: 1}}"}}}}');
SELECT count(*) AS schedules FROM schedules JOIN apps USING (app_id) WHERE app = 'tpl';

-- Values are text, never templates or JSON: quotes, braces and backslashes arrive as they are
SELECT * FROM _template_render('[{{attrs.v}}]', '{"v": "say \"hi\" {{attrs.x}} \\ }}"}');
SELECT _push_render('{"to": "all", "body": {"platform": "android", "notification": {"alert": "{{attrs.v}}"}}}',
                    '{"v": "\"},\"x\":{\"y\": 1"}')->'body'->'notification';
