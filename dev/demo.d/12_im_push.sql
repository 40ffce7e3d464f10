-- The same campaign through a Tencent IM back end (Tencent IM's tag push), verbatim in IM's own
-- dialect: the Chinese users tagged both CN and fashion. IM's body has no plan field, so this
-- task belongs to the plan 'default'. IM reaches Android (here Huawei, OPPO, Honor, Xiaomi and Meizu) and iOS.
\set ECHO queries
BEGIN;
SELECT push_send(:'app', '{
  "From_Account": "admin",
  "MsgRandom": 6180618,
  "Condition": {"TagsAnd": ["CN", "fashion"]},
  "OfflinePushInfo": {"PushFlag": 0, "Title": "爆款来袭", "Desc": "618 限时秒杀,马上抢购!",
                      "Ext": "{\"promo\": \"618\"}"}
}') AS im_task;
COMMIT;
\set ECHO none
