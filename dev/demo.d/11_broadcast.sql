-- A tag broadcast for the overseas users (the push plan guide, scenario 2's tools): everyone tagged US or IN
-- on iOS and Android, with options.multi_language: each device gets the text of its language
-- (en, hi), others the top-level text.
\set ECHO queries
BEGIN;
SELECT push_send(:'app', '{
  "to": {"tag": ["US", "IN"]},
  "body": {
    "platform": ["ios", "android"],
    "notification": {"alert": "618 限时秒杀,马上抢购!", "android": {"title": "爆款来袭"}},
    "options": {
      "plan_id": "promo_618_2025",
      "multi_language": {
        "en": {"alert": "618 flash sale: up to 70% off, today only!", "title": "Hot deals"},
        "hi": {"alert": "618 फ्लैश सेल: आज ही 70% तक की छूट!", "title": "धमाकेदार ऑफ़र"}
      }
    }
  },
  "request_id": "req_618_02"
}') AS broadcast_task;
COMMIT;
\set ECHO none
