-- Benchmark data for audiences: 1,000,000 devices in app 'bench', ~1,000 tags (0-10 a device,
-- skewed: tag t0 on ~60% of devices, t1 ~15%, a long tail of rare tags), 5 attributes, ~2%
-- unreachable; plus a small second app whose devices must never leak into the first one's audiences.
SET search_path = pushplan, public;
SELECT setseed(0.42);
SELECT push_app_create('bench');
SELECT push_app_create('other');

INSERT INTO devices (app_id, registration_id, platform, vendor, token, opted_in, attrs)
SELECT (SELECT app_id FROM apps WHERE app = 'bench'), 'r' || g,
       CASE WHEN g % 3 = 0 THEN 'ios' ELSE 'android' END,
       CASE WHEN g % 3 = 0 THEN 'apns' ELSE 'fcm' END,
       CASE WHEN g % 97 = 0 THEN NULL ELSE 'tok' || g END,
       g % 89 <> 0,
       jsonb_build_object(
           'city', 'c' || floor(power(random(), 2) * 20)::int,
           'level', 'l' || floor(random() * 5)::int,
           'gender', CASE WHEN random() < 0.5 THEN 'f' ELSE 'm' END,
           'age', 'a' || floor(random() * 6)::int,
           'lang', 'g' || floor(power(random(), 3) * 10)::int)
FROM generate_series(1, 1000000) g;

INSERT INTO tags (app_id, tag)
SELECT (SELECT app_id FROM apps WHERE app = 'bench'), 't' || g FROM generate_series(0, 999) g;

-- Each device draws 0..10 tags from a power-law over tag numbers (duplicates collapse).
INSERT INTO device_tags (tag_id, device_id)
SELECT DISTINCT t.tag_id, x.device_id
FROM (SELECT d.app_id, d.device_id, 't' || floor(power(random(), 4) * 1000)::int AS tag
      FROM devices d
      CROSS JOIN LATERAL generate_series(1, floor(random() * 11)::int + (d.device_id * 0)::int) k
      OFFSET 0) x
JOIN tags t ON t.app_id = x.app_id AND t.tag = x.tag;

-- The other app: a few devices carrying the same tag names and attributes.
INSERT INTO devices (app_id, registration_id, platform, vendor, token, attrs)
SELECT (SELECT app_id FROM apps WHERE app = 'other'), 'o' || g, 'android', 'fcm', 'otok' || g,
       '{"city": "c0", "level": "l0"}'
FROM generate_series(1, 1000) g;
INSERT INTO tags (app_id, tag)
SELECT (SELECT app_id FROM apps WHERE app = 'other'), 't' || g FROM generate_series(0, 2) g;
INSERT INTO device_tags (tag_id, device_id)
SELECT t.tag_id, d.device_id FROM devices d JOIN tags t USING (app_id)
WHERE d.app_id = (SELECT app_id FROM apps WHERE app = 'other');

VACUUM ANALYZE;
