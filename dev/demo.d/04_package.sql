-- The package goes in as bytes; here the server reads the file (pg_read_binary_file needs a
-- superuser or pg_read_server_files). A client would send the bytes itself, e.g. with psql's
-- \set content `base64 -w0 winners_618.zip` and decode(:'content', 'base64').
\set ECHO queries
SELECT push_account_package_upload(:'app', 'winners_618.zip', pg_read_binary_file(:'zip'), 1)
    AS upload_id \gset
\set ECHO none
\echo 'uploaded: upload_id' :upload_id '(duplicates, blank rows, BOM, CR and padding cleaned away)'
SELECT upload_id, filename, account_type, account_count, byte_size
FROM push_account_packages WHERE app = :'app' ORDER BY upload_id;
