-- Account packages (Tencent Push's push to accounts): uploaded lists of accounts that a push can target by upload_id.
-- Parsing, de-duplication and loading are in C (src/package.c); doc/account_packages.md has the rules.

CREATE OR REPLACE FUNCTION push_account_package_upload(app text, filename text, content bytea,
                                            account_type int DEFAULT 0) RETURNS bigint
AS 'MODULE_PATHNAME', 'pushplan_account_package_upload'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pushplan, pg_temp;
COMMENT ON FUNCTION push_account_package_upload(text, text, bytea, int) IS
    'stores a .txt, .csv or .zip account package (at most 100 MB) and returns its upload_id';

-- Internal, for tests: the accounts an upload would store (sorted, de-duplicated), with the
-- size limits lowered so that the zip-bomb guards can be exercised with small fixtures.
CREATE OR REPLACE FUNCTION _account_package_parse(filename text, content bytea,
                                       max_bytes bigint DEFAULT 104857600,
                                       ratio_floor bigint DEFAULT 1048576) RETURNS text[]
AS 'MODULE_PATHNAME', 'pushplan_account_package_parse'
LANGUAGE C IMMUTABLE STRICT;
REVOKE EXECUTE ON FUNCTION _account_package_parse(text, bytea, bigint, bigint) FROM PUBLIC;

CREATE OR REPLACE VIEW push_account_packages WITH (security_barrier) AS
    SELECT a.app, p.upload_id, p.filename, p.account_type, p.account_count, p.byte_size,
           p.created_at
    FROM account_packages p JOIN apps a USING (app_id)
    WHERE a.app_id = ANY ((SELECT _visible_apps('operator'))::int[]);

CREATE OR REPLACE FUNCTION push_account_package_delete(app text, upload_id bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pushplan, pg_temp AS $$
DECLARE
    v_app_id int := _app_id(app, 'operator');
BEGIN
    DELETE FROM account_packages p
        WHERE p.app_id = v_app_id AND p.upload_id = push_account_package_delete.upload_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION '92230: account package % does not exist in app "%"', upload_id, app
            USING ERRCODE = '42704';
    END IF;
END $$;
