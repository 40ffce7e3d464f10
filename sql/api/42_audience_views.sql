-- Audiences from the application's own views (doc/audiences.md, "Views"): an admin of an app
-- allows a view, and the app's audiences may then name it ({"view": "schema.view"}). The C
-- compiler (src/audience_view.c) looks the name up, checks the allowance and names the view
-- by its catalog name in the compiled SQL. Table: audience_views (sql/install/schema.sql).

-- The kind of a view (registration_id or account), after the checks every compile makes
-- (93082 columns, 93083 not a view, 93084 security_invoker).
CREATE OR REPLACE FUNCTION _audience_view_kind(view oid) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_audience_view_kind' LANGUAGE C STABLE STRICT;
-- The first role that must read the view and cannot (the caller, the extension's owner,
-- pushplan_worker), or NULL.
CREATE OR REPLACE FUNCTION _audience_view_unreadable(view oid) RETURNS text
AS 'MODULE_PATHNAME', 'pushplan_audience_view_unreadable' LANGUAGE C STABLE STRICT;

-- Allows an app's audiences to name a view. Admins only (the app's, or cluster-wide), and
-- only a view the caller can read itself: an admin cannot hand an app rows it could not see.
-- The roles that read audiences must be able to read it too (the extension's owner, for
-- push_send and push_audience_count; pushplan_worker, for the scheduler's expansion): 93085
-- says what to grant. Allowing it twice: 93086.
CREATE OR REPLACE FUNCTION push_audience_view_allow(app text, view regclass) RETURNS text
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'admin');
    v_kind text;
    v_nsp oid;
    v_name text;
    v_role text;
BEGIN
    IF view IS NULL THEN
        RAISE EXCEPTION '93083: a view must be given' USING ERRCODE = '42809';
    END IF;
    v_kind := _audience_view_kind(view);
    SELECT c.relnamespace, format('%I.%I', n.nspname, c.relname) INTO v_nsp, v_name
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = view;
    v_role := _audience_view_unreadable(view);
    IF v_role IS NOT NULL THEN
        RAISE EXCEPTION '93085: role "%" cannot read view %', v_role, v_name
            USING ERRCODE = '42501',
                  HINT = CASE WHEN v_role = 'pushplan_worker'
                              THEN format('GRANT USAGE ON SCHEMA %I TO pushplan_worker; GRANT SELECT ON %s TO pushplan_worker;',
                                          (SELECT nspname FROM pg_namespace WHERE oid = v_nsp), v_name)
                              ELSE 'Only a view the caller can read may be allowed.' END;
    END IF;
    INSERT INTO audience_views (app_id, view_oid, kind, allowed_by)
        VALUES (v_app, view, v_kind, (SELECT oid FROM pg_roles WHERE rolname = session_user))
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION '93086: view % is allowed for app "%" already', v_name, _shown(app)
            USING ERRCODE = '23505';
    END IF;
    RETURN v_kind;
END $$;
COMMENT ON FUNCTION push_audience_view_allow(text, regclass) IS
    'allows the app''s audiences to name a view ({"view": "schema.view"}) returning registration_id, or account and account_type; returns which';

CREATE OR REPLACE FUNCTION push_audience_view_revoke(app text, view regclass) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'admin');
BEGIN
    DELETE FROM audience_views a WHERE a.app_id = v_app AND a.view_oid = view;
    IF NOT FOUND THEN
        RAISE EXCEPTION '93081: view "%" is not allowed for this app', _shown(view::text)
            USING ERRCODE = '42501';
    END IF;
END $$;
COMMENT ON FUNCTION push_audience_view_revoke(text, regclass) IS
    'takes back a view''s allowance: audiences naming it are refused from then on (pushes already expanded keep their deliveries)';

-- A view dropped loses its allowances with it, in the dropping transaction: its OID could
-- otherwise be given one day to a new relation, which would find itself allowed.
CREATE OR REPLACE FUNCTION _audience_views_dropped() RETURNS event_trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
BEGIN
    DELETE FROM audience_views a
        USING pg_event_trigger_dropped_objects() o
        WHERE o.classid = 'pg_class'::regclass AND o.objsubid = 0 AND a.view_oid = o.objid;
END $$;
DROP EVENT TRIGGER IF EXISTS pushplan_audience_views_dropped;
CREATE EVENT TRIGGER pushplan_audience_views_dropped ON sql_drop
    WHEN TAG IN ('DROP VIEW', 'DROP MATERIALIZED VIEW', 'DROP SCHEMA', 'DROP OWNED', 'DROP TABLE')
    EXECUTE FUNCTION _audience_views_dropped();

-- The views each app may name, for its operators (who write audiences) and admins. view: its
-- name now (a view renamed keeps its allowance).
CREATE OR REPLACE VIEW push_audience_views WITH (security_barrier) AS
    SELECT a.app, format('%I.%I', n.nspname, c.relname) AS view, v.kind,
           r.rolname AS allowed_by, v.allowed_at
    FROM audience_views v
    JOIN apps a ON a.app_id = v.app_id
    JOIN pg_class c ON c.oid = v.view_oid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_roles r ON r.oid = v.allowed_by
    WHERE v.app_id = ANY ((SELECT _visible_apps('operator'))::int[]);
