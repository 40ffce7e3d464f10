-- Tenancy: a role bound to app a sees and changes nothing of app b, per kind, per function and
-- view, in both directions; unknown and forbidden apps answer alike; bindings; the app role
-- sends transactional pushes only and cancels only its own.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

-- two tenants with the same contents
SELECT push_app_create('ten_a'), push_app_create('ten_b');
CREATE ROLE regress_ten_extra;
CREATE ROLE regress_ten_cluster IN ROLE pushplan_admin;
CREATE ROLE regress_ten_nobody;
DO $$
DECLARE
    app text;
    kind text;
BEGIN
    FOREACH app IN ARRAY ARRAY['ten_a', 'ten_b'] LOOP
        PERFORM push_vendor_set(app, 'hms', '{"app_id": "1", "client_secret": "s"}');
        PERFORM push_device_register_batch(app, '[{"registration_id": "d1", "platform": "android",
            "vendor": "hms", "token": "t1", "tags": ["vip"], "attrs": {"city": "x"}}]');
        PERFORM push_account_bind(app, 'd1', 'acct1');
        PERFORM push_plan_create(app, 'p1');
        PERFORM push_account_package_upload(app, 'u.txt', convert_to(E'aa\nbb\n', 'UTF8'));
        PERFORM push_send(app, '{"to": {"registration_id": ["d1"]}, "body": {"platform": "all",
            "notification": {"alert": "hi"}}}');
        PERFORM push_app_grant(app, 'regress_ten_extra', 'reader');
        FOREACH kind IN ARRAY ARRAY['admin', 'operator', 'app', 'reader'] LOOP
            EXECUTE format('CREATE ROLE %I', 'regress_ten_' || kind || '_' || right(app, 1));
            PERFORM push_app_grant(app, ('regress_ten_' || kind || '_' || right(app, 1))::regrole, kind);
        END LOOP;
    END LOOP;
END $$;
-- a delivery per app: push_send wrote it (a push to a short list is expanded at once)
SELECT a.app, count(*) AS deliveries FROM deliveries d JOIN apps a USING (app_id)
WHERE a.app IN ('ten_a', 'ten_b') GROUP BY 1 ORDER BY 1;

-- the bindings, and the group roles push_app_grant made them members of
SELECT app, role, kind FROM push_app_grants ORDER BY 1, 2, 3;
SELECT r.rolname, array_agg(g.rolname ORDER BY g.rolname) AS member_of
FROM pg_roles r JOIN pg_auth_members m ON m.member = r.oid JOIN pg_roles g ON g.oid = m.roleid
WHERE r.rolname LIKE 'regress\_ten\_%' GROUP BY 1 ORDER BY 1;

-- Every function and view, run as each kind of role bound to its own app (own) and against the
-- other app (other), for the roles of ten_a and those of ten_b. A call that succeeds is rolled
-- back, so every cell sees the same data. A cell is ok, a row count (views), or the SQLSTATE
-- and the pushplan code of the error ("fn" for permission denied on the function or view).
CREATE TEMP TABLE ten_calls (ord int, call text);
INSERT INTO ten_calls VALUES
 (1, $q$SELECT pushplan.push_app_set(%L, '{"timezone": "UTC"}')$q$),
 (2, $q$SELECT pushplan.push_vendor_set(%L, 'webhook', '{"url": "https://127.0.0.1/x", "secret": "s"}')$q$),
 (3, $q$SELECT pushplan.push_vendor_test(%L, 'fcm', 'tok', '{"body": {"platform": "all", "notification": {"alert": "x"}}}')$q$),
 (4, $q$SELECT pushplan.push_app_grant(%L, 'regress_ten_nobody', 'reader')$q$),
 (5, $q$SELECT pushplan.push_app_revoke(%L, 'regress_ten_extra', 'reader')$q$),
 (6, $q$SELECT pushplan.push_device_register(%L, 'd2', 'android', 'hms', 'tok2')$q$),
 (7, $q$SELECT pushplan.push_device_register_batch(%L, '[{"registration_id": "d3", "platform": "ios", "vendor": "apns", "token": "t3"}]')$q$),
 (8, $q$SELECT pushplan.push_device_unregister(%L, 'd1')$q$),
 (9, $q$SELECT pushplan.push_device_opt(%L, 'd1', false)$q$),
 (10, $q$SELECT pushplan.push_device_activity(%L, 'd1')$q$),
 (11, $q$SELECT pushplan.push_tag_add(%L, 'd1', 'new')$q$),
 (12, $q$SELECT pushplan.push_tag_remove(%L, 'd1', 'vip')$q$),
 (13, $q$SELECT pushplan.push_attr_set(%L, 'd1', '{"city": "y"}')$q$),
 (14, $q$SELECT pushplan.push_account_bind(%L, 'd1', 'acct2')$q$),
 (15, $q$SELECT pushplan.push_account_unbind(%L, 'd1', 'acct1')$q$),
 (16, $q$SELECT pushplan.push_plan_create(%L, 'p2')$q$),
 (17, $q$SELECT pushplan.push_plan_update(%L, 'p1', 'edited')$q$),
 (18, $q$SELECT pushplan.push_plan_delete(%L, 'p1')$q$),
 (19, $q$SELECT pushplan.push_audience_count(%L, '{"tag": ["vip"]}')$q$),
 (20, $q$SELECT pushplan.push_audience_preview(%L, '"all"')$q$),
 (21, $q$SELECT pushplan.push_account_package_upload(%L, 'v.txt', convert_to(E'cc\n', 'UTF8'))$q$),
 (22, $q$SELECT pushplan.push_account_package_delete(%L, %s)$q$),
 (23, $q$SELECT pushplan.push_send(%L, '{"to": {"registration_id": ["d1"]}, "body": {"platform": "all", "notification": {"alert": "x"}}}')$q$),
 (24, $q$SELECT pushplan.push_send(%L, '{"to": "all", "body": {"platform": "all", "notification": {"alert": "x"}}}')$q$),
 (25, $q$SELECT pushplan.push_cancel(%L, %L)$q$),
 (26, $q$SELECT count(*) FROM pushplan.push_plans WHERE app = %L$q$),
 (27, $q$SELECT count(*) FROM pushplan.push_task_progress WHERE app = %L$q$),
 (28, $q$SELECT count(*) FROM pushplan.push_devices WHERE app = %L$q$),
 (29, $q$SELECT count(*) FROM pushplan.push_vendors WHERE app = %L$q$),
 (30, $q$SELECT count(*) FROM pushplan.push_account_packages WHERE app = %L$q$),
 (31, $q$SELECT count(*) FROM pushplan.push_deliveries WHERE app = %L$q$),
 (32, $q$SELECT count(*) FROM pushplan.push_app_grants WHERE app = %L$q$);

CREATE TEMP TABLE ten_cells (ord int, subject text, target text, cell text);
GRANT ALL ON ten_calls, ten_cells TO PUBLIC;
-- what a statement needs besides the app: the app's upload id and the task sent above
CREATE TEMP TABLE ten_ids AS
    SELECT a.app, (SELECT max(upload_id) FROM account_packages p WHERE p.app_id = a.app_id) AS upload_id,
           (SELECT max(task_id) FROM tasks t WHERE t.app_id = a.app_id) AS task_id
    FROM apps a WHERE a.app IN ('ten_a', 'ten_b');

CREATE FUNCTION pg_temp.ten_cell(subject text, target text, call text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    ids record;
    n bigint;
    cell text;
BEGIN
    SELECT * INTO ids FROM ten_ids WHERE app = target;
    BEGIN
        EXECUTE format('SET ROLE %I', subject);
        IF call LIKE '%%count(*)%%' THEN
            EXECUTE format(call, target) INTO n;
            cell := n || ' rows';
        ELSIF call LIKE '%%push_account_package_delete%%' THEN
            EXECUTE format(call, target, ids.upload_id);
            cell := 'ok';
        ELSIF call LIKE '%%push_cancel%%' THEN
            EXECUTE format(call, target, ids.task_id);
            cell := 'ok';
        ELSE
            EXECUTE format(call, target);
            cell := 'ok';
        END IF;
        RAISE EXCEPTION 'undo' USING ERRCODE = 'P0001';
    EXCEPTION WHEN OTHERS THEN
        IF SQLSTATE = 'P0001' AND SQLERRM = 'undo' THEN
            NULL;
        ELSIF SQLERRM LIKE 'permission denied for %' THEN
            cell := SQLSTATE || ' fn';
        ELSE
            cell := SQLSTATE || ' ' || coalesce(substring(SQLERRM FROM '^([0-9]{5}):'), SQLERRM);
        END IF;
    END;
    RETURN cell;
END $$;

-- (a transaction per cell pair: on the distributed layout Citus refuses a parallel read of a
-- distributed table in a transaction that wrote a reference table it references, even in a
-- subtransaction rolled back since, and the cells write apps and read devices)
DO $$
DECLARE
    c record;
    kind text;
    side text;
BEGIN
    FOR c IN SELECT * FROM ten_calls ORDER BY ord LOOP
        FOREACH kind IN ARRAY ARRAY['admin', 'operator', 'app', 'reader'] LOOP
            FOREACH side IN ARRAY ARRAY['a', 'b'] LOOP
                INSERT INTO ten_cells VALUES
                    (c.ord, kind || '_' || side, 'own',
                     pg_temp.ten_cell('regress_ten_' || kind || '_' || side, 'ten_' || side, c.call)),
                    (c.ord, kind || '_' || side, 'other',
                     pg_temp.ten_cell('regress_ten_' || kind || '_' || side,
                                      CASE side WHEN 'a' THEN 'ten_b' ELSE 'ten_a' END, c.call));
                COMMIT;
            END LOOP;
        END LOOP;
        INSERT INTO ten_cells VALUES
            (c.ord, 'cluster', 'own', pg_temp.ten_cell('regress_ten_cluster', 'ten_a', c.call)),
            (c.ord, 'cluster', 'other', pg_temp.ten_cell('regress_ten_cluster', 'ten_b', c.call)),
            (c.ord, 'nobody', 'own', pg_temp.ten_cell('regress_ten_nobody', 'ten_a', c.call)),
            (c.ord, 'nobody', 'other', pg_temp.ten_cell('regress_ten_nobody', 'ten_b', c.call));
        COMMIT;
    END LOOP;
END $$;

-- The matrix: one row per call and kind; a→a is the role of ten_a on ten_a, a→b on ten_b, etc.
SELECT c.ord, substring(c.call FROM 'push_[a-z_]+') AS call, k.kind,
       max(x.cell) FILTER (WHERE x.subject = k.kind || '_a' AND x.target = 'own') AS "a→a",
       max(x.cell) FILTER (WHERE x.subject = k.kind || '_a' AND x.target = 'other') AS "a→b",
       max(x.cell) FILTER (WHERE x.subject = k.kind || '_b' AND x.target = 'own') AS "b→b",
       max(x.cell) FILTER (WHERE x.subject = k.kind || '_b' AND x.target = 'other') AS "b→a"
FROM ten_calls c CROSS JOIN unnest(ARRAY['admin', 'operator', 'app', 'reader']) WITH ORDINALITY k(kind, n)
JOIN ten_cells x ON x.ord = c.ord
GROUP BY c.ord, c.call, k.kind, k.n ORDER BY c.ord, k.n;

-- No role bound to one app ever reaches the other: every cross cell is a refusal or 0 rows.
SELECT count(*) AS cross_cells_that_reached FROM ten_cells
WHERE target = 'other' AND subject NOT IN ('cluster') AND (cell = 'ok' OR cell ~ '^[1-9][0-9]* rows');

-- The cluster-wide admin (pushplan_admin) acts on both; a role with no binding on neither.
SELECT c.ord, substring(c.call FROM 'push_[a-z_]+') AS call,
       max(x.cell) FILTER (WHERE x.subject = 'cluster' AND x.target = 'own') AS "cluster→a",
       max(x.cell) FILTER (WHERE x.subject = 'cluster' AND x.target = 'other') AS "cluster→b",
       max(x.cell) FILTER (WHERE x.subject = 'nobody' AND x.target = 'own') AS "nobody→a",
       max(x.cell) FILTER (WHERE x.subject = 'nobody' AND x.target = 'other') AS "nobody→b"
FROM ten_calls c JOIN ten_cells x ON x.ord = c.ord
GROUP BY c.ord, c.call ORDER BY c.ord;

-- No existence oracle: an unknown app and another tenant's app give the same error, word for word.
SET ROLE regress_ten_operator_a;
SELECT push_plan_create('ten_b', 'px');
SELECT push_plan_create('no_such_app', 'px');
SELECT push_audience_count('ten_b', '"all"');
SELECT push_audience_count('no_such_app', '"all"');
-- a long name is quoted cut at 100 characters
SELECT push_plan_create(repeat('x', 99) || 'é' || repeat('y', 5000), 'px');
-- rights it lacks on its own app: said plainly
SELECT push_vendor_set('ten_a', 'hms', '{"app_id": "1", "client_secret": "s"}');
SELECT push_app_set('ten_a', '{"timezone": "UTC"}');
RESET ROLE;
SET ROLE regress_ten_reader_a;
SELECT push_plan_create('ten_a', 'px');
RESET ROLE;

-- A binding to a group role covers its members.
CREATE ROLE regress_ten_group;
CREATE ROLE regress_ten_member IN ROLE regress_ten_group;
SELECT push_app_grant('ten_b', 'regress_ten_group', 'operator');
SET ROLE regress_ten_member;
SELECT plan_id FROM push_plans ORDER BY 1;
SELECT app FROM push_plans GROUP BY 1;
RESET ROLE;
-- A role that may call operator functions but holds only reader rights on an app is told so.
SELECT push_app_grant('ten_a', 'regress_ten_group', 'reader');
SET ROLE regress_ten_member;
SELECT push_plan_create('ten_a', 'px');
SELECT count(*) FROM push_devices WHERE app = 'ten_a';
SELECT push_plan_create('ten_b', 'px');
RESET ROLE;

-- push_app_grant / push_app_revoke: validation
SELECT push_app_grant('ten_a', 'regress_ten_nobody', 'owner');
SELECT push_app_grant('ten_a', NULL, 'reader');
SELECT push_app_grant('ten_a', 'pushplan_operator', 'reader');
SELECT push_app_grant('ten_a', 'regress_no_such_role', 'reader');
SELECT push_app_grant('no_such_app', 'regress_ten_nobody', 'reader');
SELECT push_app_revoke('ten_a', 'regress_ten_nobody', 'reader');
-- granting twice is harmless; an app admin binds and unbinds on its own app only
SET ROLE regress_ten_admin_a;
SELECT push_app_grant('ten_a', 'regress_ten_nobody', 'reader');
SELECT push_app_grant('ten_a', 'regress_ten_nobody', 'reader');
SELECT app, kind FROM push_app_grants WHERE role = 'regress_ten_nobody'::regrole;
SELECT push_app_grant('ten_b', 'regress_ten_nobody', 'reader');
SELECT push_app_create('ten_c');
SELECT push_app_revoke('ten_a', 'regress_ten_nobody', 'reader');
RESET ROLE;
-- a binding is gone once revoked
SET ROLE regress_ten_nobody;
SELECT count(*) FROM push_plans;
RESET ROLE;
-- a dropped role's bindings match nobody and are removed by the next push_app_grant
CREATE ROLE regress_ten_gone;
SELECT push_app_grant('ten_a', 'regress_ten_gone', 'reader');
DROP OWNED BY regress_ten_gone;
DROP ROLE regress_ten_gone;
SELECT count(*) AS dangling FROM app_grants g WHERE NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = g.role);
SELECT push_app_grant('ten_a', 'regress_ten_extra', 'app');
SELECT count(*) AS dangling FROM app_grants g WHERE NOT EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = g.role);

-- The app role: transactional pushes only, to lists of at most pushplan.small_audience_limit.
SET ROLE regress_ten_app_a;
SELECT push_send('ten_a', '{"to": {"tag": ["vip"]}, "body": {"platform": "all", "notification": {"alert": "x"}}}');
SELECT push_send('ten_a', '{"to": {"attr_and": {"city": "x"}}, "body": {"platform": "all", "notification": {"alert": "x"}}}');
SELECT push_send('ten_a', '{"to": {"upload_id": 1}, "body": {"platform": "all", "notification": {"alert": "x"}}}');
SELECT push_send('ten_a', '{"audience_type": "all", "message_type": "notify", "message": {"title": "t", "content": "c"}}');
SELECT push_send('ten_a', '{"MsgRandom": 1, "OfflinePushInfo": {"PushFlag": 0, "Title": "t", "Desc": "d"}}');
SELECT push_send('ten_a', jsonb_build_object('to', jsonb_build_object('registration_id',
    (SELECT jsonb_agg('r' || i) FROM generate_series(1, 101) i)),
    'body', '{"platform": "all", "notification": {"alert": "x"}}'::jsonb));
-- ... while lists within the limit go, in every dialect
SELECT push_send('ten_a', jsonb_build_object('to', jsonb_build_object('registration_id',
    (SELECT jsonb_agg('r' || i) FROM generate_series(1, 100) i)),
    'body', '{"platform": "all", "notification": {"alert": "x"}}'::jsonb)) LIKE 'tsk_%' AS sent_100;
SELECT push_send('ten_a', '{"to": {"account": ["acct1"]}, "body": {"platform": "all", "notification": {"alert": "x"}}}') LIKE 'tsk_%' AS sent_account;
SELECT push_send('ten_a', '{"audience_type": "token_list", "token_list": ["t1"], "message_type": "notify", "message": {"title": "t", "content": "c"}}') LIKE 'tsk_%' AS sent_tencent;
-- the limit is the server's, not the application's
SET pushplan.small_audience_limit = 1000;
RESET ROLE;
-- no change in tasks by the refusals above: only the three that went, each recorded as the app role's
SELECT count(*), bool_and(created_by = 'regress_ten_app_a'::regrole) FROM tasks t
WHERE t.app_id = (SELECT app_id FROM apps WHERE app = 'ten_a')
  AND created_by <> (SELECT oid FROM pg_roles WHERE rolname = current_user);

-- It cancels what it sent, not what others sent (those do not exist for it). (Its push to the
-- 100 ids that name no device is done already: a task of its that is still sending.)
SELECT set_config('ten.own', (SELECT max(task_id) FROM tasks WHERE created_by = 'regress_ten_app_a'::regrole AND state = 'sending'), false) IS NOT NULL AS own_task,
       set_config('ten.other', (SELECT task_id FROM ten_ids WHERE app = 'ten_a'), false) IS NOT NULL AS other_task;
DO $$
BEGIN
    SET ROLE regress_ten_app_a;
    PERFORM push_cancel('ten_a', current_setting('ten.other'));
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'cancelling a task it did not send: % %', SQLSTATE, split_part(SQLERRM, ':', 1);
END $$;
SET ROLE regress_ten_app_a;
SELECT push_cancel('ten_a', current_setting('ten.own'));
RESET ROLE;
-- an operator of the app cancels any of its tasks
SET ROLE regress_ten_operator_a;
SELECT push_cancel('ten_a', current_setting('ten.other'));
RESET ROLE;
SELECT (task_id = current_setting('ten.own')) AS own, state FROM tasks
WHERE task_id IN (current_setting('ten.own'), current_setting('ten.other')) ORDER BY 1;

-- A view cannot be made to leak other tenants' rows through a function of the caller's in the
-- WHERE clause (security_barrier views): the function sees only the caller's own rows.
CREATE FUNCTION public.ten_leak(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN RAISE NOTICE 'saw %', $1; RETURN true; END $$;
GRANT EXECUTE ON FUNCTION public.ten_leak(text) TO PUBLIC;
SET ROLE regress_ten_operator_a;
SELECT app, registration_id FROM push_devices WHERE public.ten_leak(registration_id || ':' || token);
SELECT app, registration_id FROM push_devices WHERE public.ten_leak(app);
SELECT plan_id FROM push_plans WHERE public.ten_leak(app || ':' || plan_id) ORDER BY 1;
SELECT vendor FROM push_vendors WHERE public.ten_leak(vendor || ':' || app);
SELECT filename FROM push_account_packages WHERE public.ten_leak(filename);
SELECT count(*) FROM push_deliveries WHERE public.ten_leak(registration_id);
SELECT count(*) FROM push_task_progress WHERE public.ten_leak(app);
RESET ROLE;
SET ROLE regress_ten_admin_a;
SELECT kind FROM push_app_grants WHERE public.ten_leak(app || ':' || role::text) ORDER BY 1;
RESET ROLE;
DROP FUNCTION public.ten_leak(text);

-- _layout_view_rows: a view's rows as the extension's owner reads them (how the views are read
-- on the distributed layout; on one node, the view itself), as the view shows them to the
-- caller, and nothing past the view's own grant
SET ROLE regress_ten_admin_a;
SELECT (SELECT array_agg(r ORDER BY r) FROM _layout_view_rows('push_app_grants')
          AS g(app text, role regrole, kind text, granted_at timestamptz), LATERAL (SELECT g.app || ' ' || g.kind) x(r))
     = (SELECT array_agg(app || ' ' || kind ORDER BY app || ' ' || kind) FROM push_app_grants) AS as_the_view_shows,
       (SELECT count(DISTINCT app) FROM _layout_view_rows('push_app_grants')
          AS g(app text, role regrole, kind text, granted_at timestamptz)) AS apps;
RESET ROLE;
SET ROLE regress_ten_reader_a;
SELECT count(*) FROM _layout_view_rows('push_app_grants') AS g(app text, role regrole, kind text, granted_at timestamptz);
SELECT count(*) FROM _layout_view_rows('app_grants') AS g(app_id int, role oid, kind text, granted_at timestamptz);
SELECT count(*) FROM _layout_view_rows('no_such_view') AS g(x int);
RESET ROLE;

-- clean up: roles are cluster-wide
DO $$
DECLARE
    r text;
BEGIN
    FOR r IN SELECT rolname FROM pg_roles WHERE rolname LIKE 'regress\_ten\_%' LOOP
        EXECUTE format('DROP OWNED BY %I', r);
        EXECUTE format('DROP ROLE %I', r);
    END LOOP;
END $$;
