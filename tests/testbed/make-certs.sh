#!/usr/bin/env bash
# mailcanary test bed: a throw-away test CA and the server certificates the TLS
# listeners use. Called by testbed.sh at every start; usable by hand too.
#
# Usage: tests/testbed/make-certs.sh DIR
#
# Writes into DIR (created if missing; existing files are overwritten):
#   ca.crt ca.key              test CA "mailcanary test bed CA" (ECDSA P-256)
#   mx.key mx.crt              mx.example.test (SAN DNS:mx.example.test), signed by the CA
#   wrong.key wrong.crt        wrong.example.test (SAN DNS:wrong.example.test), same CA
#   expired.crt                mx.example.test, same CA and key as mx.crt, valid only
#                              2020-01-01 .. 2020-02-01 (expired)
#   selfsigned.key selfsigned.crt
#                              mx.example.test, self-signed (no CA)
#   mailbox.key mailbox.crt    the IMAP/POP3 server (Dovecot): SAN DNS:mailbox.example.test
#                              and IP:127.0.0.1, signed by the CA
# The CA is valid for 10 years from now; nothing here protects anything real.
set -euo pipefail

dir=${1:?usage: make-certs.sh DIR}
mkdir -p "$dir"
cd "$dir"
umask 077

ossl() {
  local out
  if ! out=$(openssl "$@" 2>&1); then
    printf 'make-certs: openssl %s failed:\n%s\n' "$1" "$out" >&2
    exit 1
  fi
}
newkey() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }

# One config for everything: extension profiles, and a minimal "openssl ca" set-up
# (the only command of OpenSSL 3.0 that sets a validity window in the past).
cat >openssl.cnf <<'EOF'
[ca]
default_ca = tb_ca
[tb_ca]
database = ca-db/index.txt
new_certs_dir = ca-db
serial = ca-db/serial
default_md = sha256
policy = tb_policy
unique_subject = no
email_in_dn = no
copy_extensions = none
[tb_policy]
commonName = supplied
[req]
distinguished_name = req_dn
prompt = no
[req_dn]
CN = mx.example.test

[ext_ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[ext_mx]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:mx.example.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ext_wrong]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.example.test
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ext_mailbox]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:mailbox.example.test, IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[ext_self]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:mx.example.test
subjectKeyIdentifier = hash
EOF

# Every openssl run costs ~10 ms: few of them, and the independent ones at once.
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -noenc)

# The CA.
ossl req -x509 -config openssl.cnf "${ec[@]}" -keyout ca.key -subj "/CN=mailcanary test bed CA" \
  -days 3650 -set_serial 1 -extensions ext_ca -out ca.crt

# mx.example.test signed by the CA, and the expired one for the same name and key: a
# real validity window in the past.
mx() {
  ossl req -new -config openssl.cnf "${ec[@]}" -keyout mx.key -subj "/CN=mx.example.test" \
    -out mx.csr
  ossl x509 -req -in mx.csr -CA ca.crt -CAkey ca.key -days 3650 -set_serial 2 \
    -extfile openssl.cnf -extensions ext_mx -out mx.crt
  rm -rf ca-db
  mkdir ca-db
  : >ca-db/index.txt
  echo 04 >ca-db/serial
  ossl ca -batch -notext -config openssl.cnf -cert ca.crt -keyfile ca.key -in mx.csr \
    -startdate 20200101000000Z -enddate 20200201000000Z -extfile openssl.cnf \
    -extensions ext_mx -out expired.crt
}
# The wrong name, signed by the same CA.
wrong() {
  ossl req -new -config openssl.cnf "${ec[@]}" -keyout wrong.key \
    -subj "/CN=wrong.example.test" -out wrong.csr
  ossl x509 -req -in wrong.csr -CA ca.crt -CAkey ca.key -days 3650 -set_serial 3 \
    -extfile openssl.cnf -extensions ext_wrong -out wrong.crt
}
# The mailbox server (Dovecot), reached by name or as 127.0.0.1.
mailbox() {
  ossl req -new -config openssl.cnf "${ec[@]}" -keyout mailbox.key \
    -subj "/CN=mailbox.example.test" -out mailbox.csr
  ossl x509 -req -in mailbox.csr -CA ca.crt -CAkey ca.key -days 3650 -set_serial 6 \
    -extfile openssl.cnf -extensions ext_mailbox -out mailbox.crt
}
# Self-signed, for the right name.
self_signed() {
  ossl req -x509 -config openssl.cnf "${ec[@]}" -keyout selfsigned.key \
    -subj "/CN=mx.example.test" -days 3650 -set_serial 5 -extensions ext_self \
    -out selfsigned.crt
}
pids=()
mx &
pids+=($!)
wrong &
pids+=($!)
self_signed &
pids+=($!)
mailbox &
pids+=($!)
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
((rc == 0)) || exit 1

rm -rf mx.csr wrong.csr mailbox.csr ca-db
chmod 644 ./*.crt
chmod 600 ./*.key
