-- The vendors of the app, every one of them played by the mock vendor (test/mock_vendor) with
-- credentials made fresh for this run: an APNs .p8 key, a Google service account, Huawei OAuth
-- client credentials and a webhook secret. What operators may see of them: no secrets.
SELECT vendor, endpoint FROM push_vendors WHERE app = :'app' ORDER BY vendor;

\echo 'the workers that serve this database (pg_stat_activity):'
SELECT backend_type, datname, count(*) AS processes
FROM pg_stat_activity WHERE backend_type LIKE 'pushplan%'
GROUP BY 1, 2 ORDER BY 1;
