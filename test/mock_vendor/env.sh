# The mock vendor with fresh credentials, for whatever sends through it: the integration tests
# (test/integration/lib/vendor_env.sh) and dev/demo. Source it, then:
#
#   mock_start DIR PORT [PLAIN_PORT]
#                          builds the mock, writes fresh keys, a self-signed certificate
#                          (DIR/cert.pem: give it to the server as pushplan.ca_file) and mock.conf
#                          into DIR, starts the mock on 127.0.0.1:PORT and waits until it is ready;
#                          sets mock_pid, mock_dir (DIR) and mock_base (https://127.0.0.1:PORT).
#                          Returns non-zero, with the reason on stderr, if it cannot. PLAIN_PORT
#                          adds a plain HTTP/1.1 listener; MOCK_WRAPPER (e.g. a valgrind command
#                          line) runs the mock under a checker; MOCK_MAX_TOKENS (default
#                          100000) how many device tokens its statistics count one by one.
#                          Whole-endpoint faults:
#                          MOCK_UNTRUSTED_PORT adds a TLS listener whose certificate (DIR/untrusted/,
#                          self-signed) the client does not trust, MOCK_SILENT_PORT one that accepts
#                          connections and never reads them. MOCK_EXTRA_PORTS (a list) adds TLS
#                          listeners serving the same vendors, so that a client keeps a connection
#                          per port, as it does per vendor host.
#   mock_stop              stops it (SIGTERM: it closes its connections and exits) and waits.
#   mock_curl PATH [ARGS]  a request to the mock, trusting its certificate.
#   mock_vendor_setup APP PSQL...  runs PSQL (a command, with its arguments) with the SQL that
#                          points APP's apns, fcm, hms and webhook at the mock, with the
#                          credentials the mock checks. The secrets go as psql variables.
#   mock_hxm_setup APP PSQL...  the same for honor, xiaomi and meizu (default_title "Example"
#                          for the last two).
#   mock_vivo_setup APP PSQL...  the same for vivo.
#   mock_harmony_setup APP PSQL...  the same for harmony (HarmonyOS NEXT: the service account
#                          whose RSA key is DIR/harmony.key).
#   mock_oppo_setup APP PSQL...  the same for oppo (default_title "Example").
#   mock_webpush_setup APP PSQL...  Web Push: a VAPID key pair (DIR/vapid.pem) and a subject.
#   mock_apns_setup APP TEAM KEY_ID P8 PSQL...  points APP's apns at the mock with another of
#                          the APNs keys the mock knows: team TEAM123456 has the keys
#                          KEY1234567 (DIR/apns.p8, mock_vendor_setup's) and KEY2222222
#                          (DIR/apns_k2.p8); team TEAM765432 has KEY7654321 (DIR/apns_t2.p8).
#
# DIR must be readable by the server (the postgres user) for cert.pem.
mock_src=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
mock_pid=
mock_dir=
mock_base=

mock_start() {
	local dir=$1 port=$2 plain=${3:-} i
	mock_dir=$dir
	mock_base=https://127.0.0.1:$port
	make -s -C "$mock_src" >/dev/null || { echo "mock vendor: build failed" >&2; return 1; }
	"$mock_src/make-cert.sh" "$dir" >/dev/null || return 1
	if [ -n "${MOCK_UNTRUSTED_PORT:-}" ]; then
		"$mock_src/make-cert.sh" "$dir/untrusted" >/dev/null || return 1
	fi
	chmod 644 "$dir"/*.pem
	# APNs: an EC P-256 .p8 key; FCM: a service account's RSA key. The mock gets the public halves.
	# A second key of the same team and a key of a second team: one connection per team and key.
	for k in apns apns_k2 apns_t2; do
		openssl ecparam -name prime256v1 -genkey -noout 2>/dev/null |
			openssl pkcs8 -topk8 -nocrypt -out "$dir/$k.p8" &&
			openssl pkey -in "$dir/$k.p8" -pubout -out "$dir/$k.pub.pem" || return 1
	done
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/fcm.key" 2>/dev/null &&
		openssl pkey -in "$dir/fcm.key" -pubout -out "$dir/fcm.pub.pem" || return 1
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$dir/harmony.key" 2>/dev/null &&
		openssl pkey -in "$dir/harmony.key" -pubout -out "$dir/harmony.pub.pem" || return 1
	cat >"$dir/mock.conf" <<CONF
apns_team_id = TEAM123456
apns_key = KEY1234567 apns.pub.pem
apns_key = KEY2222222 apns_k2.pub.pem
apns_key = KEY7654321 apns_t2.pub.pem TEAM765432
apns_bundle_id = com.example.app
fcm_project_id = mock-project
fcm_client_email = sa@mock-project.iam.gserviceaccount.com
fcm_public_key = fcm.pub.pem
fcm_token_uri = $mock_base/token
hms_app_id = 100200300
hms_client_secret = hms-secret
webhook_secret = wh-secret
outcomes_secret = outcomes-secret-0123456789
honor_app_id = 104400500
honor_client_id = honor-client
honor_client_secret = honor-secret
xiaomi_app_secret = xiaomi-secret/+=
xiaomi_package_name = com.example.app
meizu_app_id = 110000
meizu_app_secret = meizu-secret
vivo_app_id = 10004
vivo_app_key = vivo-key
vivo_app_secret = vivo-secret
harmony_project_id = 101700800
harmony_sub_account = 1017008001
harmony_key_id = harmony-kid-1
harmony_public_key = harmony.pub.pem
oppo_app_key = oppo-key
oppo_master_secret = oppo-master/+=
max_tokens = ${MOCK_MAX_TOKENS:-100000}
CONF
	# shellcheck disable=SC2086
	(cd "$dir" && exec ${MOCK_WRAPPER:-} "$mock_src/mock_vendor" --listen "127.0.0.1:$port" \
		${plain:+--listen-plain "127.0.0.1:$plain"} --cert cert.pem \
		${MOCK_UNTRUSTED_PORT:+--listen-untrusted "127.0.0.1:$MOCK_UNTRUSTED_PORT" --untrusted-cert untrusted/cert.pem --untrusted-key untrusted/key.pem} \
		${MOCK_SILENT_PORT:+--listen-silent "127.0.0.1:$MOCK_SILENT_PORT"} \
		$(for p in ${MOCK_EXTRA_PORTS:-}; do printf -- '--listen 127.0.0.1:%s ' "$p"; done) \
		--key key.pem --config mock.conf --pid-file mock.pid >mock.out 2>mock.err) &
	mock_pid=$!
	for ((i = 0; i < 300; i++)); do
		grep -q '^ready$' "$dir/mock.out" 2>/dev/null && return 0
		kill -0 "$mock_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "mock vendor did not start on 127.0.0.1:$port:" >&2
	cat "$dir/mock.err" >&2
	return 1
}

mock_stop() {
	if [ -n "$mock_pid" ]; then
		kill "$mock_pid" 2>/dev/null
		wait "$mock_pid" 2>/dev/null
		mock_pid=
	fi
	return 0
}

mock_curl() {
	curl -s --max-time 10 --cacert "$mock_dir/cert.pem" "$mock_base$1" "${@:2}"
}

mock_vendor_setup() {
	local app=$1
	shift
	"$@" -v app="$app" -v key="$(cat "$mock_dir/apns.p8")" -v fcmkey="$(cat "$mock_dir/fcm.key")" \
		-v base="$mock_base" <<'SQL'
SET search_path = pushplan, public;
SELECT push_vendor_set(:'app', 'apns', jsonb_build_object('team_id', 'TEAM123456', 'key_id', 'KEY1234567',
    'bundle_id', 'com.example.app', 'private_key', :'key', 'endpoint', :'base'));
SELECT push_vendor_set(:'app', 'fcm', jsonb_build_object('service_account', jsonb_build_object(
    'type', 'service_account', 'project_id', 'mock-project',
    'client_email', 'sa@mock-project.iam.gserviceaccount.com', 'private_key', :'fcmkey',
    'token_uri', :'base' || '/token'), 'endpoint', :'base'));
SELECT push_vendor_set(:'app', 'hms', jsonb_build_object('app_id', '100200300', 'client_secret', 'hms-secret',
    'endpoint', :'base', 'token_endpoint', :'base' || '/oauth2/v3/token'));
SELECT push_vendor_set(:'app', 'webhook', jsonb_build_object('url', :'base' || '/webhook/' || :'app', 'secret', 'wh-secret'));
SQL
}

mock_hxm_setup() {
	local app=$1
	shift
	"$@" -v app="$app" -v base="$mock_base" <<'SQL'
SET search_path = pushplan, public;
SELECT push_vendor_set(:'app', 'honor', jsonb_build_object('app_id', '104400500', 'client_id', 'honor-client',
    'client_secret', 'honor-secret', 'endpoint', :'base', 'token_endpoint', :'base' || '/auth/realms/developer/protocol/openid-connect/token'));
SELECT push_vendor_set(:'app', 'xiaomi', jsonb_build_object('app_secret', 'xiaomi-secret/+=',
    'package_name', 'com.example.app', 'default_title', 'Example', 'endpoint', :'base'));
SELECT push_vendor_set(:'app', 'meizu', jsonb_build_object('app_id', '110000', 'app_secret', 'meizu-secret',
    'default_title', 'Example', 'endpoint', :'base'));
SQL
}

mock_vivo_setup() {
	local app=$1
	shift
	"$@" -v app="$app" -v base="$mock_base" <<'SQL'
SET search_path = pushplan, public;
SELECT push_vendor_set(:'app', 'vivo', jsonb_build_object('app_id', '10004', 'app_key', 'vivo-key',
    'app_secret', 'vivo-secret', 'endpoint', :'base'));
SQL
}

mock_harmony_setup() {
	local app=$1
	shift
	"$@" -v app="$app" -v key="$(cat "$mock_dir/harmony.key")" -v base="$mock_base" <<'SQL'
SET search_path = pushplan, public;
SELECT push_vendor_set(:'app', 'harmony', jsonb_build_object('project_id', '101700800',
    'key_id', 'harmony-kid-1', 'private_key', :'key', 'sub_account', '1017008001', 'endpoint', :'base'));
SQL
}

mock_oppo_setup() {
	local app=$1
	shift
	"$@" -v app="$app" -v base="$mock_base" <<'SQL'
SET search_path = pushplan, public;
SELECT push_vendor_set(:'app', 'oppo', jsonb_build_object('app_key', 'oppo-key',
    'master_secret', 'oppo-master/+=', 'default_title', 'Example', 'endpoint', :'base'));
SQL
}

# Web Push: a VAPID key pair of the app's (made once per mock directory) and its subject.
mock_webpush_setup() {
	local app=$1 pub
	shift
	[ -f "$mock_dir/vapid.pem" ] ||
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$mock_dir/vapid.pem" 2>/dev/null
	pub=$(openssl pkey -in "$mock_dir/vapid.pem" -pubout -outform DER | tail -c 65 | base64 -w0 | tr '+/' '-_' | tr -d '=')
	"$@" -v app="$app" -v pem="$(cat "$mock_dir/vapid.pem")" -v pub="$pub" <<'SQL'
SET search_path = pushplan, public;
SELECT push_vendor_set(:'app', 'webpush', jsonb_build_object('vapid_public_key', :'pub',
    'vapid_private_key', :'pem', 'subject', 'mailto:ops@example.com'));
SQL
}

mock_apns_setup() {
	local app=$1 team=$2 kid=$3 p8=$4
	shift 4
	"$@" -v app="$app" -v team="$team" -v kid="$kid" -v key="$(cat "$mock_dir/$p8")" \
		-v base="$mock_base" <<'SQL'
SET search_path = pushplan, public;
SELECT push_vendor_set(:'app', 'apns', jsonb_build_object('team_id', :'team', 'key_id', :'kid',
    'bundle_id', 'com.example.app', 'private_key', :'key', 'endpoint', :'base'));
SQL
}
