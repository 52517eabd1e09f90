#!/usr/bin/env bash
# HTTPS as a newcomer meets it: deploy/make-cert.sh, deploy/dev-up.sh serving HTTPS with the
# certificate it made and the curl line it printed, TLS 1.2 and 1.3 only, and plain HTTP kept
# to loopback unless --allow-insecure-http.
. "$(dirname "$0")/lib.sh" "$1"
cd "$T_ROOT"

# --- make-cert.sh
deploy/make-cert.sh "$T_TMP/c1" nas.example 192.0.2.7 2>/dev/null
t_check "make-cert writes cert.pem and key.pem" test -s "$T_TMP/c1/cert.pem" -a -s "$T_TMP/c1/key.pem"
t_is "the key is readable by its owner only" "$(stat -c %a "$T_TMP/c1/key.pem")" 600
san=$(openssl x509 -in "$T_TMP/c1/cert.pem" -noout -ext subjectAltName)
t_check "the certificate names localhost, 127.0.0.1, ::1 and the names given" \
	grep -q 'DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1.*DNS:nas.example, IP Address:192.0.2.7' <<<"$san"
sum=$(sha256sum "$T_TMP/c1/cert.pem" "$T_TMP/c1/key.pem")
deploy/make-cert.sh "$T_TMP/c1" 2>/dev/null
t_is "a second run keeps the certificate and key" "$(sha256sum "$T_TMP/c1/cert.pem" "$T_TMP/c1/key.pem")" "$sum"

# --- dev-up.sh: HTTPS with its own certificate, and the curl line it prints works as printed.
port=$(t_free_port)
devup() {
	CLAWMESH_DEV_DIR="$T_TMP/dev" CLAWMESH_BUILD_DIR="$(dirname "$CLAWMESHD")" CLAWMESH_PG_PORT=5432 \
		CLAWMESH_LISTEN="127.0.0.1:$port" CLAWMESH_DATABASE_URL= deploy/dev-up.sh --threads 2 >"$T_TMP/$1" 2>&1 &
	t_pids+=($!)
	devup_pid=$!
}
devup devup1.out
t_check "dev-up serves HTTPS with the certificate it made" \
	t_wait_url "https://127.0.0.1:$port/healthz" --cacert "$T_TMP/dev/tls/cert.pem"
line=$(grep -m1 'curl --cacert' "$T_TMP/devup1.out" | sed 's/^ *//')
t_check "dev-up prints a curl --cacert line" test -n "$line"
out=$(eval "$line -s")
t_is "the printed curl line answers whoami as admin" "$(jq -r .admin <<<"$out")" true
token=$(grep -Eo 'cm_[A-Za-z0-9_-]+' "$T_TMP/devup1.out" | head -n 1)
curl -sf --cacert "$T_TMP/dev/tls/cert.pem" -H "Authorization: Bearer $token" -X PUT \
	-H 'Content-Type: application/json' -d '{"value":"kept"}' \
	"https://127.0.0.1:$port/v1/memory/mesh/devup.check" >/dev/null
kill "$devup_pid"
wait "$devup_pid" 2>/dev/null || true
cert_sum=$(sha256sum <"$T_TMP/dev/tls/cert.pem")

devup devup2.out
t_check "dev-up comes up again on the same cluster" \
	t_wait_url "https://127.0.0.1:$port/healthz" --cacert "$T_TMP/dev/tls/cert.pem"
t_is "the second run keeps the certificate" "$(sha256sum <"$T_TMP/dev/tls/cert.pem")" "$cert_sum"
t_check "the second run prints no new token" bash -c "! grep -q 'cm_[A-Za-z0-9]' '$T_TMP/devup2.out'"
got=$(curl -s --cacert "$T_TMP/dev/tls/cert.pem" -H "Authorization: Bearer $token" \
	"https://127.0.0.1:$port/v1/memory/mesh/devup.check" | jq -r .value)
t_is "the data and the token survive the restart" "$got" kept
t_check "plain HTTP to the HTTPS port gets no answer" \
	bash -c "! curl -sf --max-time 3 http://127.0.0.1:$port/healthz"
kill "$devup_pid"
wait "$devup_pid" 2>/dev/null || true

# --- protocol versions, with openssl s_client (it can still offer TLS 1.0/1.1 at level 0).
t_pg_up
t_server_start tls --tls-cert "$T_TMP/c1/cert.pem" --tls-key "$T_TMP/c1/key.pem"
hp=${T_URL#https://}
for v in tls1_2 tls1_3; do
	t_check "$v is accepted" bash -c "openssl s_client -connect $hp -$v -CAfile '$T_TMP/c1/cert.pem' -verify_return_error </dev/null"
done
for v in tls1 tls1_1; do
	t_check "$v is refused" bash -c "! openssl s_client -connect $hp -$v -cipher 'DEFAULT:@SECLEVEL=0' </dev/null"
done
t_is "curl with the CA file gets /healthz over HTTPS" \
	"$(curl -s --cacert "$T_TMP/c1/cert.pem" "$T_URL/healthz" | jq -r .status)" ok

# --- plain HTTP is for loopback, or behind a proxy by explicit choice.
set +e
"$CLAWMESHD" serve --listen "0.0.0.0:$(t_free_port)" >"$T_TMP/insecure.out" 2>&1
status=$?
set -e
t_is "plain HTTP on 0.0.0.0 is refused with exit 2" "$status" 2
t_check "the refusal says what to do" grep -q -- '--allow-insecure-http' "$T_TMP/insecure.out"
port=$(t_free_port)
"$CLAWMESHD" serve --listen "0.0.0.0:$port" --allow-insecure-http >"$T_TMP/insecure.log" 2>&1 &
t_pids+=($!)
t_check "with --allow-insecure-http it serves plain HTTP on 0.0.0.0" t_wait_url "http://127.0.0.1:$port/healthz"
t_done
