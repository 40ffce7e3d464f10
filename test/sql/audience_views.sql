-- Audiences from the application's own views ({"view": "schema.view"}; doc/audiences.md,
-- "Views"): allowing and revoking (admins only), every refusal with its message, counts and
-- sends alone and in condition trees, account views, tenants, and SQL that planted objects
-- cannot take over.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

SELECT push_app_create('av_a'), push_app_create('av_b');
SELECT push_vendor_set(a, 'hms', '{"app_id": "1", "client_secret": "s"}') FROM unnest(ARRAY['av_a', 'av_b']) a;
SELECT push_device_register_batch(a, '[
  {"registration_id": "r1", "platform": "android", "vendor": "hms", "token": "t1", "tags": ["vip"]},
  {"registration_id": "r2", "platform": "android", "vendor": "hms", "token": "t2", "tags": ["vip"]},
  {"registration_id": "r3", "platform": "android", "vendor": "hms", "token": "t3"},
  {"registration_id": "r4", "platform": "android", "vendor": "hms", "token": "t4", "attrs": {"city": "x"}}]')
FROM unnest(ARRAY['av_a', 'av_b']) a;
SELECT push_account_bind('av_a', 'r3', 'alice', 1), push_account_bind('av_a', 'r4', 'bob', 1);

-- the application's own data, and views over it
CREATE SCHEMA shop;
CREATE TABLE shop.customers (id int, regid varchar(64), login text, spent numeric);
INSERT INTO shop.customers VALUES (1, 'r1', 'alice', 500), (2, 'r3', 'bob', 20), (3, 'r4', 'carol', 900),
                                  (4, 'nope', 'dave', 700);
CREATE VIEW shop.big_spenders AS
    SELECT regid AS registration_id FROM shop.customers WHERE spent >= 100;
CREATE VIEW shop.big_accounts AS
    SELECT login AS account, 1::smallint AS account_type FROM shop.customers WHERE spent >= 100;
CREATE VIEW shop.no_columns AS SELECT id FROM shop.customers;
CREATE VIEW shop.invoker WITH (security_invoker) AS SELECT regid AS registration_id FROM shop.customers;
CREATE VIEW shop."Odd ""name""" AS SELECT 'r2'::text AS registration_id;

-- allowing: what is not a view, or not one pushplan reads with its owner's privileges
SELECT push_audience_view_allow('av_a', 'shop.customers');
SELECT push_audience_view_allow('av_a', 'shop.invoker');
SELECT push_audience_view_allow('av_a', 'shop.no_columns');
SELECT push_audience_view_allow('av_a', NULL);
-- the system's and pushplan's own views are no application's
SELECT push_audience_view_allow('av_a', 'pushplan.push_devices');
SELECT push_audience_view_allow('av_a', 'pg_catalog.pg_roles');
-- the workers read it: they need the schema and the view
SELECT push_audience_view_allow('av_a', 'shop.big_spenders');
GRANT USAGE ON SCHEMA shop TO pushplan_worker;
SELECT push_audience_view_allow('av_a', 'shop.big_spenders');
GRANT SELECT ON shop.big_spenders, shop.big_accounts, shop."Odd ""name""" TO pushplan_worker;
SELECT push_audience_view_allow('av_a', 'shop.big_spenders');
SELECT push_audience_view_allow('av_a', 'shop.big_spenders');
SELECT push_audience_view_allow('av_a', 'shop.big_accounts');
SELECT push_audience_view_allow('av_a', 'shop."Odd ""name"""');
SELECT app, view, kind, allowed_by IS NOT NULL AS by_someone FROM push_audience_views ORDER BY 1, 2;

-- counts: the view alone, with tags and attributes, under not; names quoted as SQL quotes them
SELECT push_audience_count('av_a', '{"view": "shop.big_spenders"}');                -- r1, r4
SELECT push_audience_preview('av_a', '{"view": "shop.big_spenders"}', 10);
SELECT push_audience_count('av_a', '{"view": "shop.big_spenders", "tag": ["vip"]}'); -- r1
SELECT push_audience_count('av_a', '{"condition": {"or": [{"view": "shop.big_spenders"}, {"tag": "vip"}]}}'); -- r1 r2 r4
SELECT push_audience_count('av_a', '{"condition": {"and": [{"not": {"view": "shop.big_spenders"}}, {"attr": {"city": "x"}}]}}'); -- none
SELECT push_audience_count('av_a', '{"condition": {"not": {"view": "shop.big_spenders"}}}'); -- r2 r3
SELECT push_audience_count('av_a', '{"view": "shop.\"Odd \"\"name\"\"\""}');       -- r2
SELECT push_audience_count('av_a', '{"view": "SHOP.big_spenders"}');              -- the name is folded as SQL folds it
-- an account view: each account's latest device (alice: r3; carol: no device)
SELECT push_audience_count('av_a', '{"view": "shop.big_accounts"}');
SELECT push_audience_preview('av_a', '{"condition": {"or": [{"view": "shop.big_accounts"}, {"view": "shop.big_spenders"}]}}', 10);
-- the same snapshot as the rest: a row the application adds counts at once
INSERT INTO shop.customers VALUES (5, 'r2', 'erin', 1000);
SELECT push_audience_count('av_a', '{"view": "shop.big_spenders"}');
DELETE FROM shop.customers WHERE id = 5;

-- a push to a view: its deliveries are made as for any audience
SELECT push_send('av_a', '{"to": {"view": "shop.big_spenders"}, "body": {"platform": "all",
    "notification": {"alert": "thanks"}}, "request_id": "av1"}') AS av1 \gset
-- push_trace says why a device is not in it
SELECT step, substring(detail FROM 'not in the audience: .*') AS why FROM push_trace('av_a', 'r2', :'av1') WHERE step = 'audience';
CREATE TEMP TABLE av_out (device_id bigint);
SELECT _audience_expand('av_a', '{"view": "shop.big_spenders"}', 'av_out');
SELECT d.registration_id FROM av_out o JOIN devices d USING (device_id) ORDER BY 1;

-- what the audience refuses: the name's form, a view not allowed (or none of that name)
SELECT push_audience_count('av_a', '{"view": 5}');
SELECT push_audience_count('av_a', '{"view": "big_spenders"}');
SELECT push_audience_count('av_a', '{"view": "a.b.c"}');
SELECT push_audience_count('av_a', '{"view": ""}');
SELECT push_audience_count('av_a', '{"view": "shop.no_columns"}');
SELECT push_audience_count('av_a', '{"view": "shop.nothing_here"}');
SELECT push_audience_count('av_a', '{"view": "nosuchschema.v"}');
SELECT push_audience_count('av_a', '{"condition": {"view": "shop.customers"}}');
SELECT push_audience_count('av_a', '{"condition": {"view": "shop.big_spenders", "tag": "vip"}}');
-- another app's view: allowed for av_a only
SELECT push_audience_count('av_b', '{"view": "shop.big_spenders"}');
-- a view changed after its allowance is checked again at every compile
CREATE OR REPLACE VIEW shop.big_accounts AS
    SELECT login AS account, 1::smallint AS account_type, regid AS registration_id FROM shop.customers WHERE spent >= 100;
SELECT push_audience_count('av_a', '{"view": "shop.big_accounts"}');  -- now a registration_id view: r1, r4
ALTER VIEW shop.big_accounts SET (security_invoker = true);
SELECT push_audience_count('av_a', '{"view": "shop.big_accounts"}');
ALTER VIEW shop.big_accounts RESET (security_invoker);
-- renamed: still allowed (by its OID), under its new name only
ALTER VIEW shop.big_spenders RENAME TO spenders;
SELECT push_audience_count('av_a', '{"view": "shop.spenders"}');
SELECT push_audience_count('av_a', '{"view": "shop.big_spenders"}');
SELECT view FROM push_audience_views WHERE app = 'av_a' ORDER BY 1;

-- planted objects: an always-true = for text against varchar (the view's column type) in
-- public, first in the search path of a caller whose rights and path the expansion runs with
-- (_audience_expand); SQL comparing devices.registration_id with the view's column as it is
-- would pick it (an exact match beats pg_catalog's text = text); the compiled SQL casts and
-- names pg_catalog's operator, so the expansion is still r1 and r4
CREATE FUNCTION public.av_true(text, varchar) RETURNS boolean LANGUAGE sql AS 'SELECT true';
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = varchar, FUNCTION = public.av_true);
SET search_path = public, pg_catalog, pushplan;
SELECT (SELECT count(*) FROM pushplan.devices d
        WHERE d.registration_id IN (SELECT v.registration_id FROM shop.spenders v))
     = (SELECT count(*) FROM pushplan.devices) AS naive_sql_matches_every_device;
TRUNCATE av_out;
SELECT pushplan._audience_expand('av_a', '{"view": "shop.spenders"}', 'av_out');
SELECT d.registration_id FROM av_out o JOIN pushplan.devices d USING (device_id) ORDER BY 1;
SET search_path = pushplan, public;
DROP OPERATOR public.= (text, varchar);
DROP FUNCTION public.av_true(text, varchar);

-- roles: an app admin allows views of its app, only one it can read itself; operators and
-- application code allow nothing (no EXECUTE); nobody allows for another app
CREATE ROLE regress_av_admin;
CREATE ROLE regress_av_operator;
CREATE ROLE regress_av_admin_b;
SELECT push_app_grant('av_a', 'regress_av_admin', 'admin'), push_app_grant('av_a', 'regress_av_operator', 'operator'),
       push_app_grant('av_b', 'regress_av_admin_b', 'admin');
GRANT USAGE ON SCHEMA shop TO regress_av_admin, regress_av_operator, regress_av_admin_b;
SET ROLE regress_av_admin;
SELECT pushplan.push_audience_view_revoke('av_a', 'shop.spenders');
SELECT pushplan.push_audience_view_allow('av_a', 'shop.spenders');     -- it cannot read it
RESET ROLE;
GRANT SELECT ON shop.spenders TO regress_av_admin, regress_av_admin_b;
SET ROLE regress_av_admin;
SELECT pushplan.push_audience_view_allow('av_a', 'shop.spenders');
SELECT pushplan.push_audience_count('av_a', '{"view": "shop.spenders"}');
SELECT pushplan.push_audience_view_allow('av_b', 'shop.spenders');
RESET ROLE;
SET ROLE regress_av_operator;
SELECT pushplan.push_audience_view_allow('av_a', 'shop.spenders');
SELECT pushplan.push_audience_view_revoke('av_a', 'shop.spenders');
SELECT app, view FROM pushplan.push_audience_views ORDER BY 1, 2;
SELECT pushplan.push_audience_count('av_a', '{"view": "shop.spenders"}');
RESET ROLE;
-- the other tenant's admin sees none of av_a's views, and cannot name them
SET ROLE regress_av_admin_b;
SELECT app, view FROM pushplan.push_audience_views ORDER BY 1, 2;
SELECT pushplan.push_audience_count('av_b', '{"view": "shop.spenders"}');
RESET ROLE;
-- revoked: refused from then on
SELECT push_audience_view_revoke('av_a', 'shop.spenders');
SELECT push_audience_view_revoke('av_a', 'shop.spenders');
SELECT push_audience_count('av_a', '{"view": "shop.spenders"}');
-- a view dropped takes its allowances with it (in the same transaction)
BEGIN;
DROP VIEW shop."Odd ""name""";
SELECT count(*) AS allowances FROM audience_views a JOIN apps USING (app_id) WHERE app = 'av_a';
ROLLBACK;
SELECT count(*) AS allowances FROM audience_views a JOIN apps USING (app_id) WHERE app = 'av_a';
DROP VIEW shop."Odd ""name""";
SELECT app, view, kind FROM push_audience_views ORDER BY 1, 2;
SELECT push_audience_count('av_a', '{"view": "shop.\"Odd \"\"name\"\"\""}');

DROP SCHEMA shop CASCADE;
SELECT count(*) AS allowances FROM audience_views;
DROP OWNED BY regress_av_admin, regress_av_operator, regress_av_admin_b;
DROP ROLE regress_av_admin, regress_av_operator, regress_av_admin_b;
