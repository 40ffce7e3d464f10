\echo 'the tag is' 六一八年中大促限时秒杀爆款专享会场 ':'
SELECT char_length(t) AS characters, octet_length(t) AS bytes
FROM (VALUES ('六一八年中大促限时秒杀爆款专享会场')) v(t);
\echo 'devices after (nothing of the batch was written):'
SELECT count(*) AS devices, count(*) FILTER (WHERE registration_id LIKE 'bad%') AS from_bad_batch
FROM push_devices WHERE app = :'app';
