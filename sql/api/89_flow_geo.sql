-- Locations and geofence triggers (doc/flows.md, "geofence"): push_location stores where a
-- device is (device_locations: its last 10), and, in the caller's transaction, enters the
-- device into the enabled flows whose geofence the move crosses: into the circle (enter) or
-- out of it (exit).
--
-- Distances are PostgreSQL's contrib earthdistance (on cube): earth_distance(ll_to_earth(..),
-- ll_to_earth(..)), great circles on a sphere of the earth's radius. pushplan does not require
-- the extension in its control file (that would make every CREATE EXTENSION pushplan need
-- CASCADE, geofences or not); geofences alone need it, and say so (93094). Its functions are
-- called in the schema pg_extension says it is in, with a search_path of pg_catalog, that
-- schema and cube's (earthdistance's SQL functions call cube's and their own unqualified, so
-- they resolve through the search_path at run time): nothing in public or the caller's path
-- is looked at unless earthdistance or cube lives there, and pg_catalog comes first.
--
-- A geofence flow's version stores its trigger as trigger_event '$geofence' (a name push_track
-- refuses, so no event starts it) and the circle as trigger_where ({"enter": {"lat", "lon",
-- "radius_m"}} or {"exit": ...}): push_location finds the app's geofence flows by the same
-- index as push_track finds an event's.

-- Why coordinates cannot be used, or NULL.
CREATE OR REPLACE FUNCTION _geo_point_problem(lat float8, lon float8) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN NOT coalesce(lat BETWEEN -90 AND 90 AND lon BETWEEN -180 AND 180, false) THEN
        format('93090: coordinates out of range: lat is -90 to 90 and lon -180 to 180, got (%s, %s)',
               coalesce(lat::text, 'null'), coalesce(lon::text, 'null')) END
$$;

-- The schemas of earthdistance and cube, or 93094.
CREATE OR REPLACE FUNCTION _geo_schemas(OUT earth text, OUT cube text)
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    SELECT n.nspname INTO earth FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'earthdistance';
    SELECT n.nspname INTO cube FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
        WHERE e.extname = 'cube';
    IF earth IS NULL OR cube IS NULL THEN
        RAISE EXCEPTION '93094: geofences need the earthdistance extension'
            USING ERRCODE = '55000',
                  HINT = 'CREATE EXTENSION earthdistance CASCADE (contrib; it brings cube).';
    END IF;
END $$;

-- The distances in metres from (p_lat, p_lon) to each point of p_points ([[lat, lon], ...]),
-- in order (NULL for a NULL point), through earthdistance (see the head of this file).
CREATE OR REPLACE FUNCTION _geo_distances(p_lat float8, p_lon float8, p_points jsonb) RETURNS float8[]
LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_s record := pushplan._geo_schemas();
    v_out float8[];
BEGIN
    -- for this call only: the function's SET restores the path when it returns
    PERFORM set_config('search_path', format('pg_catalog, %I, %I, pg_temp', v_s.earth, v_s.cube), true);
    EXECUTE format('SELECT array_agg(CASE WHEN jsonb_typeof(p) = ''array'' THEN '
                   '%1$I.earth_distance(%1$I.ll_to_earth($1, $2), '
                   '%1$I.ll_to_earth((p->>0)::float8, (p->>1)::float8)) END ORDER BY n) '
                   'FROM jsonb_array_elements($3) WITH ORDINALITY x(p, n)', v_s.earth)
        INTO v_out USING p_lat, p_lon, p_points;
    RETURN v_out;
END $$;

-- A geofence trigger checked: {"geofence": {"enter" | "exit": {"lat", "lon", "radius_m"}}},
-- returned as _flow_compile stores triggers ({"event": "$geofence", "where": circle}).
CREATE OR REPLACE FUNCTION _flow_geofence_trigger(p_trigger jsonb) RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_geo jsonb := p_trigger->'geofence';
    v_kind text;
    v_circle jsonb;
BEGIN
    SELECT min(k) INTO v_kind FROM jsonb_object_keys(CASE WHEN jsonb_typeof(v_geo) = 'object' THEN v_geo ELSE '{}' END) k;
    v_circle := v_geo->v_kind;
    IF (SELECT count(*) FROM jsonb_object_keys(p_trigger)) <> 1
       OR jsonb_typeof(v_geo) IS DISTINCT FROM 'object' OR (SELECT count(*) FROM jsonb_object_keys(v_geo)) <> 1
       OR v_kind NOT IN ('enter', 'exit') OR jsonb_typeof(v_circle) IS DISTINCT FROM 'object'
       OR EXISTS (SELECT 1 FROM jsonb_object_keys(v_circle) k WHERE k NOT IN ('lat', 'lon', 'radius_m'))
       OR jsonb_typeof(v_circle->'lat') IS DISTINCT FROM 'number' OR jsonb_typeof(v_circle->'lon') IS DISTINCT FROM 'number'
       OR jsonb_typeof(v_circle->'radius_m') IS DISTINCT FROM 'number' THEN
        RAISE EXCEPTION '93092: trigger: geofence takes {"enter" or "exit": {"lat": degrees, "lon": degrees, "radius_m": metres}}'
            USING ERRCODE = '22023';
    END IF;
    PERFORM pushplan._raise_problem(pushplan._geo_point_problem((v_circle->>'lat')::float8, (v_circle->>'lon')::float8));
    IF (v_circle->>'radius_m')::numeric NOT BETWEEN 10 AND 100000 THEN
        RAISE EXCEPTION '93093: trigger: radius_m is a number of metres from 10 to 100000, got %',
            left(v_circle->>'radius_m', 40) USING ERRCODE = '22023';
    END IF;
    PERFORM pushplan._geo_schemas();
    RETURN jsonb_build_object('event', '$geofence', 'where', jsonb_build_object(v_kind, v_circle));
END $$;

-- Where a device is, reported by application code (lat, lon in degrees, at: when the device
-- was there), in the caller's transaction: stored (the device's last 10 locations kept), and
-- the enabled geofence flows the move from the device's previous location crosses enter it.
-- A device's first location is a move from nowhere: inside a circle, it enters. A location
-- older than one already stored is kept but crosses nothing (reports may arrive out of order).
-- Returns how many flows it entered.
CREATE OR REPLACE FUNCTION push_location(app text, registration_id text, lat float8, lon float8,
                                         at timestamptz DEFAULT now()) RETURNS int
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app int := _app_id(app, 'app');
    v_device bigint := _device_id(v_app, registration_id);
    v_now timestamptz := clock_now();
    v_prev device_locations;
    v_flows record;
    v_points jsonb;
    v_new float8[];
    v_old float8[];
    v_n int := 0;
    v_cross_ids text[];
    v_cross_versions int[];
    v_cross_props jsonb[];
BEGIN
    PERFORM _raise_problem(_geo_point_problem(lat, lon));
    IF at IS NULL OR at = 'infinity' OR at = '-infinity' THEN
        RAISE EXCEPTION '93091: a location time must be given (at)' USING ERRCODE = '22023';
    END IF;
    -- one report of a device at a time: each sees the one before it
    PERFORM pg_advisory_xact_lock(hashtext('pushplan.location'), hashtext(v_device::text));
    SELECT * INTO v_prev FROM device_locations l WHERE l.device_id = v_device
        ORDER BY l.at DESC LIMIT 1;
    INSERT INTO device_locations AS l (device_id, at, lat, lon, reported_at)
        VALUES (v_device, push_location.at, push_location.lat, push_location.lon, v_now)
        ON CONFLICT ON CONSTRAINT device_locations_pkey DO UPDATE SET lat = excluded.lat, lon = excluded.lon,
                                                  reported_at = excluded.reported_at;
    DELETE FROM device_locations l WHERE l.device_id = v_device AND l.at < (
        SELECT k.at FROM device_locations k WHERE k.device_id = v_device
        ORDER BY k.at DESC OFFSET 9 LIMIT 1);
    IF v_prev.at >= push_location.at THEN
        RETURN 0;               -- a late report: kept, crosses nothing
    END IF;

    SELECT array_agg(f.flow_id ORDER BY f.flow_id) AS ids, array_agg(v.version ORDER BY f.flow_id) AS versions,
           array_agg(v.trigger_where ORDER BY f.flow_id) AS circles
        INTO v_flows
        FROM flow_versions v JOIN flows f ON f.flow_id = v.flow_id AND f.version = v.version
        WHERE v.app_id = v_app AND v.trigger_event = '$geofence' AND f.enabled;
    IF v_flows.ids IS NULL THEN
        RETURN 0;
    END IF;
    -- the distances from the circles' centres to the new location and the previous one
    v_points := (SELECT jsonb_agg(jsonb_build_array(coalesce(c->'enter', c->'exit')->'lat',
                                                    coalesce(c->'enter', c->'exit')->'lon') ORDER BY n)
                 FROM unnest(v_flows.circles) WITH ORDINALITY x(c, n));
    v_new := _geo_distances(lat, lon, v_points);
    IF v_prev.device_id IS NOT NULL THEN
        v_old := _geo_distances(v_prev.lat, v_prev.lon, v_points);
    END IF;
    -- the flows whose circle the move crosses: into it from outside (or from nowhere), or out of
    -- it from inside; the device enters them under their entry rules (sql/api/89_flow_enter.sql)
    SELECT array_agg(x.flow_id ORDER BY x.n), array_agg(x.version ORDER BY x.n),
           array_agg(jsonb_build_object('geofence', x.kind, 'lat', lat, 'lon', lon, 'at', push_location.at,
                                        'distance_m', round(x.d_new::numeric, 1)) ORDER BY x.n)
        INTO v_cross_ids, v_cross_versions, v_cross_props
    FROM (SELECT f.flow_id, f.version, f.n, k.kind, v_new[f.n] AS d_new, v_old[f.n] AS d_old,
                 (f.circle -> k.kind ->> 'radius_m')::float8 AS radius
          FROM unnest(v_flows.ids, v_flows.versions, v_flows.circles) WITH ORDINALITY f(flow_id, version, circle, n)
          CROSS JOIN LATERAL (SELECT CASE WHEN f.circle ? 'enter' THEN 'enter' ELSE 'exit' END AS kind) k) x
    WHERE CASE x.kind
          WHEN 'enter' THEN x.d_new <= x.radius AND coalesce(x.d_old > x.radius, true)
          ELSE x.d_new > x.radius AND coalesce(x.d_old <= x.radius, false) END;
    IF v_cross_ids IS NOT NULL THEN
        v_n := _flow_enter(v_now, v_cross_ids, v_cross_versions,
                           array_fill(v_device, ARRAY[cardinality(v_cross_ids)]), NULL, NULL,
                           v_cross_props, NULL, ARRAY(SELECT generate_subscripts(v_cross_ids, 1)), 64,
                           false);
    END IF;
    IF v_n > 0 THEN
        PERFORM _wake_scheduler();
    END IF;
    RETURN v_n;
END $$;
COMMENT ON FUNCTION push_location(text, text, float8, float8, timestamptz) IS
    'reports where a device is, in the caller''s transaction: stored (its last 10), and the geofence flows the move crosses start (doc/flows.md)';
