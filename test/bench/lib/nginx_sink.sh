# An HTTP/2-over-TLS throughput sink for the sending benchmarks: our own nginx process (Debian's
# nginx-light) with its own prefix and configuration, on loopback, answering every POST at once
# like APNs does (200, empty body, the request's apns-id echoed) or FCM (200, the message's name),
# and an OAuth token endpoint at /token (FCM's service account). Source it, then
#   sink_start DIR PORT      DIR gets cert.pem/key.pem (test/mock_vendor/make-cert.sh), nginx.conf,
#                            logs; sets sink_pid
#   sink_stop                (call it from the caller's EXIT trap)
sink_pid=

sink_start() {
  local dir=$1 port=$2 top
  top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
  mkdir -p "$dir/logs" "$dir/tmp" "$dir/empty"
  : > "$dir/empty/answer"
  "$top/test/mock_vendor/make-cert.sh" "$dir" >/dev/null
  chmod 644 "$dir"/*.pem
  cat > "$dir/nginx.conf" <<CONF
# written by test/bench/lib/nginx_sink.sh
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    # nginx frees a connection's per-request allocations only when the connection closes
    # (nginx docs, keepalive_requests). With no limit, after some 100,000 requests on a
    # connection it stopped reading from it (Recv-Q full, 30 % CPU) and the broadcast stalled.
    # 10,000 requests, then GOAWAY and a new connection, as APNs itself does now and then.
    keepalive_requests 10000;
    keepalive_timeout 300s;
    http2_max_concurrent_streams 1000;
    # APNs answers 200 with an empty body; FCM with the message's name; the OAuth token
    # endpoint (FCM's service account) with a token
    map \$request_uri \$answer {
        ~^/v1/ '{"name": "projects/bench/messages/\$request_id"}';
        ~^/token '{"access_token": "bench-token", "expires_in": 3600, "token_type": "Bearer"}';
        default '';
    }
    http2_recv_buffer_size 1m;
    client_body_buffer_size 16k;
    server {
        listen 127.0.0.1:$port ssl http2;
        ssl_certificate $dir/cert.pem;
        ssl_certificate_key $dir/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        # Read the whole request body before answering: "return" alone answers as soon as the
        # HEADERS frame is in and then resets the stream (RST_STREAM NO_ERROR) to discard the
        # body still coming, which libcurl 7.88 reports as a failed transfer. The mirror reads
        # the body first (precontent phase; the mirror itself is a no-op); the static handler,
        # every URI aliased to one cached empty file, then refuses the POST (405), which
        # error_page turns into the answer.
        location / {
            mirror /_read_body;
            mirror_request_body on;
            root $dir/empty;
            rewrite ^ /answer break;
            open_file_cache max=16 inactive=1h;
            open_file_cache_valid 1h;
            error_page 405 =200 @answer;
        }
        location = /_read_body { internal; return 204; }
        location @answer {
            add_header apns-id \$http_apns_id;
            default_type application/json;
            return 200 \$answer;
        }
    }
}
CONF
  nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log" 2>>"$dir/logs/error.log" &
  sink_pid=$!
  for _ in $(seq 100); do
    curl -s -o /dev/null --max-time 1 --cacert "$dir/cert.pem" --http2 -X POST -d '{}' \
      "https://127.0.0.1:$port/3/device/ready" && return 0
    kill -0 "$sink_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "nginx sink did not start:"; cat "$dir/logs/error.log"
  return 1
}

sink_stop() {
  [ -n "$sink_pid" ] && { kill "$sink_pid" 2>/dev/null; wait "$sink_pid" 2>/dev/null; }
  sink_pid=
}
