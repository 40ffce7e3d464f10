#!/usr/bin/env bash
# Account package upload: parse + de-duplicate + load of a .zip of 1,000,000 accounts.
# Target: >= 500,000 accounts/s.  Needs the extension installed (make bench does it).
#   test/bench/bench_package.sh [PORT] [ACCOUNTS]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
port=${1:-55200}
n=${2:-1000000}
work=$(mktemp -d /tmp/pushplan-bench-package.XXXXXX)
chmod 755 "$work"
trap '"$top/dev/cluster" destroy "$work/data"; rm -rf "$work"' EXIT

# Random, distinct, unsorted accounts (a phone-number-like id and some e-mail-like ones), so
# that neither the sort nor the compression sees an easy input.
python3 - "$work/accounts.zip" "$n" <<'PY'
import random, sys, zipfile
path, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(42)
ids = set()
while len(ids) < n:
    r = rng.randrange(10**11)
    ids.add(f"1{r:011d}" if r % 4 else f"user{r:x}@example.com")
ids = list(ids)
rng.shuffle(ids)
with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr("accounts.txt", "\n".join(ids) + "\n")
PY
chmod 644 "$work/accounts.zip"
ls -l "$work/accounts.zip"

"$top/dev/cluster" start "$work/data" "$port" "max_wal_size = 4GB" >/dev/null
psql_() { psql -X -q -h "$work/data" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql_ -c "CREATE EXTENSION pushplan" -c "SELECT pushplan.push_app_create('bench')" >/dev/null
echo "machine: $(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB; accounts: $n distinct, shuffled"

# The parser alone (inflate, validate, sort, de-duplicate), for where the time goes; it also
# builds a text[] of the result, which the upload does not.
psql_ -At <<SQL
DO \$\$
DECLARE
    t0 timestamptz := clock_timestamp();
    cnt int;
BEGIN
    cnt := cardinality(pushplan._account_package_parse('accounts.zip',
                                                       pg_read_binary_file('$work/accounts.zip')));
    RAISE NOTICE 'parse only: % accounts in % s', cnt,
        round(extract(epoch FROM clock_timestamp() - t0)::numeric, 3);
END \$\$;
SQL

for run in 1 2 3; do
  psql_ -At <<SQL
DO \$\$
DECLARE
    t0 timestamptz;
    id bigint;
    s float8;
    cnt bigint;
BEGIN
    t0 := clock_timestamp();
    id := pushplan.push_account_package_upload('bench', 'accounts.zip',
                                               pg_read_binary_file('$work/accounts.zip'));
    s := extract(epoch FROM clock_timestamp() - t0);
    SELECT account_count INTO cnt FROM pushplan.push_account_packages WHERE upload_id = id;
    RAISE NOTICE 'run $run: % accounts in % s: % accounts/s', cnt, round(s::numeric, 3),
        round(cnt / s);
END \$\$;
SQL
done
