#!/usr/bin/env bash
# Throughput of the mock vendor server alone, measured with h2load (nghttp2-client), so that
# the sender benchmarks know the mock is not their bottleneck.  The mock is single-threaded:
# the figures are for one core.  No database needed.
#   test/bench/bench_mock_vendor.sh [REQUESTS]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-200000}
port=55310
work=$(mktemp -d /tmp/pushplan-bench-mock.XXXXXX)
md=$top/test/mock_vendor
make -s -C "$md" >/dev/null
"$md/make-cert.sh" "$work" >/dev/null
openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null | openssl pkcs8 -topk8 -nocrypt -out "$work/apns.p8"
openssl pkey -in "$work/apns.p8" -pubout -out "$work/apns.pub.pem"
cat > "$work/mock.conf" <<CONF
apns_team_id = TEAM123456
apns_key = KEY1234567 apns.pub.pem
apns_bundle_id = com.example.app
fcm_project_id = mock-project
webhook_secret = wh-secret
CONF
"$md/mock_vendor" --listen 127.0.0.1:$port --cert "$work/cert.pem" --key "$work/key.pem" \
  --config "$work/mock.conf" > "$work/out" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q ready "$work/out" && break; sleep 0.1; done

jwt=$("$md/jwt_sign" es256 "$work/apns.p8" '{"alg":"ES256","kid":"KEY1234567"}' \
  "{\"iss\":\"TEAM123456\",\"iat\":$(date +%s)}")
printf '{"aps":{"alert":{"title":"Flash sale","body":"Everything 50%% off until midnight"},"sound":"default"}}' \
  > "$work/apns.json"
fcm_at=$(curl -s --cacert "$work/cert.pem" "https://127.0.0.1:$port/_mock/token?vendor=fcm" |
  sed 's/.*"access_token":"\([^"]*\)".*/\1/')
printf '{"message":{"token":"bench-device","notification":{"title":"Flash sale","body":"Everything 50%% off"},"data":{"promo":"618"}}}' \
  > "$work/fcm.json"

run() {
  local name=$1; shift
  echo "== $name"
  h2load "$@" | grep -E '^finished in|^requests:|^status codes:|time for request:'
}
# 4 connections x 100 streams: a sender's multiplexed HTTP/2 pool.
# 10000 distinct devices, each tracked in the mock's statistics
for i in $(seq 10000); do printf 'https://127.0.0.1:%d/3/device/%064x\n' $port "$i"; done > "$work/uris"
run "APNs, TLS h2, 10000 devices: $n pushes, 4 connections x 100 streams" \
  -n "$n" -c 4 -m 100 -t 1 -d "$work/apns.json" -H "authorization: bearer $jwt" \
  -H 'apns-topic: com.example.app' -H 'apns-push-type: alert' -H 'apns-priority: 10' \
  -i "$work/uris"
run "FCM v1, TLS h2: $n messages, 4 connections x 100 streams" \
  -n "$n" -c 4 -m 100 -t 1 -d "$work/fcm.json" -H "authorization: Bearer $fcm_at" \
  -H 'content-type: application/json' "https://127.0.0.1:$port/v1/projects/mock-project/messages:send"
run "introspection GET over TLS HTTP/1.1: $((n / 4)) requests, 8 keep-alive connections" \
  -n "$((n / 4))" -c 8 -t 1 --h1 "https://127.0.0.1:$port/_mock/stats?token=none"
