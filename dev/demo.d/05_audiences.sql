-- One audience per form of the vocabulary, in the three dialects push_send will accept
-- (doc/audiences.md). Counts are of reachable devices only; the preview is the first five
-- registration ids in registration order.
SELECT upload_id FROM push_account_packages
WHERE app = :'app' AND filename = 'winners_618.zip' \gset
-- Two tokens of reachable devices and one of a device that opted out.
SELECT jsonb_agg(token ORDER BY registration_id) AS tokens
FROM (SELECT token, registration_id FROM push_devices
      WHERE app = :'app' AND platform = 'ios' AND reachable ORDER BY registration_id LIMIT 2) r
\gset
SELECT jsonb_build_array(token) AS optout_token FROM push_devices
WHERE app = :'app' AND NOT opted_in ORDER BY registration_id LIMIT 1 \gset

CREATE TEMP TABLE demo_audiences (n serial, what text, audience jsonb);
INSERT INTO demo_audiences (what, audience) VALUES
    ('everyone',
     '"all"'),
    ('named devices (the push plan guide''s registration_id list)',
     '{"registration_id": ["reg00001", "reg00002", "reg00003", "nosuchdevice"]}'),
    ('tag OR: the US or India',
     '{"tag": ["US", "IN"]}'),
    ('tag_and + tag_not: US VIPs who have not churned',
     '{"tag_and": ["US", "vip"], "tag_not": ["churned"]}'),
    ('win-back (the push plan guide, scenario 2): churned users in US, IN or PH',
     '{"tag": ["US", "IN", "PH"], "tag_and": ["churned"]}'),
    ('attr_and: 深圳 platinum members',
     '{"attr_and": {"city": "深圳", "level": "超白金会员"}}'),
    ('condition tree: VIPs in 深圳 or not churned',
     '{"condition": {"and": [{"tag": "vip"},
                             {"or": [{"attr": {"city": "深圳"}}, {"not": {"tag": "churned"}}]}]}}'),
    ('accounts, account_push_type 0: each account''s latest device',
     '{"account": ["100003", "100030", "100060", "100090"], "account_type": 1,
       "account_push_type": 0}'),
    ('accounts, account_push_type 1: all their devices',
     '{"account": ["100003", "100030", "100060", "100090"], "account_type": 1,
       "account_push_type": 1}'),
    ('account package winners_618.zip, all devices',
     jsonb_build_object('upload_id', :upload_id, 'account_push_type', 1)),
    ('Tencent Push: package_account_push, latest device',
     jsonb_build_object('audience_type', 'package_account_push', 'upload_id', :upload_id,
                        'account_type', 1, 'account_push_type', 0)),
    ('Tencent Push: token_list (the third token opted out)',
     jsonb_build_object('audience_type', 'token_list',
                        'token_list', :'tokens'::jsonb || :'optout_token'::jsonb)),
    ('Tencent IM push body: Condition TagsAnd PH and vip',
     '{"From_Account": "admin", "MsgRandom": 3674128, "Condition": {"TagsAnd": ["PH", "vip"]},
       "OfflinePushInfo": {"PushFlag": 0, "Title": "Sale", "Desc": "Flash sale today"}}');

\x on
\pset format wrapped
\pset columns 110
SELECT what AS audience, audience::text AS json,
       push_audience_count(:'app', audience) AS devices,
       array_to_string(ARRAY(SELECT push_audience_preview(:'app', audience, 5)), ' ') AS preview
FROM demo_audiences ORDER BY n;
\x off
\pset format aligned
