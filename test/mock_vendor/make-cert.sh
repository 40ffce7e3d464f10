#!/bin/sh
# Creates a self-signed certificate for 127.0.0.1 / localhost that clients can trust directly
# (curl --cacert, GUC pushplan.ca_file): it is its own CA (basicConstraints CA:TRUE).
#   make-cert.sh DIR      -> DIR/cert.pem, DIR/key.pem
set -eu
dir=${1:?usage: make-cert.sh DIR}
mkdir -p "$dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -subj "/CN=pushplan mock vendor" \
  -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,digitalSignature,keyCertSign" \
  -addext "extendedKeyUsage=serverAuth" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" 2>/dev/null
echo "$dir/cert.pem"
