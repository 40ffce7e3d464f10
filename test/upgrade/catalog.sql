-- Everything of the extension a user or a later upgrade can tell apart, one line per fact,
-- sorted: test/integration/upgrade.sh compares an upgraded install with a fresh one.
-- Privileges are shown by role name (OIDs differ between databases only for dropped roles).
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'pushplan'),
members AS (
    SELECT classid, objid FROM pg_depend, ext WHERE refclassid = 'pg_extension'::regclass
       AND refobjid = ext.oid AND deptype = 'e'),
facts AS (
    SELECT 'extension ' || extname || ' ' || extversion || ' schema ' || extnamespace::regnamespace
      FROM pg_extension WHERE extname = 'pushplan'
    UNION ALL
    SELECT 'function ' || p.oid::regprocedure || ' returns ' || pg_get_function_result(p.oid)
           || ' args ' || pg_get_function_arguments(p.oid)
           || ' lang ' || l.lanname || ' vol ' || p.provolatile::text || ' strict ' || p.proisstrict::text
           || ' secdef ' || p.prosecdef::text || ' parallel ' || p.proparallel::text
           || ' config ' || coalesce(array_to_string(p.proconfig, ','), '')
           || ' src ' || md5(p.prosrc || coalesce(p.probin, ''))
           || ' acl ' || coalesce((SELECT string_agg(a, ',' ORDER BY a) FROM unnest(p.proacl::text[]) a), 'default')
           || ' comment ' || coalesce(obj_description(p.oid, 'pg_proc'), '')
      FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
     WHERE p.oid IN (SELECT objid FROM members WHERE classid = 'pg_proc'::regclass)
    UNION ALL
    SELECT 'relation ' || c.oid::regclass || ' kind ' || c.relkind::text::text
           || ' options ' || coalesce(array_to_string(c.reloptions, ','), '')
           || ' acl ' || coalesce((SELECT string_agg(a, ',' ORDER BY a) FROM unnest(c.relacl::text[]) a), 'default')
           || ' comment ' || coalesce(obj_description(c.oid, 'pg_class'), '')
           || CASE WHEN c.relkind = 'v' THEN ' view ' || md5(pg_get_viewdef(c.oid)) ELSE '' END
      FROM pg_class c WHERE c.oid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
    UNION ALL
    SELECT 'column ' || a.attrelid::regclass || ' ' || lpad(row_number() OVER w::text, 3, '0')
           || ' ' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
           || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
           || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
           || coalesce(' comment ' || col_description(a.attrelid, a.attnum), '')
      FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE a.attrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
       AND a.attnum > 0 AND NOT a.attisdropped
    WINDOW w AS (PARTITION BY a.attrelid ORDER BY a.attnum)
    UNION ALL
    SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
      FROM pg_constraint WHERE conrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
    UNION ALL
    SELECT 'index ' || pg_get_indexdef(indexrelid)
      FROM pg_index WHERE indrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
    UNION ALL
    SELECT 'trigger ' || tgrelid::regclass || ' ' || pg_get_triggerdef(oid)
      FROM pg_trigger WHERE NOT tgisinternal
       AND tgrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
    UNION ALL
    SELECT 'type ' || t.oid::regtype FROM pg_type t
     WHERE t.oid IN (SELECT objid FROM members WHERE classid = 'pg_type'::regclass)
    UNION ALL
    SELECT 'schema acl ' || coalesce((SELECT string_agg(a, ',' ORDER BY a) FROM unnest(n.nspacl::text[]) a), 'default')
      FROM pg_namespace n WHERE nspname = 'pushplan'
    UNION ALL
    SELECT 'role ' || r.rolname || ' login ' || r.rolcanlogin || ' member of '
           || coalesce((SELECT string_agg(g.rolname, ',' ORDER BY g.rolname) FROM pg_auth_members m
                        JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid), '')
      FROM pg_roles r WHERE r.rolname LIKE 'pushplan\_%'
    UNION ALL
    SELECT 'member ' || classid::regclass || ' ' || pg_describe_object(classid, objid, 0)
      FROM members
)
SELECT * FROM facts ORDER BY 1;
