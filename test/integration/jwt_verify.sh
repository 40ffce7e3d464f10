#!/usr/bin/env bash
# JWTs and HMACs made by SQL, checked independently with the openssl CLI:
#  - ES256 (raw r||s turned back into DER) and RS256 signatures verify with the public key, and a
#    tampered token does not; RS256 equals `openssl dgst -sign` byte for byte (PKCS#1 v1.5 is
#    deterministic);
#  - headers and claims decode to the exact JSON;
#  - HMAC-SHA256 equals `openssl dgst -sha256 -hmac`;
#  - signing in a loop, good keys and bad, does not grow the backend (OpenSSL objects freed).
# Env: PUSHPLAN_TOP (repo root), PUSHPLAN_WORK (scratch dir).
set -euo pipefail
top=${PUSHPLAN_TOP:?}
work=${PUSHPLAN_WORK:?}
port=55400
mkdir -p "$work"
chmod 755 "$work"
cd "$work"
db="$work/pg"
trap '"$top/dev/cluster" destroy "$db"' EXIT
"$top/dev/cluster" start "$db" "$port"

sql() { psql -h "$db" -p "$port" -U postgres -X -At -v ON_ERROR_STOP=1 "$@"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
b64url_decode() {
  local s
  s=$(printf %s "$1" | tr '_-' '/+')
  case $(( ${#s} % 4 )) in 2) s="$s==" ;; 3) s="$s=" ;; esac
  printf %s "$s" | base64 -d
}
hexof() { od -An -tx1 -v | tr -d ' \n'; }

sql -c 'CREATE EXTENSION pushplan' -c 'CREATE EXTENSION pushplan_test' >/dev/null

openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.p8 2>/dev/null
openssl pkey -in ec.p8 -pubout -out ec_pub.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem 2>/dev/null
openssl pkey -in rsa.pem -pubout -out rsa_pub.pem

# --- ES256: 100 tokens, the first of them one whose r or s has a leading zero byte ----------
# (padded to 32 bytes; about 1 token in 128 has one, so 5000 tries cannot all miss).
sql -v key="$(cat ec.p8)" > es256.txt <<'SQL'
WITH t AS (
    SELECT i, pushplan._jwt_es256(:'key', 'ABC123DEFG', 'DEF123GHIJ', 1700000000 + i) AS jwt
    FROM generate_series(0, 4999) i),
z AS (
    SELECT min(i) AS i FROM t, pushplan._base64url_decode(split_part(jwt, '.', 3)) sig
    WHERE get_byte(sig, 0) = 0 OR get_byte(sig, 32) = 0)
SELECT t.i || ' ' || jwt FROM t, z WHERE t.i = z.i
UNION ALL
SELECT line FROM (SELECT t.i || ' ' || jwt AS line FROM t, z WHERE t.i <> z.i ORDER BY t.i LIMIT 99) rest;
SQL
[ "$(wc -l < es256.txt)" -eq 100 ] || fail "expected 100 ES256 tokens"
i=0
while read -r n tok; do
  IFS=. read -r h c s <<< "$tok"
  [ "$(b64url_decode "$h")" = '{"alg":"ES256","kid":"ABC123DEFG"}' ] || fail "ES256 header $i"
  [ "$(b64url_decode "$c")" = "{\"iss\":\"DEF123GHIJ\",\"iat\":$((1700000000 + n))}" ] \
    || fail "ES256 claims $i"
  hex=$(b64url_decode "$s" | hexof)
  [ ${#hex} -eq 128 ] || fail "ES256 signature $i is not 64 bytes"
  if [ $i -eq 0 ] && [ "${hex:0:2}" != 00 ] && [ "${hex:64:2}" != 00 ]; then
    fail "no ES256 signature with a leading zero byte in r or s"
  fi
  printf 'asn1=SEQUENCE:sig\n[sig]\nr=INTEGER:0x%s\ns=INTEGER:0x%s\n' "${hex:0:64}" "${hex:64:64}" > sig.cnf
  openssl asn1parse -genconf sig.cnf -out sig.der -noout
  printf %s "$h.$c" > input
  openssl dgst -sha256 -verify ec_pub.pem -signature sig.der input >/dev/null \
    || fail "ES256 signature $i does not verify"
  i=$((i + 1))
done < es256.txt
# The check can fail: the last signature over other claims must not verify.
printf %s "$h.$(printf %s '{"iss":"DEF123GHIJ","iat":1}' | base64 | tr '+/' '-_' | tr -d '=\n')" > input
if openssl dgst -sha256 -verify ec_pub.pem -signature sig.der input >/dev/null 2>&1; then
  fail "tampered ES256 token verifies"
fi
echo "ES256: 100 tokens verify"

# --- RS256 ----------------------------------------------------------------------------------
tok=$(sql -v key="$(cat rsa.pem)" <<'SQL'
SELECT pushplan._jwt_rs256(:'key', 'k1d', 'sender@proj.iam.gserviceaccount.com',
    'https://www.googleapis.com/auth/firebase.messaging', 'https://oauth2.googleapis.com/token',
    1700000000, 1700003600);
SQL
)
IFS=. read -r h c s <<< "$tok"
[ "$(b64url_decode "$h")" = '{"alg":"RS256","typ":"JWT","kid":"k1d"}' ] || fail "RS256 header"
[ "$(b64url_decode "$c")" = '{"iss":"sender@proj.iam.gserviceaccount.com","scope":"https://www.googleapis.com/auth/firebase.messaging","aud":"https://oauth2.googleapis.com/token","iat":1700000000,"exp":1700003600}' ] \
  || fail "RS256 claims"
printf %s "$h.$c" > input
b64url_decode "$s" > sig.bin
[ "$(wc -c < sig.bin)" -eq 256 ] || fail "RS256 signature is not 256 bytes"
openssl dgst -sha256 -verify rsa_pub.pem -signature sig.bin input >/dev/null \
  || fail "RS256 signature does not verify"
openssl dgst -sha256 -sign rsa.pem -out ref.bin input
cmp -s sig.bin ref.bin || fail "RS256 signature differs from openssl dgst -sign"
printf x >> input
if openssl dgst -sha256 -verify rsa_pub.pem -signature sig.bin input >/dev/null 2>&1; then
  fail "tampered RS256 token verifies"
fi
echo "RS256: verifies, equals openssl's signature"

# --- HMAC-SHA256 ----------------------------------------------------------------------------
for pair in 'secret|{"event":"sent","ids":[1,2,3]}' 'k|' 'ключ é ✓|Grüße, 世界 "quoted" \back\slash'; do
  key=${pair%%|*}
  data=${pair#*|}
  ours=$(sql -v key="$key" -v data="$data" <<< "SELECT pushplan._hmac_sha256_hex(:'key', :'data');")
  ref=$(printf %s "$data" | openssl dgst -sha256 -hmac "$key" | awk '{print $NF}')
  [ "$ours" = "$ref" ] || fail "HMAC of \"$data\" under \"$key\": $ours, openssl $ref"
done
echo "HMAC: equals openssl dgst -hmac"

# --- no growth when signing in a loop (good keys and every rejected one) --------------------
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out ec384.pem 2>/dev/null
growth=$(sql -v ec="$(cat ec.p8)" -v rsa="$(cat rsa.pem)" -v ec384="$(cat ec384.pem)" <<'SQL'
CREATE TEMP TABLE rss(kb bigint);
CREATE FUNCTION pg_temp.rss_kb() RETURNS bigint LANGUAGE sql AS $$
    SELECT substring(pg_read_file('/proc/' || pg_backend_pid() || '/status')
                     FROM 'VmRSS:\s+(\d+)')::bigint $$;
CREATE FUNCTION pg_temp.burn(ec text, rsa text, ec384 text, n int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1..n LOOP
        PERFORM pushplan._jwt_es256(ec, 'kid', 'iss', i);
        PERFORM pushplan._hmac_sha256_hex('k', 'data');
        PERFORM pushplan._pem_key_check(ec384, 'ec_p256');
        BEGIN
            PERFORM pushplan._jwt_es256(rsa, 'kid', 'iss', i);
        EXCEPTION WHEN invalid_parameter_value THEN NULL;
        END;
        BEGIN
            PERFORM pushplan._jwt_rs256(ec384, NULL, 'i', 's', 'a', i, i + 1);
        EXCEPTION WHEN invalid_parameter_value THEN NULL;
        END;
        IF i % 10 = 0 THEN
            PERFORM pushplan._jwt_rs256(rsa, NULL, 'i', 's', 'a', i, i + 1);
        END IF;
    END LOOP;
END $$;
SELECT pg_temp.burn(:'ec', :'rsa', :'ec384', 500);      -- warm up caches
INSERT INTO rss SELECT pg_temp.rss_kb();
SELECT pg_temp.burn(:'ec', :'rsa', :'ec384', 5000);
SELECT pg_temp.rss_kb() - kb FROM rss;
SQL
)
growth=$(echo "$growth" | tail -n 1)
echo "backend RSS growth over 5000 rounds: ${growth} kB"
# A leaked key (~1 kB or more per round) would show as 5 MB or more. Under make test-asan
# (test/asan.sh) freed chunks wait in AddressSanitizer's quarantine, up to its size a process,
# before they are reused: the backend may grow by that much more.
limit=4096
if [[ "${LD_PRELOAD:-}" == *libasan* && "${ASAN_OPTIONS:-}" =~ quarantine_size_mb=([0-9]+) ]]; then
  limit=$((limit + BASH_REMATCH[1] * 1024))
fi
[ "$growth" -lt "$limit" ] || fail "backend grew by $growth kB while signing (limit $limit kB)"
echo "jwt_verify: all checks passed"
