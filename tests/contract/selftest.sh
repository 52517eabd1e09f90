#!/usr/bin/env bash
# Self-test of check-responses.mjs against the real spec: good records pass, each bad record
# fails on its own, and an empty or missing record file fails.
set -euo pipefail
cd "$(dirname "$0")"
SPEC=../../openapi/openapi.yaml
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

TOK='tok_3f9a0c1de2b4a6c8e0f1a2b3'
TS='2026-02-01T10:00:00.123Z'
J='"content-type":"application/json; charset=utf-8","x-request-id":"r1"'
TOKEN='{\"id\":\"'$TOK'\",\"label\":\"sec gateway\",\"node\":\"sec\",\"admin\":false,\"grants\":[{\"scope\":\"mesh\",\"access\":\"rw\"},{\"scope\":\"project:*\",\"access\":\"r\"}],\"created_at\":\"'$TS'\",\"expires_at\":null,\"last_used_at\":null,\"revoked_at\":null}'
SECRET='cm_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNO_-'
# An export: its header, a change line with PostgreSQL's spacing, its trailer; and one cut short.
EXPORT='{\"type\":\"clawmesh-export\",\"format\":1,\"revision\":8}\n{\"type\" : \"change\", \"revision\" : 8, \"kind\" : \"node\", \"op\" : \"put\", \"scope\" : null, \"name\" : \"ceo\", \"version\" : 1, \"node\" : null, \"at\" : \"2026-02-01T10:00:00.123456Z\"}\n{\"type\":\"end\",\"lines\":2}\n'
EXPORT_CUT='{\"type\":\"clawmesh-export\",\"format\":1,\"revision\":8}\n{\"type\":'
NDJSON='"content-type":"application/x-ndjson","x-request-id":"r1"'
err() { echo '{\"error\":{\"code\":\"'"$1"'\",\"message\":\"m\",\"request_id\":\"r1\"'"${2:-}"'}}'; }

cat >"$tmp/good.ndjson" <<EOF
{"method":"GET","url":"/healthz","status":200,"headers":{$J},"body":"{\"status\":\"ok\"}"}
{"method":"HEAD","url":"/healthz","status":200,"headers":{$J},"body":""}
{"method":"GET","url":"/readyz","status":200,"headers":{$J},"body":"{\"status\":\"ready\",\"schema_version\":3}"}
{"method":"GET","url":"/readyz","status":503,"headers":{$J,"retry-after":"5"},"body":"$(err unavailable)"}
{"method":"GET","url":"/openapi.yaml","status":200,"headers":{"content-type":"application/yaml","x-request-id":"r1"},"body":"openapi: 3.1.0"}
{"method":"GET","url":"/v1/whoami","status":200,"headers":{$J},"body":"{\"token_id\":\"$TOK\",\"label\":\"x\",\"node\":null,\"admin\":true,\"grants\":[]}"}
{"method":"GET","url":"/v1/whoami","status":401,"headers":{$J,"WWW-Authenticate":"Bearer realm=\"clawmesh\""},"body":"$(err unauthorized)"}
{"method":"OPTIONS","url":"/v1/tokens","status":204,"headers":{"x-request-id":"r1","access-control-max-age":"600"},"body":""}
{"method":"POST","url":"/v1/tokens","status":201,"headers":{$J,"location":"/v1/tokens/$TOK"},"body":"${TOKEN%\}},\"token\":\"$SECRET\"}"}
{"method":"POST","url":"/v1/tokens","status":422,"headers":{$J},"body":"$(err validation_failed ',\"details\":{\"field\":\"expires_in\"}')"}
{"method":"POST","url":"/v1/tokens","status":400,"headers":{$J},"body":"$(err invalid_json)"}
{"method":"GET","url":"/v1/tokens?limit=2&cursor=abc","status":200,"headers":{$J},"body":"{\"items\":[$TOKEN],\"next_cursor\":\"abc\"}"}
{"method":"GET","url":"/v1/tokens?limit=0","status":400,"headers":{$J},"body":"$(err bad_request)"}
{"method":"GET","url":"/v1/tokens/$TOK","status":200,"headers":{$J},"body":"$TOKEN"}
{"method":"GET","url":"/v1/tokens/tok_nope","status":404,"headers":{$J},"body":"$(err not_found)"}
{"method":"DELETE","url":"/v1/tokens/$TOK","status":204,"headers":{"x-request-id":"r1"},"body":""}
{"method":"GET","url":"/v1/tokens","status":429,"headers":{$J,"retry-after":"2"},"body":"$(err rate_limited)"}
{"method":"GET","url":"/v1/nope","status":404,"headers":{$J},"body":"$(err not_found)"}
{"method":"PUT","url":"/v1/whoami","status":405,"headers":{$J,"allow":"GET, OPTIONS"},"body":"$(err method_not_allowed)"}
{"method":"GET","url":"/v1/export","status":200,"headers":{$NDJSON},"body":"$EXPORT"}
EOF

# Each line is wrong in exactly one way: "<what the checker must say> @@ <record>".
cat >"$tmp/bad.txt" <<EOF
/admin must be boolean @@ {"method":"GET","url":"/v1/whoami","status":200,"headers":{$J},"body":"{\"token_id\":\"$TOK\",\"label\":\"x\",\"node\":null,\"admin\":\"yes\",\"grants\":[]}"}
missing header X-Request-Id @@ {"method":"GET","url":"/healthz","status":200,"headers":{"content-type":"application/json"},"body":"{\"status\":\"ok\"}"}
status 418 is not documented @@ {"method":"GET","url":"/v1/whoami","status":418,"headers":{$J},"body":"$(err internal)"}
missing header WWW-Authenticate @@ {"method":"GET","url":"/v1/whoami","status":401,"headers":{$J},"body":"$(err unauthorized)"}
missing header Allow @@ {"method":"PUT","url":"/v1/whoami","status":405,"headers":{$J},"body":"$(err method_not_allowed)"}
expected 404 or 405, got 200 @@ {"method":"GET","url":"/v1/nope","status":200,"headers":{$J},"body":"{}"}
expected 405, got 200 @@ {"method":"PATCH","url":"/v1/tokens/$TOK","status":200,"headers":{$J},"body":"$TOKEN"}
additional properties (secret_hash) @@ {"method":"GET","url":"/v1/tokens/$TOK","status":200,"headers":{$J},"body":"${TOKEN%\}},\"secret_hash\":\"x\"}"}
body must be empty @@ {"method":"DELETE","url":"/v1/tokens/$TOK","status":204,"headers":{$J},"body":"{}"}
content-type text/html is not one of @@ {"method":"GET","url":"/healthz","status":200,"headers":{"content-type":"text/html","x-request-id":"r1"},"body":"{\"status\":\"ok\"}"}
body is not JSON @@ {"method":"GET","url":"/healthz","status":200,"headers":{$J},"body":"<html>ok</html>"}
HEAD response has a body @@ {"method":"HEAD","url":"/v1/whoami","status":200,"headers":{$J},"body":"{}"}
/error/code must be equal to constant @@ {"method":"GET","url":"/v1/tokens/tok_nope","status":404,"headers":{$J},"body":"$(err forbidden)"}
header Retry-After @@ {"method":"GET","url":"/v1/tokens","status":503,"headers":{$J,"retry-after":"soon"},"body":"$(err unavailable)"}
/created_at must match pattern @@ {"method":"GET","url":"/v1/tokens/$TOK","status":200,"headers":{$J},"body":"${TOKEN/$TS/2026-02-01T10:00:00Z}"}
additional properties (trace) @@ {"method":"GET","url":"/v1/nope","status":404,"headers":{$J},"body":"{\"error\":{\"code\":\"not_found\",\"message\":\"m\",\"request_id\":\"r1\"},\"trace\":\"x\"}"}
missing header Location @@ {"method":"POST","url":"/v1/tokens","status":201,"headers":{$J},"body":"${TOKEN%\}},\"token\":\"$SECRET\"}"}
/grants/1/scope must match pattern @@ {"method":"GET","url":"/v1/tokens/$TOK","status":200,"headers":{$J},"body":"${TOKEN/project:\*/project}"}
/token must match pattern @@ {"method":"POST","url":"/v1/tokens","status":201,"headers":{$J,"location":"/v1/tokens/$TOK"},"body":"${TOKEN%\}},\"token\":\"cm_short\"}"}
must have required property 'field' @@ {"method":"POST","url":"/v1/tokens","status":422,"headers":{$J},"body":"$(err validation_failed ',\"details\":{}')"}
line 2: /at must match pattern @@ {"method":"GET","url":"/v1/export","status":200,"headers":{$NDJSON},"body":"${EXPORT/123456Z/123Z}"}
line 2 is not JSON @@ {"method":"GET","url":"/v1/export","status":200,"headers":{$NDJSON},"body":"$EXPORT_CUT"}
not a record @@ not json
EOF
sed 's/^.* @@ //' "$tmp/bad.txt" >"$tmp/bad.ndjson"
sed 's/ @@ .*$//' "$tmp/bad.txt" >"$tmp/bad.reasons"
bad_count=$(grep -c . "$tmp/bad.ndjson")

passed=0 failed=0
expect() { # expect <exit code> <summary line> <records file>
  local out rc=0
  out=$(node check-responses.mjs "$SPEC" "$3" 2>&1) || rc=$?
  if [ "$rc" -eq "$1" ] && grep -qx "$2" <<<"$out"; then
    passed=$((passed + 1))
  else
    echo "selftest: FAIL on $(basename "$3"): wanted exit $1 and '$2', got exit $rc:"
    sed 's/^/  | /' <<<"$out"
    failed=$((failed + 1))
  fi
}

good_count=$(grep -c . "$tmp/good.ndjson")
expect 0 "contract: $good_count passed, 0 failed" "$tmp/good.ndjson"
expect 1 "contract: 0 passed, $bad_count failed" "$tmp/bad.ndjson"

# ... and each bad record fails for its own reason, not by accident.
mapfile -t reasons <"$tmp/bad.reasons"
mapfile -t lines < <(node check-responses.mjs "$SPEC" "$tmp/bad.ndjson" 2>&1 | grep -v '^contract: ' || true)
for i in "${!reasons[@]}"; do
  if [[ "${lines[$i]:-}" == *"${reasons[$i]}"* ]]; then
    passed=$((passed + 1))
  else
    echo "selftest: FAIL on bad record $((i + 1)): wanted '${reasons[$i]}', got '${lines[$i]:-nothing}'"
    failed=$((failed + 1))
  fi
done
: >"$tmp/empty.ndjson"
expect 1 "contract: 0 passed, 0 failed" "$tmp/empty.ndjson"
expect 1 "contract: 0 passed, 0 failed" "$tmp/missing.ndjson"

echo "selftest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
