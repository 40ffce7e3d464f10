SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pushplan;
CREATE EXTENSION IF NOT EXISTS pushplan_test;
RESET client_min_messages;
SET search_path = pushplan, public;

-- Throwaway fixture keys, made once with the openssl CLI:
--   ec_p8:      openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256   (as an APNs .p8)
--   ec_trad:    the same key as openssl ec writes it ("EC PRIVATE KEY")
--   ec_enc:     the same key, openssl pkcs8 -topk8 -v2 aes-256-cbc
--   ec_p384:    ec_paramgen_curve:P-384
--   ed25519:    openssl genpkey -algorithm ED25519
--   rsa:        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048
--   rsa_trad:   the same key, openssl rsa -traditional ("RSA PRIVATE KEY")
--   rsa_enc:    the same key, openssl rsa -aes256 -traditional (Proc-Type: 4,ENCRYPTED)
--   rsa1024:    rsa_keygen_bits:1024
--   ec_pub:     the public half of ec_p8
CREATE TEMP TABLE jwt_keys (name text PRIMARY KEY, pem text NOT NULL);
INSERT INTO jwt_keys VALUES
('ec_p8', $pem$-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg6qdmz2CkkeqtN7Qg
YEJKcu4EJowVPVLv26OsadMpqu6hRANCAAROLyalzNwyGyHIYDJUy70hJgMxwlnZ
c0KgmozCXydJgbXqMZxlmWUEJmBcT1Q4wkzYCuSYEskhMAzo/h5piSq8
-----END PRIVATE KEY-----
$pem$),
('ec_trad', $pem$-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIOqnZs9gpJHqrTe0IGBCSnLuBCaMFT1S79ujrGnTKaruoAoGCCqGSM49
AwEHoUQDQgAETi8mpczcMhshyGAyVMu9ISYDMcJZ2XNCoJqMwl8nSYG16jGcZZll
BCZgXE9UOMJM2ArkmBLJITAM6P4eaYkqvA==
-----END EC PRIVATE KEY-----
$pem$),
('ec_enc', $pem$-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAiH3eTUeC+FPgICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEGDQByqvtBtU6fR6b/oI19MEgZCK
F3ebhAl2FnooUajGd5a8iOcXTYTc7ODOVM3n99ruWepcdT1XCcAs0ZAoC6s77WH5
lA5MoYPvaQiU1uJlUx6Lc2mNerWgjp0r99OdJfgVlLUTJNo6wF0+zZD+D+TBov50
58rBOSqAZK9c2c0Q+VzAzDacZb2WWZpe2+VC64MGCDnRt2UTsxiBoBWZWLv9LuA=
-----END ENCRYPTED PRIVATE KEY-----
$pem$),
('ec_p384', $pem$-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDpt8FHmW+iufuj4sP2
M0BPSunNTxv/4ng6ZijvKFXtOvWvMgQkjuKmTjx2dPqzZhOhZANiAASJqYNJ53GZ
xkpwhS3B12VLKC1dyp5kj8CejIodLC5NRu2knhwVjP7CgiNnLagEGzkEHTqBV9yy
cM8W92BehmvnZ5Ee5azt+p+g9b+k+UFm5vxvYGWsBkXtC7+iKS8MfUw=
-----END PRIVATE KEY-----
$pem$),
('ed25519', $pem$-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIKDQr4VYH3Ea4AVO6wAYWRYJZL9pIjKpH68btLWxHVsS
-----END PRIVATE KEY-----
$pem$),
('rsa', $pem$-----BEGIN PRIVATE KEY-----
MIIEvAIBADANBgkqhkiG9w0BAQEFAASCBKYwggSiAgEAAoIBAQCVvIld/QqWRjKv
z+ugNQJvrvMyNR1Z8zanWquPLw5SpXQTPZ9jzLGaVyQrE7BDNzuaQ/Na94P79Nyi
Tleg8KRpzzSqLpU10xbawcNXQ/kEQuD09b6VDsA2f6zFVM6Oi66qORVSuFyG53kT
3aK9JmLwDzbsxX0Uw2wpv8gff0F91+AfM+cKrOfILo3wa9kHONot/YfSnzcuUmeK
ENLJXk0yzHZE3vrSuH+wDqfozGUoFeMWZdJaQpvSHO2T6XtnQ7fsa2azc7PeYbLu
8+CC4ZE0Ab6LhkOO4IDKEy9AnJ0GOJ+uEuHfICPFTmxbW+rylEl9BJAIzLc5Jcyt
4SvX1FqZAgMBAAECggEAHzDAPoNMtsPVoBjEAMG6CbCcORumSwvmGRNChFdteNq9
JJrj/kJvxnIbdxupTj8Nm9NGuG6xoATABtEh4MTvwpimZELC0wzvCE9vVNi0YOZb
fLtJ4TvK3y9WOl6xjjDbh9rPLcV4hKNn7bLvyM3bsxzAOK7koLQablHkKmd0KXXC
N3arusrTx3hWJZBsFDuxOKg9Bc6+xmIpP20VQI6NE1OVEbIBZGlbPXTrRoA9ZDfA
vf5cTl0Rntg/RcjPhMg95Z3pF1C5GGZ3BdUgXxg9U5JJPy0CeLJx04ZnTXXT1WWL
B6IDt+2zmmw1kRbj2XAIA6atgNxhLZaJMwpj26GMOQKBgQDMBChj/9l1ttf0EWpu
EaV4By8Q9u8B7NGb6XZKSCX4zZERk65RmU7KRhPtvE79mr8dszAKRtOIUvmCNuBn
RQbB0RctXFiCUKHuJmvTalDCpqbs6Oa6vFg7LdQ80N9m7snMfAKzI2J8nvCZ47x8
3kA4X/tnyuyTWcIkbNPKFKuwBQKBgQC7477ze6sNItdyiiFekgEO8KsyYenvpOSE
01nj07Ab4K1Hgg3iAinQ49Im3WkDXhlBEK2mwgNHEVN62jdh3t1lKWzVMC3yoJgg
lw879rccP1UyUId7Sd/6HP8R3kX8lS4juZY6dGrI8u6N5KHI2q0Oza5OxwPQ6X4t
YtyDxQbIhQKBgC9vkAygQmmyV8fx/LMW+0hLM1BYef4SmDIOOGjRGbMd6OsTUWa7
pKw3Ww7dx+gDgQhgz3y0Nx7tXAJAzDB2xjlualsrq5CxOtVqrYt8nsaDhTB0fqFQ
hZtM7potXqRKRTV8aAxK3+1l7z94yiymaHwzJPtfHV6tcgySGTRVVg4ZAoGAA2T5
7iwtyu72NXuJXswEeOCgNyjNsSapejzXQuZwKBDHEKOo3IxtdPios0sMuqLYkfRb
LsgShxYpC+8lUP9VwJ4e+TsFmXyNQwl3nP24ESqTv3T0/aU4Bqy/bvM1EHshekPA
Ew5HX5oD9UxMH/TTa5ELtSCjUQLm5KsEkNzeYoECgYAKNXBeF3IMlxZ+8RnKGNT2
/GeaLc2pXLcjK0su77RIxdoF28d+MNcJzcIJHfuC//3UlfVF/iBU50+eeHLJGrDV
WG3p5Lw1u39CGmZ917r1Qt8RPbs2LZ2tVDDLsZl1SPhrU+etOXAZLM2Yk5QWFWpb
y0w4s3YMLdfA+x07VzrXjg==
-----END PRIVATE KEY-----
$pem$),
('rsa_trad', $pem$-----BEGIN RSA PRIVATE KEY-----
MIIEogIBAAKCAQEAlbyJXf0KlkYyr8/roDUCb67zMjUdWfM2p1qrjy8OUqV0Ez2f
Y8yxmlckKxOwQzc7mkPzWveD+/Tcok5XoPCkac80qi6VNdMW2sHDV0P5BELg9PW+
lQ7ANn+sxVTOjouuqjkVUrhchud5E92ivSZi8A827MV9FMNsKb/IH39BfdfgHzPn
CqznyC6N8GvZBzjaLf2H0p83LlJnihDSyV5NMsx2RN760rh/sA6n6MxlKBXjFmXS
WkKb0hztk+l7Z0O37Gtms3Oz3mGy7vPgguGRNAG+i4ZDjuCAyhMvQJydBjifrhLh
3yAjxU5sW1vq8pRJfQSQCMy3OSXMreEr19RamQIDAQABAoIBAB8wwD6DTLbD1aAY
xADBugmwnDkbpksL5hkTQoRXbXjavSSa4/5Cb8ZyG3cbqU4/DZvTRrhusaAEwAbR
IeDE78KYpmRCwtMM7whPb1TYtGDmW3y7SeE7yt8vVjpesY4w24fazy3FeISjZ+2y
78jN27McwDiu5KC0Gm5R5CpndCl1wjd2q7rK08d4ViWQbBQ7sTioPQXOvsZiKT9t
FUCOjRNTlRGyAWRpWz1060aAPWQ3wL3+XE5dEZ7YP0XIz4TIPeWd6RdQuRhmdwXV
IF8YPVOSST8tAniycdOGZ01109VliweiA7fts5psNZEW49lwCAOmrYDcYS2WiTMK
Y9uhjDkCgYEAzAQoY//ZdbbX9BFqbhGleAcvEPbvAezRm+l2Skgl+M2REZOuUZlO
ykYT7bxO/Zq/HbMwCkbTiFL5gjbgZ0UGwdEXLVxYglCh7iZr02pQwqam7OjmurxY
Oy3UPNDfZu7JzHwCsyNifJ7wmeO8fN5AOF/7Z8rsk1nCJGzTyhSrsAUCgYEAu+O+
83urDSLXcoohXpIBDvCrMmHp76TkhNNZ49OwG+CtR4IN4gIp0OPSJt1pA14ZQRCt
psIDRxFTeto3Yd7dZSls1TAt8qCYIJcPO/a3HD9VMlCHe0nf+hz/Ed5F/JUuI7mW
OnRqyPLujeShyNqtDs2uTscD0Ol+LWLcg8UGyIUCgYAvb5AMoEJpslfH8fyzFvtI
SzNQWHn+EpgyDjho0RmzHejrE1Fmu6SsN1sO3cfoA4EIYM98tDce7VwCQMwwdsY5
bmpbK6uQsTrVaq2LfJ7Gg4UwdH6hUIWbTO6aLV6kSkU1fGgMSt/tZe8/eMospmh8
MyT7Xx1erXIMkhk0VVYOGQKBgANk+e4sLcru9jV7iV7MBHjgoDcozbEmqXo810Lm
cCgQxxCjqNyMbXT4qLNLDLqi2JH0Wy7IEocWKQvvJVD/VcCeHvk7BZl8jUMJd5z9
uBEqk7909P2lOAasv27zNRB7IXpDwBMOR1+aA/VMTB/002uRC7Ugo1EC5uSrBJDc
3mKBAoGACjVwXhdyDJcWfvEZyhjU9vxnmi3NqVy3IytLLu+0SMXaBdvHfjDXCc3C
CR37gv/91JX1Rf4gVOdPnnhyyRqw1Vht6eS8Nbt/Qhpmfde69ULfET27Ni2drVQw
y7GZdUj4a1PnrTlwGSzNmJOUFhVqW8tMOLN2DC3XwPsdO1c6144=
-----END RSA PRIVATE KEY-----
$pem$),
('rsa_enc', $pem$-----BEGIN RSA PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: AES-256-CBC,1910BB8D0DDC86669BDF0448FF267794

HlKHu+PAHKUU8s35mWTD6wgsTkii0xEXZMEKWKKjVvee/nz7We5G9pknTiOmlY7R
qD48AMs8j+C5IObwMTQDqnmNmdIMT5mNnoK0KOQKOBnxCOdKE0qEI5JSLFsUfU/1
gdz3W/6Gj24HfSNFywYixXPxzBnouZpVd7g1y2B4pFJvdGwD92SLKvuCeRSwpxkA
TjIn0EzG4oO73Ki+aLc4tAdjmnDlmCQEX/aJAmMVJHSMm3p1Ocle4ygzRPL0XnhC
SsMR9LFYzAaIOwLpdGALG5y1O45KCksDpNZ74CLErReSx5Nf57xWqWdZ0x8NaI6X
pigO9s42OrS9KhiN6mtFLlD562U85/W7l6YLBNPcBV3F8v2eBo5/GU8QL0JHS7w9
qp5CoKkWW1CuUR3rR53mN0pjrwt92lwff8LA/2fBMH60VmEtwteP+zwKeFiIv/6m
6NSbbdJG3QMV5MwlPyGeOaHjuLwl6BnEHYZshbAECSsNu/y+Hx/XQVDMk+xnHata
xq8F07YA2WQ+ACmQ0FLgCFgVNAHitWhdUEJ86cbiANj0UC36uhjq5Dd18zmkYxUj
hpU4wDwHyqcHmqJmXUZbVIBflA8FbS0QvMdlinDSzvD8wCaxyex2anWIXD0IKtFv
lCQmfWkPv9ugmLoZYiTcLuNyZJ6nXc5rqo9opDeY4gwLog56fK1xQPedpqtYOKyF
K6mnGtqXV96q6JGy5p440/Epady0Wi8u+FFqC7g4aVWK86aSqjqCxxAfobXfbU2e
xeLza8hLUenvDSGeOasx23UfKud5ZE8nQhhokOWQAhDAMTOIQ1RM2cvJU89XEMpa
FeSXv25vDvhZIUur+JdB2O8jihi12uWCh1visEewA1bXjXEcDgHLXX3mVdvSY/lG
ZTTXfkge+H/kgAIuSIV0yD5/Bl11hRc4Uinrni4B+wa06ptmQxzJkm/6545SIXOQ
MQhOd+Py7nOx9NSCLUvDppZjCTd73EYKQE85ochJDMih6tw8gk1ejdYZY26p4xVw
VpYMNoC4nDhYjCZYGXVnXnqtEzqdmSoqqeBMkJA3OdeFCaN2TejiXw0NppL5wL6M
NxcBfBvLFbQ1UfTyuxzU7P8VHFGD0Psudd6ZVlfEmJJt6tl7CckLp7aOMC+7jZun
YivagMx8RcmNkUiYcFE62cnyMdmS4nSMGrZH+BIMtJzC7Cf3gj1B0R4u+9OYvRbp
NnKyV+9hBmi4Mavx3+zPTSsFc0YVXb83w9QGccbfCH4afgC8HUZnabwmtAKL9G4J
XGMulPMomZluZTbg0OLuIvy1AsqJhV1AZRj7aKxpeM2NEWS2htHBXnNn+NLuzt5o
NyE0xDjWg4cAQXRyUk+ShLpa/PFzjn/FOV9fk9hEoSvZSdE5JxV0P8B9zxTnrxw2
QXjM+5Rfr2PVysyoEfQ5O2GR/wFRdlRfZXJrNH75omI08Qqu/jLMX4RvByywSdn8
dSheXWndVi7fU82hrvvqqBl8CC1YNFpN6x66/If0batqi+9Qb5yu8s53Y/Ckd3Da
Ac0tgQcsMQurMEvDojpGZRmOw8Im4x+R+IjNLZMtSMX6HzPyIR6FwJtkXYlRN+2h
-----END RSA PRIVATE KEY-----
$pem$),
('rsa1024', $pem$-----BEGIN PRIVATE KEY-----
MIICdwIBADANBgkqhkiG9w0BAQEFAASCAmEwggJdAgEAAoGBANRby57d3CJQfGxP
jpK4tCaVGOpPMPh50+EZPDf1MKHCWOquHqGFsrB3lqhPMaXC0VdpMwlV9OfEtRMw
TJx7GY10vMVfP+IaSlYWZCWs8HaBKXlqbWflRj6TKVfh0KQONLolg3o/37dSlq0j
zLaCKacpsT8KMGBU/bEk8yaWAHwZAgMBAAECgYBwEzJX2geAJLJGB4bbcJfDdRT9
NGZH/SQRvNvHPKQ5+vQqh1KrNICmGbdthL5TGYqac274EmF6oJpgUjFctKs6wnlH
vZPW8kR5+R5Yi3DERAcfpfFOhFTY9ngLXTR8SrGVeeCEJ7zQhuixEH4P3KEDaeFx
5KRLHLtb/xIFaOMC8QJBAPMyJRZZZzPzHK7MT+IZlbY7r3XCNr4iz2mTnz74s/0Q
//Jlxs/leP1lAWhdT4upxJiYERKuGCBScNDYKiBtJMMCQQDfigSCIZGuNnLyO+W0
+w7xJ34gtwBSMJHOXMao8YGGiqo3dAupDM3kgYR3YNVm0R9ijUtotGf+ns+/+TPc
CZ3zAkBs99oAUpzYfSUr+WYNxDL9zW6IEDahKU3QW5HuEFftm5FjVlEn1AVLXNet
oKnExZPOX8y+lv0+dlIQcdsmXmErAkEA3yWZ5oW4NZ6pFGLypb3RZq6z29iS+3j8
tHIs5k1frX0S+pRfZ3wetLMOF1WU8jRkDi9aTcV54tWKMeuE92yqPQJBAMa10itc
TN08Z30nBM4RSFWkcYpB+/Kq++smktCb20bU1qKfbPtIWrXBxR7dPOW02vNZSG04
p6AkYNnP+iqPAJw=
-----END PRIVATE KEY-----
$pem$),
('ec_pub', $pem$-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAETi8mpczcMhshyGAyVMu9ISYDMcJZ
2XNCoJqMwl8nSYG16jGcZZllBCZgXE9UOMJM2ArkmBLJITAM6P4eaYkqvA==
-----END PUBLIC KEY-----
$pem$);

-- Helpers for reading tokens back: the decoded JSON of a part, the byte length of a part.
CREATE FUNCTION pg_temp.jwt_part(jwt text, n int) RETURNS text LANGUAGE sql AS
$$ SELECT convert_from(pushplan._base64url_decode(split_part(jwt, '.', n)), 'UTF8') $$;
CREATE FUNCTION pg_temp.jwt_sig_bytes(jwt text) RETURNS int LANGUAGE sql AS
$$ SELECT length(pushplan._base64url_decode(split_part(jwt, '.', 3))) $$;

-- ---- base64url -----------------------------------------------------------------------
-- RFC 4648 section 10 vectors (base64url drops the padding), and the two URL-safe letters.
SELECT v, _base64url_encode(convert_to(v, 'UTF8')) AS enc
FROM unnest(ARRAY['', 'f', 'fo', 'foo', 'foob', 'fooba', 'foobar']) v;
SELECT _base64url_encode('\xfbff'::bytea) AS url_safe, _base64url_decode('-_8') AS back;
-- Round trips of every length 0..70 over all byte values.
SELECT count(*) AS lengths,
       count(*) FILTER (WHERE _base64url_decode(_base64url_encode(b)) = b) AS round_trips,
       count(*) FILTER (WHERE _base64url_encode(b) ~ '^[A-Za-z0-9_-]*$'
                          AND length(_base64url_encode(b)) = ceil(length(b) * 4 / 3.0)) AS well_formed
FROM (SELECT n, decode(coalesce(string_agg(lpad(to_hex((i * 37 + n) % 256), 2, '0'), '' ORDER BY i), ''), 'hex') b
      FROM generate_series(0, 70) n LEFT JOIN generate_series(1, 70) i ON i <= n
      GROUP BY n) t;
-- Not base64url: padding, a length of 4k+1, non-canonical trailing bits, the standard
-- alphabet's + and /, white space.
SELECT _base64url_decode('Zm9v=');
SELECT _base64url_decode('Zm9vY');
SELECT _base64url_decode('Zh');
SELECT _base64url_decode('Zm9vYl');
SELECT _base64url_decode('Zm+v');
SELECT _base64url_decode('Zm/v');
SELECT _base64url_decode('Zm9 v');

-- ---- HMAC-SHA256: RFC 4231 test cases 1 to 7 -------------------------------------------
SELECT tc, CASE WHEN tc = 5 THEN left(mac, 32) ELSE mac END = expected AS ok
FROM (SELECT tc, _hmac_sha256_hex(key, data) AS mac, expected FROM (VALUES
    (1, decode(repeat('0b', 20), 'hex'), convert_to('Hi There', 'UTF8'),
     'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7'),
    (2, convert_to('Jefe', 'UTF8'), convert_to('what do ya want for nothing?', 'UTF8'),
     '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'),
    (3, decode(repeat('aa', 20), 'hex'), decode(repeat('dd', 50), 'hex'),
     '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe'),
    (4, decode('0102030405060708090a0b0c0d0e0f10111213141516171819', 'hex'),
     decode(repeat('cd', 50), 'hex'),
     '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b'),
    (5, decode(repeat('0c', 20), 'hex'), convert_to('Test With Truncation', 'UTF8'),
     'a3b6167473100ee06e0c796c2955552b'),
    (6, decode(repeat('aa', 131), 'hex'),
     convert_to('Test Using Larger Than Block-Size Key - Hash Key First', 'UTF8'),
     '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54'),
    (7, decode(repeat('aa', 131), 'hex'),
     convert_to('This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.', 'UTF8'),
     '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2')
    ) v(tc, key, data, expected)) t
ORDER BY tc;
-- The text form (webhook secrets) agrees with the bytes form; an empty key and data work.
SELECT _hmac_sha256_hex('Jefe', 'what do ya want for nothing?') AS tc2_text,
       _hmac_sha256_hex('', '') AS empty;

-- ---- key checks ----------------------------------------------------------------------
SELECT name, _pem_key_check(pem, 'ec_p256') AS ec_p256, _pem_key_check(pem, 'rsa') AS rsa
FROM jwt_keys ORDER BY name;
SELECT _pem_key_check('', 'rsa') AS empty, _pem_key_check(NULL, 'ec_p256') AS null_pem,
       _pem_key_check('-----BEGIN PRIVATE KEY-----
AAAA
-----END PRIVATE KEY-----', 'ec_p256') AS bad_body;
SELECT _pem_key_check(pem, 'ES256') FROM jwt_keys WHERE name = 'ec_p8';
SELECT _pem_key_check(pem, NULL) FROM jwt_keys WHERE name = 'ec_p8';

-- ---- ES256 (APNs provider token) -------------------------------------------------------
-- The signature is random (ECDSA); its validity is checked by test/integration/jwt_verify.sh.
SELECT name, pg_temp.jwt_part(t, 1) AS header, pg_temp.jwt_part(t, 2) AS claims,
       pg_temp.jwt_sig_bytes(t) AS sig_bytes, length(split_part(t, '.', 3)) AS sig_chars
FROM (SELECT name, _jwt_es256(pem, 'ABC123DEFG', 'DEF123GHIJ', 1700000000) t
      FROM jwt_keys WHERE name IN ('ec_p8', 'ec_trad')) s ORDER BY name;
-- Strings are JSON-escaped; iat is a JSON number.
SELECT pg_temp.jwt_part(t, 1) AS header, pg_temp.jwt_part(t, 2) AS claims
FROM (SELECT _jwt_es256(pem, E'k"\\\n\u00e9', E'tab\there', -1) t
      FROM jwt_keys WHERE name = 'ec_p8') s;
SELECT (pg_temp.jwt_part(t, 1)::jsonb ->> 'kid') = E'k"\\\n\u00e9' AS kid_round_trips
FROM (SELECT _jwt_es256(pem, E'k"\\\n\u00e9', 'x', 0) t FROM jwt_keys WHERE name = 'ec_p8') s;
-- Two tokens for the same claims differ (fresh ECDSA nonce), both well formed.
SELECT count(DISTINCT t) AS distinct_tokens
FROM (SELECT _jwt_es256(pem, 'K', 'T', 1) t FROM jwt_keys, generate_series(1, 2)
      WHERE name = 'ec_p8') s;
SELECT _jwt_es256(NULL, 'K', 'T', 1) IS NULL AS strict;
-- Errors: each bad key, with its exact reason.
SELECT _jwt_es256(pem, 'K', 'T', 1) FROM jwt_keys WHERE name = 'rsa';
SELECT _jwt_es256(pem, 'K', 'T', 1) FROM jwt_keys WHERE name = 'ed25519';
SELECT _jwt_es256(pem, 'K', 'T', 1) FROM jwt_keys WHERE name = 'ec_p384';
SELECT _jwt_es256(pem, 'K', 'T', 1) FROM jwt_keys WHERE name = 'ec_enc';
SELECT _jwt_es256(pem, 'K', 'T', 1) FROM jwt_keys WHERE name = 'ec_pub';
SELECT _jwt_es256('not a key', 'K', 'T', 1);

-- ---- RS256 (Google OAuth 2.0 service-account assertion) --------------------------------
-- PKCS#1 v1.5 signatures are deterministic: this token equals what
-- `openssl dgst -sha256 -sign rsa.pem` gives for its first two parts.
SELECT _jwt_rs256(pem, 'k1d', 'sender@proj.iam.gserviceaccount.com',
                  'https://www.googleapis.com/auth/firebase.messaging',
                  'https://oauth2.googleapis.com/token', 1700000000, 1700003600) AS jwt
FROM jwt_keys WHERE name = 'rsa';
SELECT name, pg_temp.jwt_part(t, 1) AS header, pg_temp.jwt_part(t, 2) AS claims,
       pg_temp.jwt_sig_bytes(t) AS sig_bytes
FROM (SELECT name, _jwt_rs256(pem, NULL, 'a@b.c', 'https://www.googleapis.com/auth/firebase.messaging',
                              'https://oauth2.googleapis.com/token', 100, 3700) t
      FROM jwt_keys WHERE name IN ('rsa', 'rsa_trad')) s ORDER BY name;
-- The traditional and PKCS#8 forms of one key sign identically.
SELECT count(DISTINCT _jwt_rs256(pem, 'k', 'i', 's', 'a', 1, 2)) AS distinct_tokens
FROM jwt_keys WHERE name IN ('rsa', 'rsa_trad');
-- NULL kid is omitted; any other NULL gives NULL.
SELECT _jwt_rs256(pem, 'k', NULL, 's', 'a', 1, 2) IS NULL AS null_iss,
       _jwt_rs256(pem, 'k', 'i', 's', 'a', 1, NULL) IS NULL AS null_exp,
       _jwt_rs256(NULL, 'k', 'i', 's', 'a', 1, 2) IS NULL AS null_key
FROM jwt_keys WHERE name = 'rsa';
-- Errors.
SELECT _jwt_rs256(pem, 'k', 'i', 's', 'a', 1, 1) FROM jwt_keys WHERE name = 'rsa';
SELECT _jwt_rs256(pem, 'k', 'i', 's', 'a', 1, 2) FROM jwt_keys WHERE name = 'ec_p8';
SELECT _jwt_rs256(pem, 'k', 'i', 's', 'a', 1, 2) FROM jwt_keys WHERE name = 'rsa1024';
SELECT _jwt_rs256(pem, 'k', 'i', 's', 'a', 1, 2) FROM jwt_keys WHERE name = 'rsa_enc';
SELECT _jwt_rs256('', 'k', 'i', 's', 'a', 1, 2);

-- ---- privileges: internal functions are not for PUBLIC -------------------------------------
SET client_min_messages = warning;
DROP ROLE IF EXISTS jwt_regress_nobody;
RESET client_min_messages;
CREATE ROLE jwt_regress_nobody;
SELECT p.oid::regprocedure AS function,
       has_function_privilege('jwt_regress_nobody', p.oid, 'EXECUTE') AS public_may_run
FROM pg_proc p
WHERE p.pronamespace = 'pushplan'::regnamespace
  AND p.proname IN ('_jwt_es256', '_jwt_rs256', '_hmac_sha256_hex', '_pem_key_check',
                    '_base64url_encode', '_base64url_decode')
ORDER BY 1::text;
DROP ROLE jwt_regress_nobody;
