-- A third of the devices belong to logged-in users: device i (every third one) is bound to
-- account 100000+i, of account_type 1 (the shop's user ids). Every tenth of those users also
-- has a second device (i+1), bound later, so it is that account's most recent device.
\set ECHO queries
SELECT count(*) AS bindings
FROM generate_series(3, 10000, 3) i,
     LATERAL push_account_bind(:'app', 'reg' || lpad(i::text, 5, '0'), (100000 + i)::text, 1);
SELECT count(*) AS second_device_bindings
FROM generate_series(30, 9999, 30) i,
     LATERAL push_account_bind(:'app', 'reg' || lpad((i + 1)::text, 5, '0'), (100000 + i)::text, 1);
\set ECHO none

SELECT count(DISTINCT account) AS accounts, count(*) AS bound_devices,
       count(*) FILTER (WHERE n = 2) AS devices_of_two_device_accounts
FROM (SELECT account, count(*) OVER (PARTITION BY account) AS n
      FROM device_accounts WHERE app_id = _app_id(:'app', 'reader') AND account_type = 1) s;

\echo 'account 100030 signed in on two devices (accounts: type:account):'
SELECT registration_id, platform, vendor, timezone, accounts
FROM push_devices WHERE app = :'app' AND '1:100030' = ANY (accounts) ORDER BY registration_id;
