SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
RESET client_min_messages;
SET search_path = pushplan, public;
\set SHOW_CONTEXT never

-- Account packages (Tencent Push's push to accounts): .txt, .csv and .zip uploads, their rules and errors.
-- The .zip fixtures were built with python3 zipfile and zip -P, then base64-encoded:
--   zip_txt       accounts.txt: BOM, CRLF, a blank row and a duplicate
--   zip_csv       LIST.CSV with RFC 4180 quoting
--   zip_two       two .txt entries             zip_folder  "dir/" and "dir/a.txt"
--   zip_path      "dir/a.txt" only             zip_png     logo.png
--   zip_empty     no entry at all              enc         secret.txt under zip -P
--   zip_ratio     90000 bytes of "aa\n" deflated to 108 bytes (ratio over 800)
--   zip_lie_ratio the same, its local and central headers patched to declare 100 bytes
--   zip_declared_huge  "alice\n", its headers patched to declare 200 MB
--   zip_truncated the first half of zip_txt    zip_baddata a deflate stream with flipped bytes
\set zip_txt 'UEsDBBQAAAAIANetdl1ZcpVgFgAAAB0AAAAMAAAAYWNjb3VudHMudHh0e797f1V+Ki9XYk5mMpDi5UrKT4LzAFBLAQIUAxQAAAAIANetdl1ZcpVgFgAAAB0AAAAMAAAAAAAAAAAAAACAAQAAAABhY2NvdW50cy50eHRQSwUGAAAAAAEAAQA6AAAAQAAAAAAA'
\set zip_csv 'UEsDBBQAAAAIANetdl3rRfcxFQAAABMAAAAIAAAATElTVC5DU1ZTSlRSSlLiUqrQqVTiSk4sys/hAgBQSwECFAMUAAAACADXrXZd60X3MRUAAAATAAAACAAAAAAAAAAAAAAAgAEAAAAATElTVC5DU1ZQSwUGAAAAAAEAAQA2AAAAOwAAAAAA'
\set zip_two 'UEsDBBQAAAAIANetdl0cXEjaCAAAAAYAAAAFAAAAYS50eHRLzMlMTuUCAFBLAwQUAAAACADXrXZdsoz+RAYAAAAEAAAABQAAAGIudHh0S8pP4gIAUEsBAhQDFAAAAAgA1612XRxcSNoIAAAABgAAAAUAAAAAAAAAAAAAAIABAAAAAGEudHh0UEsBAhQDFAAAAAgA1612XbKM/kQGAAAABAAAAAUAAAAAAAAAAAAAAIABKwAAAGIudHh0UEsFBgAAAAACAAIAZgAAAFQAAAAAAA=='
\set zip_folder 'UEsDBBQAAAAAAAAAIQAAAAAAAAAAAAAAAAAEAAAAZGlyL1BLAwQUAAAACADXrXZdHFxI2ggAAAAGAAAACQAAAGRpci9hLnR4dEvMyUxO5QIAUEsBAhQDFAAAAAAAAAAhAAAAAAAAAAAAAAAAAAQAAAAAAAAAAAAAAIABAAAAAGRpci9QSwECFAMUAAAACADXrXZdHFxI2ggAAAAGAAAACQAAAAAAAAAAAAAAgAEiAAAAZGlyL2EudHh0UEsFBgAAAAACAAIAaQAAAFEAAAAAAA=='
\set zip_path 'UEsDBBQAAAAIANetdl0cXEjaCAAAAAYAAAAJAAAAZGlyL2EudHh0S8zJTE7lAgBQSwECFAMUAAAACADXrXZdHFxI2ggAAAAGAAAACQAAAAAAAAAAAAAAgAEAAAAAZGlyL2EudHh0UEsFBgAAAAABAAEANwAAAC8AAAAAAA=='
\set zip_png 'UEsDBBQAAAAIANetdl2kCQd6CgAAAAgAAAAIAAAAbG9nby5wbmfrDPBz5+WS4gIAUEsBAhQDFAAAAAgA1612XaQJB3oKAAAACAAAAAgAAAAAAAAAAAAAAIABAAAAAGxvZ28ucG5nUEsFBgAAAAABAAEANgAAADAAAAAAAA=='
\set zip_empty 'UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=='
\set zip_ratio 'UEsDBBQAAAAIANqtdl0qFR1ibAAAAJBfAQAHAAAAcmVwLnR4dO3CQQ0AAAwDof9cnn8T89FAqEtVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVXXxA1BLAQIUAxQAAAAIANqtdl0qFR1ibAAAAJBfAQAHAAAAAAAAAAAAAACAAQAAAAByZXAudHh0UEsFBgAAAAABAAEANQAAAJEAAAAAAA=='
\set zip_lie_ratio 'UEsDBBQAAAAIANqtdl0qFR1ibAAAAGQAAAAHAAAAbGllLnR4dO3CQQ0AAAwDof9cnn8T89FAqEtVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVVXXxA1BLAQIUAxQAAAAIANqtdl0qFR1ibAAAAGQAAAAHAAAAAAAAAAAAAACAAQAAAABsaWUudHh0UEsFBgAAAAABAAEANQAAAJEAAAAAAA=='
\set zip_declared_huge 'UEsDBBQAAAAIANetdl0cXEjaCAAAAAAAgAwHAAAAbGllLnR4dEvMyUxO5QIAUEsBAhQDFAAAAAgA1612XRxcSNoIAAAAAACADAcAAAAAAAAAAAAAAIABAAAAAGxpZS50eHRQSwUGAAAAAAEAAQA1AAAALQAAAAAA'
\set zip_truncated 'UEsDBBQAAAAIANetdl1ZcpVgFgAAAB0AAAAMAAAAYWNjb3VudHMudHh0e797f1V+Ki9XYk5mMpDi5UrKT4LzAFBLAQIUAxQA'
\set zip_baddata 'UEsDBBQAAAAIANetdl3qKydbFQAAAFAAAAAFAAAAYy50eHRLzMlMThq1NbAdtbHTNTDhSqSQDwBQSwECFAMUAAAACADXrXZd6isnWxUAAABQAAAABQAAAAAAAAAAAAAAgAEAAAAAYy50eHRQSwUGAAAAAAEAAQAzAAAAOAAAAAAA'
\set enc 'UEsDBAoACQAAANetdl0cXEjaEgAAAAYAAAAKABwAc2VjcmV0LnR4dFVUCQADxmIDa8ZiA2t1eAsAAQQAAAAABAAAAADumt917IJHHuBIaqWcxZPs68RQSwcIHFxI2hIAAAAGAAAAUEsBAh4DCgAJAAAA1612XRxcSNoSAAAABgAAAAoAGAAAAAAAAQAAAKSBAAAAAHNlY3JldC50eHRVVAUAA8ZiA2t1eAsAAQQAAAAABAAAAABQSwUGAAAAAAEAAQBQAAAAZgAAAAAA'

SELECT push_app_create('pkg_app');
SELECT push_app_create('pkg_other');

-- What this test has stored, checked after every error: an error writes nothing.
CREATE TEMP VIEW pkg_state AS
    SELECT (SELECT count(*) FROM account_packages p JOIN apps a USING (app_id)
            WHERE a.app LIKE 'pkg\_%') AS packages,
           (SELECT count(*) FROM account_package_accounts x JOIN account_packages p USING (upload_id)
            JOIN apps a USING (app_id) WHERE a.app LIKE 'pkg\_%') AS accounts;

-- .txt: one account a row; blank and whitespace-only rows skipped, spaces and tabs around an
-- account trimmed, duplicates stored once; accounts are counted in characters, not bytes.
SELECT push_account_package_upload('pkg_app', 'users.txt',
    convert_to(E'alice\n  bob\t\n\n \t \nalice\n深圳\n' || repeat('账', 100) || E'\ncarol', 'UTF8'))
    AS txt_id \gset
SELECT app, filename, account_type, account_count, byte_size, created_at IS NOT NULL AS created
    FROM push_account_packages WHERE upload_id = :txt_id;
SELECT left(account, 10) AS account, length(account), octet_length(account)
    FROM account_package_accounts WHERE upload_id = :txt_id ORDER BY account;

-- BOM and CRLF, an upper-case extension, an account type.
SELECT push_account_package_upload('pkg_app', 'USERS.TXT',
    '\xefbbbf'::bytea || convert_to(E'dave\r\nerin\r\n\r\ndave\r\n', 'UTF8'), 3) AS bom_id \gset
SELECT filename, account_type, account_count FROM push_account_packages WHERE upload_id = :bom_id;
SELECT account FROM account_package_accounts WHERE upload_id = :bom_id ORDER BY account;

-- .csv: one column, RFC 4180 quoting ("" is a quote, a quoted value may hold a comma or
-- span lines), spaces around the quotes ignored, an empty quoted value is a blank row.
SELECT push_account_package_upload('pkg_app', 'list.csv',
    convert_to(E'"a""b"\r\n"x,y"\n  "  frank "  \nfrank\n""\n"two words"\ngina', 'UTF8'), 1)
    AS csv_id \gset
SELECT filename, account_type, account_count FROM push_account_packages WHERE upload_id = :csv_id;
SELECT account FROM account_package_accounts WHERE upload_id = :csv_id ORDER BY account;

-- .zip holding a .txt (BOM, CRLF, blank row, duplicate) and a .zip holding a .CSV.
SELECT push_account_package_upload('pkg_app', 'Accounts.Zip', decode(:'zip_txt', 'base64'))
    AS ziptxt_id \gset
SELECT filename, account_count, byte_size FROM push_account_packages WHERE upload_id = :ziptxt_id;
SELECT account FROM account_package_accounts WHERE upload_id = :ziptxt_id ORDER BY account;
SELECT push_account_package_upload('pkg_app', 'list.zip', decode(:'zip_csv', 'base64'), 2)
    AS zipcsv_id \gset
SELECT filename, account_type, account_count FROM push_account_packages WHERE upload_id = :zipcsv_id;
SELECT account FROM account_package_accounts WHERE upload_id = :zipcsv_id ORDER BY account;

-- The parser alone (the test helper): sorted, de-duplicated.
SELECT _account_package_parse('a.txt', convert_to(E'zz\nyy\nzz\n  xx  ', 'UTF8'));
SELECT _account_package_parse('a.txt', convert_to(E'ab\nab', 'UTF8'));

-- A filename of exactly 100 characters (multi-byte) is fine.
SELECT push_account_package_upload('pkg_other', repeat('名', 96) || '.csv',
    convert_to('henry', 'UTF8')) IS NOT NULL AS uploaded;

SELECT * FROM pkg_state;

-- Errors.  Each is followed by the stored state, unchanged.
SELECT push_account_package_upload('nope', 'a.txt', convert_to('alice', 'UTF8'));
SELECT push_account_package_upload(NULL, 'a.txt', convert_to('alice', 'UTF8'));
SELECT * FROM pkg_state;
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to('alice', 'UTF8'), -1);
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to('alice', 'UTF8'), NULL);
SELECT * FROM pkg_state;
SELECT push_account_package_upload('pkg_app', '', convert_to('alice', 'UTF8'));
SELECT push_account_package_upload('pkg_app', repeat('名', 97) || '.txt', convert_to('alice', 'UTF8'));
SELECT push_account_package_upload('pkg_app', NULL, convert_to('alice', 'UTF8'));
SELECT * FROM pkg_state;
SELECT push_account_package_upload('pkg_app', 'users.xlsx', convert_to('alice', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'users', convert_to('alice', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'users.txt.gz', convert_to('alice', 'UTF8'));
SELECT * FROM pkg_state;
SELECT push_account_package_upload('pkg_app', 'a.txt', ''::bytea);
SELECT push_account_package_upload('pkg_app', 'a.txt', NULL);
SELECT * FROM pkg_state;
-- 100 MB (104,857,600 bytes) is the most; one byte more is refused before any parsing.
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to(repeat('a', 104857601), 'UTF8'));
SELECT * FROM pkg_state;

-- Contents: invalid UTF-8 (a stray byte, an overlong form, a sequence cut short), a NUL byte.
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to(E'alice\n', 'UTF8') || '\xff41'::bytea);
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to(E'alice\nbob\n', 'UTF8') || '\xc0af'::bytea);
SELECT push_account_package_upload('pkg_app', 'a.csv', convert_to(E'alice\n', 'UTF8') || '\xe6b7'::bytea);
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to(E'alice\n', 'UTF8') || '\x626f00'::bytea);
SELECT * FROM pkg_state;
-- Account length: 2..100 characters, after trimming.
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to(E'alice\n\n  b  \n', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to(E'alice\n' || repeat('账', 101), 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to(E'alice\n' || repeat('x', 500), 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.csv', convert_to(E'"alice"\n"b"', 'UTF8'));
SELECT * FROM pkg_state;
-- Accounts hold no control character (C0, DEL, C1) and are not only white space, even quoted.
SELECT push_account_package_upload('pkg_app', 'a.csv', convert_to(E'alice\n"multi\nline"', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to(E'alice\nbo\tb', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to(E'alice\n\x1b[31mred', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to(E'alice\nde\x7fl', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to(E'alice\nc1' || chr(133), 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to(E'alice\n' || chr(160) || chr(12288), 'UTF8'));
SELECT * FROM pkg_state;
-- CSV: one column only, and well-formed quoting.
SELECT push_account_package_upload('pkg_app', 'a.csv', convert_to(E'alice\nbob,carol', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.csv', convert_to(E'alice,\n', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.csv', convert_to(E'alice\n\n"bob" , "carol"', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.csv', convert_to(E'alice\n"bob\ncarol', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.csv', convert_to(E'"ali"ce\n', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.csv', convert_to(E'alice\nbo"b', 'UTF8'));
SELECT * FROM pkg_state;
-- No account at all.
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to(E'\n  \r\n\t\n', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.txt', '\xefbbbf'::bytea);
SELECT push_account_package_upload('pkg_app', 'a.csv', convert_to(E'""\n  ""  \n', 'UTF8'));
SELECT * FROM pkg_state;

-- Zip: one .txt or .csv entry, no folders, no encryption, readable.
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_two', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_empty', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_folder', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_path', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_png', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'enc', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_truncated', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.zip', convert_to('alice', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_baddata', 'base64'));
SELECT * FROM pkg_state;
-- Zip bombs.  A header declaring more than 100 MB is refused before inflating anything:
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_declared_huge', 'base64'));
SELECT * FROM pkg_state;
-- The same guards with the limits lowered (test helper): the declared size, the size actually
-- inflated when the header lies, and the ratio, both declared and inflated.
SELECT _account_package_parse('a.zip', decode(:'zip_ratio', 'base64'), 1000, 1048576);
SELECT _account_package_parse('a.zip', decode(:'zip_lie_ratio', 'base64'), 1000, 1048576);
SELECT _account_package_parse('a.zip', decode(:'zip_ratio', 'base64'), 104857600, 1000);
SELECT _account_package_parse('a.zip', decode(:'zip_lie_ratio', 'base64'), 104857600, 1000);
-- With the real limits both inflate fully (90000 bytes is under the 1 MB ratio floor); the lying
-- one is then refused because what it inflated to is not what it declared.
SELECT cardinality(_account_package_parse('a.zip', decode(:'zip_ratio', 'base64')));
SELECT _account_package_parse('a.zip', decode(:'zip_lie_ratio', 'base64'));
-- The helper can only lower the limits.
SELECT _account_package_parse('a.txt', convert_to(repeat('a', 2000), 'UTF8'), 1000, 1000);
SELECT _account_package_parse('a.txt', convert_to('alice', 'UTF8'), 0, 1000);
SELECT * FROM pkg_state;

-- Deleting a package removes its accounts.
SELECT push_account_package_delete('pkg_app', :txt_id);
SELECT count(*) FROM account_package_accounts WHERE upload_id = :txt_id;
SELECT count(*) FROM push_account_packages WHERE upload_id = :txt_id;
SELECT * FROM pkg_state;
SELECT push_account_package_delete('pkg_app', 9999999999);
-- (upload ids depend on what other tests uploaded before: print them as N)
DO $$
BEGIN
    PERFORM push_account_package_delete('pkg_other',
        (SELECT upload_id FROM push_account_packages WHERE app = 'pkg_app' AND filename = 'USERS.TXT'));
EXCEPTION WHEN undefined_object THEN
    RAISE NOTICE '%', regexp_replace(SQLERRM, 'package \d+', 'package N');
END $$;
SELECT push_account_package_delete('nope', :bom_id);
SELECT * FROM pkg_state;

-- Hostile packages (built with python3 zipfile as above): a zip inside a zip, a zip named .txt
-- inside a zip, entry names that climb out (../, an absolute path, backslashes), other encodings
-- (UTF-16 with either BOM, GBK, Latin-1, in a zip or not), an empty entry, and 100 MB + 1 byte
-- whatever the type. Nothing is ever extracted to a file: entry names are only read.
\set zip_nested 'UEsDBBQAAAAIAAAAIVyfhs98SAAAAHgAAAAJAAAAaW5uZXIuemlwC/BmZhFhYGDgAGLFmDZfw1QeIIsLiFmBOFGvpKLE+8xJH7+nXqf8HzExBHgzMokw49YAAw2MDDDtAd6sbCAOIxAaA2l9sAIAUEsBAhQDFAAAAAgAAAAhXJ+Gz3xIAAAAeAAAAAkAAAAAAAAAAAAAAIABAAAAAGlubmVyLnppcFBLBQYAAAAAAQABADcAAABvAAAAAAA='
\set zip_nested_txt 'UEsDBBQAAAAIAAAAIVyfhs98SAAAAHgAAAAJAAAAaW5uZXIudHh0C/BmZhFhYGDgAGLFmDZfw1QeIIsLiFmBOFGvpKLE+8xJH7+nXqf8HzExBHgzMokw49YAAw2MDDDtAd6sbCAOIxAaA2l9sAIAUEsBAhQDFAAAAAgAAAAhXJ+Gz3xIAAAAeAAAAAkAAAAAAAAAAAAAAIABAAAAAGlubmVyLnR4dFBLBQYAAAAAAQABADcAAABvAAAAAAA='
\set zip_dotdot 'UEsDBBQAAAAIAAAAIVwcXEjaCAAAAAYAAAAPAAAALi4vLi4vZXRjL2EudHh0S8zJTE7lAgBQSwECFAMUAAAACAAAACFcHFxI2ggAAAAGAAAADwAAAAAAAAAAAAAAgAEAAAAALi4vLi4vZXRjL2EudHh0UEsFBgAAAAABAAEAPQAAADUAAAAAAA=='
\set zip_abs 'UEsDBBQAAAAIAAAAIVwcXEjaCAAAAAYAAAAKAAAAL2V0Yy9hLnR4dEvMyUxO5QIAUEsBAhQDFAAAAAgAAAAhXBxcSNoIAAAABgAAAAoAAAAAAAAAAAAAAIABAAAAAC9ldGMvYS50eHRQSwUGAAAAAAEAAQA4AAAAMAAAAAAA'
\set zip_backslash 'UEsDBBQAAAAIAAAAIVwcXEjaCAAAAAYAAAALAAAALi5cLi5cYS50eHRLzMlMTuUCAFBLAQIUAxQAAAAIAAAAIVwcXEjaCAAAAAYAAAALAAAAAAAAAAAAAACAAQAAAAAuLlwuLlxhLnR4dFBLBQYAAAAAAQABADkAAAAxAAAAAAA='
\set zip_utf16 'UEsDBBQAAAAIAAAAIVzM7WEbFgAAABYAAAAFAAAAYS50eHT7/y+RIYchkyGZIZWBiyGJIR+IuRgAUEsBAhQDFAAAAAgAAAAhXMztYRsWAAAAFgAAAAUAAAAAAAAAAAAAAIABAAAAAGEudHh0UEsFBgAAAAABAAEAMwAAADkAAAAAAA=='
\set zip_emptyentry 'UEsDBBQAAAAIAAAAIVwAAAAAAgAAAAAAAAAFAAAAYS50eHQDAFBLAQIUAxQAAAAIAAAAIVwAAAAAAgAAAAAAAAAFAAAAAAAAAAAAAACAAQAAAABhLnR4dFBLBQYAAAAAAQABADMAAAAlAAAAAAA='
\set zip_gbk 'UEsDBBQAAAAIAAAAIVykEp+oDQAAAAoAAAAFAAAAYS50eHS7evTEX64D704f4QIAUEsBAhQDFAAAAAgAAAAhXKQSn6gNAAAACgAAAAUAAAAAAAAAAAAAAIABAAAAAGEudHh0UEsFBgAAAAABAAEAMwAAADAAAAAAAA=='
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_nested', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_nested_txt', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_dotdot', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_abs', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_backslash', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_utf16', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_gbk', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.zip', decode(:'zip_emptyentry', 'base64'));
SELECT push_account_package_upload('pkg_app', 'a.txt', '\xfffe61006c0069006300650000'::bytea);
SELECT push_account_package_upload('pkg_app', 'a.txt', '\xfeff0061006c0069006300650000'::bytea);
SELECT push_account_package_upload('pkg_app', 'a.csv', convert_to('张三', 'GBK'));
SELECT push_account_package_upload('pkg_app', 'a.txt', convert_to('alicé', 'LATIN1'));
SELECT push_account_package_upload('pkg_app', 'a.zip', convert_to(repeat('a', 104857601), 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.csv', convert_to(repeat('a', 104857601), 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a.zip', ''::bytea);
SELECT * FROM pkg_state;
-- The upload's own filename is a label shown in push_account_packages, never a path: one that
-- climbs is stored as it is; one with a line break or an escape is refused (92944).
SELECT push_account_package_upload('pkg_app', E'a\nb.txt', convert_to('alice', 'UTF8'));
SELECT push_account_package_upload('pkg_app', E'\x1b[2Ja.csv', convert_to('alice', 'UTF8'));
SELECT push_account_package_upload('pkg_app', 'a' || chr(133) || '.zip', convert_to('alice', 'UTF8'));
SELECT * FROM pkg_state;
SELECT push_account_package_upload('pkg_app', '../../etc/passwd.txt', convert_to('alice', 'UTF8')) IS NOT NULL AS stored_as_label;
SELECT filename FROM push_account_packages WHERE app = 'pkg_app' AND filename LIKE '../%';
