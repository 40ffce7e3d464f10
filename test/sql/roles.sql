-- Roles: each can do its part and nothing more.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'pushplan\_%' ORDER BY 1;
CREATE ROLE regress_pp_reader IN ROLE pushplan_reader;
CREATE ROLE regress_pp_app IN ROLE pushplan_app;
CREATE ROLE regress_pp_operator IN ROLE pushplan_operator;
CREATE ROLE regress_pp_admin IN ROLE pushplan_admin;
CREATE ROLE regress_pp_nobody;

-- admin: apps and vendor credentials
SET ROLE regress_pp_admin;
SELECT push_app_create('role_app');
SELECT push_vendor_set('role_app', 'hms', '{"app_id": "1", "client_secret": "very-secret"}');
SELECT app, vendor FROM push_vendors WHERE app = 'role_app';
-- each role acts on the apps it is bound to (test/sql/tenancy.sql tests the bindings)
SELECT push_app_grant('role_app', 'regress_pp_app', 'app'),
       push_app_grant('role_app', 'regress_pp_operator', 'operator'),
       push_app_grant('role_app', 'regress_pp_reader', 'reader');
-- even the admin reads no credentials directly, nor the access tokens made from them
SELECT config FROM vendor_configs;
SELECT token FROM vendor_tokens;
RESET ROLE;

-- app: devices, tags, attributes, accounts; no plans, no vendors, no apps
SET ROLE regress_pp_app;
SELECT push_device_register('role_app', 'r1', 'android', 'hms', 'tok') > 0 AS registered;
SELECT push_tag_add('role_app', 'r1', 'vip');
SELECT push_attr_set('role_app', 'r1', '{"city": "x"}');
SELECT push_account_bind('role_app', 'r1', 'user1');
SELECT push_device_opt('role_app', 'r1', true);
SELECT push_device_activity('role_app', 'r1');
SELECT push_plan_create('role_app', 'p');
SELECT push_audience_count('role_app', '"all"');
SELECT push_vendor_set('role_app', 'hms', '{"app_id": "1", "client_secret": "mine"}');
SELECT push_app_create('app_made');
SELECT config FROM vendor_configs;
SELECT * FROM push_vendors;
SELECT token FROM devices;
SELECT count(*) FROM push_plans;
RESET ROLE;

-- operator: plans and what readers see; devices visible; no credentials; no device writes
SET ROLE regress_pp_operator;
SELECT push_plan_create('role_app', 'p1', 'by operator');
SELECT push_plan_update('role_app', 'p1', 'edited');
SELECT plan_id, task_count FROM push_plans WHERE app = 'role_app' ORDER BY 1;
SELECT registration_id, tags FROM push_devices WHERE app = 'role_app';
SELECT push_audience_count('role_app', '{"tag": ["vip"]}');
SELECT push_audience_preview('role_app', '"all"');
SELECT push_account_package_upload('role_app', 'users.txt', convert_to(E'user1\nuser2\n', 'UTF8')) > 0 AS uploaded;
SELECT filename, account_count FROM push_account_packages WHERE app = 'role_app';
SELECT app, vendor FROM push_vendors WHERE app = 'role_app';
SELECT config FROM vendor_configs;
SELECT push_vendor_set('role_app', 'hms', '{"app_id": "1", "client_secret": "mine"}');
SELECT push_device_register('role_app', 'r2', 'android', 'hms', 'tok2');
SELECT push_app_set('role_app', '{"timezone": "UTC"}');
RESET ROLE;

-- reader: statistics only
SET ROLE regress_pp_reader;
SELECT plan_id FROM push_plans WHERE app = 'role_app' ORDER BY 1;
SELECT * FROM push_devices;
SELECT * FROM push_vendors;
SELECT config FROM vendor_configs;
SELECT * FROM apps;
SELECT push_plan_create('role_app', 'p2');
SELECT push_audience_count('role_app', '"all"');
SELECT * FROM push_account_packages;
SELECT push_tag_add('role_app', 'r1', 'x');
RESET ROLE;

-- a role without pushplan rights can do nothing
SET ROLE regress_pp_nobody;
SELECT push_app_create('x');
SELECT * FROM pushplan.push_plans;
RESET ROLE;

-- the workers' role: no login, bound to no app, member of nothing, and exactly the rights worker
-- SQL needs (sql/api/90_roles.sql): these tables, one sequence, three columns of devices, and of
-- the functions only the three of intelligent send times
SELECT rolcanlogin, rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = 'pushplan_worker';
SELECT c.relname, string_agg(a.privilege_type, ', ' ORDER BY a.privilege_type) AS rights
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.relnamespace = 'pushplan'::regnamespace AND a.grantee = 'pushplan_worker'::regrole
GROUP BY 1 ORDER BY 1;
SELECT attrelid::regclass AS rel, attname, a.privilege_type
FROM pg_attribute, aclexplode(attacl) a WHERE a.grantee = 'pushplan_worker'::regrole ORDER BY 1, 2;
-- the functions: the clock, the occurrence arithmetic of schedules and the intelligent send
-- times, nothing else
SELECT proname AS functions FROM pg_proc
WHERE pronamespace = 'pushplan'::regnamespace AND has_function_privilege('pushplan_worker', oid, 'EXECUTE')
ORDER BY 1;
SELECT has_schema_privilege('pushplan_worker', 'pushplan', 'USAGE') AS usage,
       has_schema_privilege('pushplan_worker', 'pushplan', 'CREATE') AS "create";
SELECT count(*) AS members FROM pg_auth_members WHERE roleid = 'pushplan_worker'::regrole;
SELECT count(*) AS member_of FROM pg_auth_members WHERE member = 'pushplan_worker'::regrole;
SELECT push_app_grant('role_app', 'pushplan_worker', 'reader');
-- granting again is harmless; only superusers may
SELECT push_worker_grants();
SET ROLE regress_pp_admin;
SELECT push_worker_grants();
RESET ROLE;

-- privacy (doc/privacy.md): application code records consent, exports and erases; operators
-- see consents and neither export nor erase; readers none of it; app admins see the erasures
SET ROLE regress_pp_app;
SELECT push_device_register('role_app', 'r9', 'android', 'hms', 'tok9') > 0 AS registered;
SELECT push_device_consent('role_app', 'r9', 'marketing', false);
SELECT push_account_consent('role_app', 'user1', 0, 'marketing', true) AS devices;
SELECT push_device_export('role_app', 'r9') #>> '{device,registration_id}' AS exported;
SELECT push_account_export('role_app', 'user1', 0) ->> 'account' AS exported;
SELECT push_device_erase('role_app', 'r9') -> 'counts' -> 'devices' AS erased;
SELECT * FROM push_erasures;
RESET ROLE;
SET ROLE regress_pp_operator;
SELECT registration_id, category, granted FROM push_device_consents WHERE app = 'role_app';
SELECT push_device_consent('role_app', 'r1', 'marketing', false);
SELECT push_device_export('role_app', 'r1');
SELECT push_account_erase('role_app', 'user1', 0);
RESET ROLE;
SET ROLE regress_pp_reader;
SELECT push_account_export('role_app', 'user1', 0);
SELECT * FROM push_device_consents;
RESET ROLE;
SET ROLE regress_pp_admin;
SELECT app, subject, counts -> 'devices' AS devices FROM push_erasures WHERE app = 'role_app';
RESET ROLE;

DROP ROLE regress_pp_reader, regress_pp_app, regress_pp_operator, regress_pp_admin, regress_pp_nobody;
