-- Apps, settings and vendor configuration.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

SELECT push_app_create('shop', 'Shop app');
SELECT app, name, settings FROM apps WHERE app = 'shop';
-- every app gets its default plan
SELECT plan_id, is_default FROM plans JOIN apps USING (app_id) WHERE app = 'shop';

-- app names
SELECT push_app_create('shop');
SELECT push_app_create('bad name');
SELECT push_app_create('');
SELECT push_app_create(NULL);
SELECT push_app_create(repeat('a', 65));
SELECT count(*) AS apps FROM apps;

-- settings: merged; null resets a key
SELECT push_app_set('shop', '{"timezone": "Asia/Shanghai", "broadcast_daily_limit": 100}');
SELECT push_app_set('shop', '{"broadcast_min_interval": "1 second"}');
-- frequency caps and quiet hours are stored (test/sql/engagement.sql has the rest), and removed
SELECT push_app_set('shop', '{"frequency_cap": {"per_day": 2}}');
SELECT push_app_set('shop', '{"quiet_hours": {"from": "22:00", "to": "08:00"}}');
SELECT settings->'frequency_cap' AS cap, settings->'quiet_hours' AS quiet FROM apps WHERE app = 'shop';
SELECT push_app_set('shop', '{"frequency_cap": null, "quiet_hours": null}');
SELECT push_app_set('shop', '{"broadcast_daily_limit": null}');
SELECT settings FROM apps WHERE app = 'shop';
-- each bad setting is refused and nothing changes
SELECT push_app_set('nope', '{}');
SELECT push_app_set('shop', '[]');
SELECT push_app_set('shop', '{"colour": "red"}');
SELECT push_app_set('shop', '{"timezone": 8}');
SELECT push_app_set('shop', '{"timezone": "Mars/Olympus"}');
SELECT push_app_set('shop', '{"timezone": "UTC+3"}');
SELECT push_app_set('shop', '{"broadcast_daily_limit": 1.5}');
SELECT push_app_set('shop', '{"broadcast_daily_limit": -1}');
SELECT push_app_set('shop', '{"broadcast_min_interval": "soon"}');
SELECT push_app_set('shop', '{"broadcast_min_interval": "-1 second"}');
SELECT push_app_set('shop', '{"frequency_cap": {"per_hour": 1}}');
SELECT push_app_set('shop', '{"frequency_cap": {"per_day": -2}}');
SELECT push_app_set('shop', '{"quiet_hours": {"from": "22:00"}}');
SELECT push_app_set('shop', '{"quiet_hours": {"from": "25:00", "to": "08:00"}}');
SELECT push_app_set('shop', '{"broadcast_daily_limit": 5, "timezone": "Nowhere/City"}');
SELECT settings FROM apps WHERE app = 'shop';

-- time zone names
SELECT n, canonical_timezone(n) FROM unnest(ARRAY['Asia/Shanghai', 'asia/shanghai', 'UTC', 'Etc/GMT+3',
    'EST5EDT', 'UTC+3', 'EST5', '<+03>-3', 'Mars/Olympus', '', 'America/Argentina/Buenos_Aires']) n;

-- vendor configuration (throwaway keys made for this test with the openssl CLI)
CREATE TEMP TABLE test_keys (name text PRIMARY KEY, pem text NOT NULL);
INSERT INTO test_keys VALUES ('ec_p256', $pem$-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgFaMXEbA3pBqCj7+z
qDJ7/fvB34rIUHi4dW7nff/qZOuhRANCAAS1nuzmNh+LdE4DwPV54SVI5zQFl+FE
B8jIukCBPbKKbjNIe2iBDjtvqvB9iPrs8rYCjGqrDyeOULHXddgw5tQv
-----END PRIVATE KEY-----
$pem$),
('rsa_2048', $pem$-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCd63Y3eE6HlRyn
w+u5XRW3Elc1whvpw5kKdIE1Q91olnLerNrmcvcxnsEzMlRKT7iSr9njp15MQ2CO
dCPaZKoeE9Gk3CfQ+M3fY9xjQegp4cmFAw01m9lkl/UmzT8Rp+HkiZ1oeIo3otda
5V9WXJ3KpaQ9g2Mrig/y/SSczwAXzcZIpMT7MWAcl9T6qVE0uBOBfHZUrqTaCZJc
xx7EAtw5CDp7T8p4xWhITGqF0iB9i12sggFdUJWk3ArPQgiqCgJOuWyXjuiI1A+7
ko1MEy5ayqfEHehT4362I+BeS85vM/IKreyCESkdpEz20hRciMivVqd6TlYL4DQO
fA0xS9s9AgMBAAECggEAHCTTUfHxLuUicPyv9T5TaSfN3pEMN/ZJv00BnPxOCH5t
lOVB8tmQ1+lG3citsHuyNYQ9BP82RUmpuuGUZS7VCZy3G1Y4C1xYFmSd6ZuclGA+
saOYVlJC5VRWlrZz88HTdo8W/EAlQ+KT1kl0GvhRD8VC9sqEYUVO79txC7gxeExG
i5+Kl+cxlrRlVEEVfV57KKvcdCRt4JZV0MfqZ/7DBU2Qfj5o1CSTiibNJ+cwrkVk
3ZdZf8jZAv8UuY3/GQnuKLO1FFFXH5wTKZYn+yKL9QLh/iwDGlbvv6e6TuF/tgIU
cQhcmMVDB64K9rVTx3kPMySwDRu2/bN/fPgNhNIYmQKBgQDKivsmVZ7QATkHjpiP
Fohh+nJGV1qz0zRpFiuS2toRYNslbCWKaCmzwvh8jg0D+NYWo+2gBLCleY+l47aw
TK2vDIA+8Z8mudn9i33HQLrtZ1uKtWOiTXcyyz93znG2GnlQJHM4jb786B+77kh7
bG3CVZ48v+eZyD3xTSwTLpO+1QKBgQDHmXk9x7hqfIX/PpveRHppif+SH4MTisl4
T4HABgAHjRlBlFe2cFluZjUW235H2KBG2l8EqtO/GPecBnBM1yNSibfdgknJpTfa
SuyOvPV6G2Zpb6DTbFNiblvK6Y6E0LmuGZD0OhFrZS7aGnc67IDoe3zqXNv2kCw1
0vYRbt3uyQKBgHXst09ZeG6o15hzyJU+zEcndxNHVvLuHEy28MW/EEof91fxgGX2
QZl9Agoa9q8CWTuzU+3f7S1a+mzeiQZajqEliSGcskns2WPKrH+vS2Zf0CeRdqIP
sj/roFdT5lbdURZ9MmyR8snzKE7V7HOX7MvB57B9Fw4tTQtKIEhGzRTFAoGAcAkT
ZrweJZdz10ubTe1+EJNnIuwRNPzoDWIDYHd9uL9Yd9j+SudRK4ivL/9QKJ/Nhze3
sfT5GgC3q5ppmpf/uaqXy/v/0vGsIhmAIrapyzpqB7Ciw0nAnDV5zLHAT4ihULoF
BTE66d9HpyDH4Ak0ako2WY554TIXvraFbE+gvxECgYEAq1E0v381IuYNYyTNkDpH
JEHXFy0pent5twoF8gKo7ginvcncNSMZ1NANIYnMJJZ/ojddtDQW+m0XNKdiIV/3
GzP1KcgRGxUG5Z8/Wzg//TVgajC3CN5kRmmM6qGJa4Gc4iiJf45xypu7xbf43JV/
BrDsFVyrS55K4hDQ6KA26ak=
-----END PRIVATE KEY-----
$pem$);
SELECT push_vendor_set('shop', 'apns', jsonb_build_object('team_id', 'TEAM123456', 'key_id', 'KEY1234567',
    'bundle_id', 'com.example.shop', 'endpoint', 'https://127.0.0.1:8443', 'private_key', (SELECT pem FROM test_keys WHERE name = 'ec_p256')));
SELECT push_vendor_set('shop', 'fcm', jsonb_build_object('service_account', jsonb_build_object(
    'type', 'service_account', 'project_id', 'shop-1', 'client_email', 'push@shop-1.iam.gserviceaccount.com',
    'token_uri', 'https://127.0.0.1:8443/token', 'private_key', (SELECT pem FROM test_keys WHERE name = 'rsa_2048'))));
SELECT push_vendor_set('shop', 'hms', '{"app_id": "10086", "client_secret": "s3cret"}');
SELECT push_vendor_set('shop', 'webhook', '{"url": "https://127.0.0.1:8443/webhook/sms", "secret": "k"}');
-- setting again replaces
SELECT push_vendor_set('shop', 'hms', '{"app_id": "10087", "client_secret": "s3cret2", "endpoint": "https://127.0.0.1:8443"}');
SELECT app, vendor, endpoint FROM push_vendors ORDER BY vendor;
SELECT config->>'app_id' FROM vendor_configs WHERE vendor = 'hms';
-- errors, and nothing is written
SELECT push_vendor_set('shop', 'nokia', '{}');
SELECT push_vendor_set('shop', 'hms', '"x"');
-- bounded: every sender keeps the configs it sends with (92946); nothing stored
SELECT push_vendor_set('shop', 'webhook', jsonb_build_object('url', 'https://127.0.0.1:9/hook', 'secret', repeat('s', 70000)));
SELECT count(*) FILTER (WHERE octet_length(c.config::text) > 65536) AS oversized_stored FROM vendor_configs c JOIN apps a USING (app_id) WHERE a.app = 'shop';
SELECT push_vendor_set('shop', 'hms', '{"app_id": "1", "client_secret": "s", "region": "eu"}');
SELECT push_vendor_set('shop', 'hms', '{"app_id": "1"}');
SELECT push_vendor_set('shop', 'hms', '{"app_id": 1, "client_secret": "s"}');
SELECT push_vendor_set('shop', 'hms', '{"app_id": "", "client_secret": "s"}');
SELECT push_vendor_set('shop', 'hms', '{"app_id": "1", "client_secret": "s", "endpoint": "ftp://x"}');
SELECT push_vendor_set('shop', 'apns', '{"team_id": "T", "key_id": "K", "bundle_id": "b", "private_key": "not a key"}');
SELECT push_vendor_set('shop', 'apns', jsonb_build_object('team_id', 'T', 'key_id', 'K', 'bundle_id', 'b',
    'private_key', (SELECT pem FROM test_keys WHERE name = 'rsa_2048')));
SELECT push_vendor_set('shop', 'fcm', '{"service_account": {"project_id": "p"}}');
SELECT push_vendor_set('shop', 'fcm', '{"service_account": "{not json"}');
SELECT push_vendor_set('shop', 'fcm', jsonb_build_object('service_account', jsonb_build_object(
    'project_id', 'p', 'client_email', 'e', 'token_uri', 'https://x/token', 'private_key', (SELECT pem FROM test_keys WHERE name = 'ec_p256'))));
SELECT count(*) AS vendor_configs, max(config->>'app_id') AS hms_app FROM vendor_configs;
