#!/usr/bin/env bash
# Web Push message encryption (src/webpush_crypto.c) as a sender runs it for every message: a
# new P-256 key pair and salt, ECDH with the subscription's key, the HKDF steps (five
# HMAC-SHA256), AES-128-GCM of one record.  Target: >= 20,000 payloads/s per core.  One backend,
# so one core; per CPU second (the process's CPU time) and per wall second, three rounds of
# each payload size.  OpenSSL's own ECDH and ECDSA speeds (openssl speed) are printed as the
# ceiling of this machine: a message costs one ECDH and one key generation, which alone bound it.
#   test/bench/bench_webpush.sh [PORT] [MESSAGES]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
port=${1:-55380}
n=${2:-20000}
work=$(mktemp -d /tmp/pushplan-bench-webpush.XXXXXX)
chmod 755 "$work"
trap '"$top/dev/cluster" destroy "$work/data"; rm -rf "$work"' EXIT

"$top/dev/cluster" start "$work/data" "$port" >/dev/null
psql_() { psql -X -q -At -h "$work/data" -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 "$@"; }
psql_ -c "CREATE EXTENSION pushplan" -c "CREATE EXTENSION pushplan_test" >/dev/null
echo "machine: $(nproc) cores, $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo), $(openssl version)"
echo "ceiling (openssl speed, 1 s each, one core):"
openssl speed -seconds 1 ecdhp256 ecdsap256 2>/dev/null | grep -E '^ *256 bits' | sed 's/^/  /'
for bytes in 200 3993; do
  for round in 1 2 3; do
    r=$(psql_ -c "SELECT pushplan._webpush_encrypt_bench($n, $bytes)")
    echo "webpush encryption, $bytes-byte payloads, round $round: $(jq -r '"\(.messages) messages: \(.per_cpu_second)/s per CPU second (\(.cpu_s) s), \(.per_second)/s wall (\(.wall_s) s)"' <<<"$r") (load $(cut -d' ' -f1 /proc/loadavg))"
  done
done
