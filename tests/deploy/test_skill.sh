#!/usr/bin/env bash
# The agent skill as an agent meets it: every command of deploy/openclaw/skills/clawmesh/SKILL.md,
# run as written and in order, over HTTPS with certificate checks, with a node token and nothing
# else in its environment; each must exit 0 with the status and the answer the skill promises.
# Convention: each ```sh (or ```bash) block of SKILL.md is one command; the table below has one
# line per block, in order, and a block without a line fails the test.
. "$(dirname "$0")/lib.sh" "$1"
skill="$T_ROOT/deploy/openclaw/skills/clawmesh/SKILL.md"

# --- the commands, one file each; curl in any other block would be a command nobody runs.
mkdir "$T_TMP/cmd"
awk -v dir="$T_TMP/cmd" -v stray="$T_TMP/stray" '
	!inblk && /^```/ {
		inblk = 1; lang = substr($0, 4); gsub(/[ \t]/, "", lang)
		if (lang == "sh" || lang == "bash") { n++; f = sprintf("%s/%02d.sh", dir, n) } else f = ""
		next
	}
	inblk && /^```[ \t]*$/ { if (f != "") close(f); inblk = 0; next }
	inblk && f != "" { print > f; next }
	inblk && /curl/ { print FILENAME ":" FNR ": " $0 > stray }
' "$skill"
shopt -s nullglob
cmds=("$T_TMP"/cmd/*.sh)
shopt -u nullglob
t_check "SKILL.md has commands" test "${#cmds[@]}" -gt 0
t_check "no curl outside a sh block" test ! -e "$T_TMP/stray"
bad=$(grep -lE '<[A-Za-z_ -]+>|…|\.\.\.|YOUR_|_HERE|(^|[[:space:]])(-k|--insecure)([[:space:]]|$)' "${cmds[@]}" || true)
t_is "no placeholder and no -k in any command" "$bad" ""
bad=$(grep -L 'Bearer \$CLAWMESH_TOKEN"' "${cmds[@]}" || true)
t_is "every command sends \$CLAWMESH_TOKEN" "$bad" ""
bad=$(grep -L '"\$CLAWMESH_URL/v1/' "${cmds[@]}" || true)
t_is "every command calls \"\$CLAWMESH_URL/v1/…\"" "$bad" ""

# --- expectations, one per command in SKILL.md order: a regular expression the command (its
# lines joined) must match, the HTTP status, a jq test of what it printed (empty: none), and a
# shell test run afterwards in the workspace, with $out the file holding what it printed.
w_re=() w_status=() w_jq=() w_sh=()
want() { w_re+=("$1") w_status+=("$2") w_jq+=("$3") w_sh+=("${4:-}"); }
want '/v1/whoami' 200 '.node == "ceo" and ([.grants[].scope] | index("node:ceo") != null)'
want '/v1/memory/mesh/user\.preferences"$' 200 '.version == 1 and .value.lang == "en" and .node == "sec"'
want '/v1/memory/user:alice/profile' 200 '.value.timezone == "Europe/Berlin"'
want 'scope=project:alpha&prefix=context' 200 '[.items[].key] == ["context"]'
want '-G .*/v1/memory" .*q=launch date' 200 '.items[0].scope == "project:alpha" and .items[0].key == "context"'
want 'PUT .*If-None-Match: \*.*project:alpha/decisions\.db' 201 '.version == 1 and .node == "ceo" and .tags == ["decision"]'
want 'PUT .*If-Match: "1".*mesh/user\.preferences' 200 '.version == 2 and .value == {"short_answers":true,"units":"metric"}'
want 'PUT .*node:ceo/session\.summary' 201 '.scope == "node:ceo" and .expires_at != null'
want 'DELETE .*node:ceo/session\.summary' 204 ''
want '/v1/skills\?scope=mesh' 200 '[.items[].name] | index("triage") != null'
want '-G .*/v1/skills" .*q=urgent email' 200 '.items[0].name == "triage"'
want 'Accept: text/markdown.*/skills/mesh/triage"$' 200 '' 'cmp -s "$out" "$T_TMP/triage.md"'
want '/skills/mesh/triage" .*-o skills/triage/SKILL\.md' 200 '' 'cmp -s skills/triage/SKILL.md "$T_TMP/triage.md"'
want 'PUT .*text/markdown.*/skills/mesh/weekly-report.*@skills/weekly-report/SKILL\.md' 201 \
	'.name == "weekly-report" and .version == 1 and .node == "ceo" and .description == "Write the weekly status report."'
want '/v1/nodes\?capability=reminders&online=true' 200 '[.items[] | [.id, .online]] == [["sec", true]]'
want 'PUT .*If-None-Match: \*.*mesh/handoff\.sec\.dentist-reminder' 201 '.node == "ceo" and .value.status == "open"'
want 'scope=mesh&prefix=handoff\.ceo\.' 200 '[.items[] | [.key, .value.status, .node]] == [["handoff.ceo.inbox-summary", "open", "sec"]]'
want 'PATCH .*If-Match: "1".*handoff\.ceo\.inbox-summary.*"accepted"' 200 '.version == 2 and .value.status == "accepted" and (.value.task | length) > 0'
want 'PATCH .*If-Match: "2".*handoff\.ceo\.inbox-summary.*"done"' 200 '.version == 3 and .value.status == "done" and (.value.result | length) > 0'
want 'PUT .*/v1/nodes/ceo"' 201 '.id == "ceo" and .online and (.capabilities | index("calendar") != null)'
want 'POST .*/v1/nodes/ceo/heartbeat' 204 ''
want '/v1/stats"$' 200 '.revision > 0 and (.changes | length) > 0'
want '/v1/changes\?since=0&kind=memory,skill&include=value' 200 \
	'.next > 0 and ([.changes[].kind] | unique) == ["memory", "skill"] and any(.changes[]; .key == "handoff.sec.dentist-reminder" and .value.status == "open")'
t_is "every command in SKILL.md has an expectation here, and every expectation a command" \
	"${#cmds[@]}" "${#w_re[@]}"

# --- a live mesh over HTTPS with a self-signed certificate, trusted as docs/agent-skill.md says:
# the system's CAs plus clawmesh's certificate, which is what update-ca-certificates makes of
# the system bundle; CURL_CA_BUNDLE names such a bundle here instead of changing the system's.
t_pg_up
"$T_ROOT/deploy/make-cert.sh" "$T_TMP/tls" 2>/dev/null
t_server_start skill --tls-cert "$T_TMP/tls/cert.pem" --tls-key "$T_TMP/tls/key.pem"
cat /etc/ssl/certs/ca-certificates.crt "$T_TMP/tls/cert.pem" >"$T_TMP/ca-bundle.pem" 2>/dev/null ||
	cp "$T_TMP/tls/cert.pem" "$T_TMP/ca-bundle.pem"
export CURL_CA_BUNDLE="$T_TMP/ca-bundle.pem"
admin=$(t_admin)
# api TOKEN METHOD PATH [curl args..]: the seeding and checking calls; prints the answer, fails on >= 400.
api() {
	local tok=$1 method=$2 path=$3
	shift 3
	curl -sS --fail-with-body -X "$method" -H "Authorization: Bearer $tok" "$T_URL$path" "$@"
}
token() { # NODE [GRANTS JSON]
	api "$admin" POST /v1/tokens -H 'Content-Type: application/json' \
		-d "{\"label\":\"$1 gateway\",\"node\":\"$1\"${2:+,\"grants\":$2}}" | jq -r .token
}
ceo=$(token ceo '[{"scope":"mesh","access":"rw"},{"scope":"user:*","access":"rw"},{"scope":"project:*","access":"rw"}]')
sec=$(token sec)

# What the commands read: written by the other gateway (sec) and an admin, as a mesh would have it.
J=(-H 'Content-Type: application/json')
seed() { api "$@" >/dev/null; }
seed "$sec" PUT /v1/memory/mesh/user.preferences "${J[@]}" -d '{"value":{"short_answers":true,"lang":"en"},"tags":["prefs"]}'
seed "$admin" PUT /v1/memory/user:alice/profile "${J[@]}" -d '{"value":{"name":"Alice","timezone":"Europe/Berlin"}}'
seed "$admin" PUT /v1/memory/project:alpha/context "${J[@]}" \
	-d '{"value":"Alpha ships on 2026-03-15; Bob owns the launch date and the review.","tags":["alpha"]}'
printf -- '---\nname: triage\ndescription: Sort the inbox by urgency, urgent email first.\n---\n# Triage\n\nFlag urgent email (deadlines today, legal, the CEO) and summarise the rest in one line each.\n' \
	>"$T_TMP/triage.md"
seed "$sec" PUT /v1/skills/mesh/triage -H 'Content-Type: text/markdown' --data-binary @"$T_TMP/triage.md"
seed "$sec" PUT /v1/nodes/sec "${J[@]}" -d '{"name":"Sec (Synology NAS)","capabilities":["triage","reminders"]}'
seed "$admin" PUT /v1/nodes/idle "${J[@]}" -d '{"capabilities":["reminders"]}' # registered, never heard from since
seed "$sec" PUT /v1/memory/mesh/handoff.ceo.inbox-summary "${J[@]}" -H 'If-None-Match: *' \
	-d '{"value":{"task":"Summarise the unread mail of today for Alice.","status":"open"},"tags":["handoff"]}'
ws="$T_TMP/workspace" # an OpenClaw workspace: where an agent's commands run
mkdir -p "$ws/skills/weekly-report" "$T_TMP/home"
printf -- '---\nname: weekly-report\ndescription: Write the weekly status report.\n---\n# Weekly report\n\nThree lines: done, next, blocked.\n' \
	>"$ws/skills/weekly-report/SKILL.md"
# "idle" must not be online when the nodes command runs: registration counts as being heard from.
psql "$T_DB_URL" -qc "UPDATE nodes SET last_seen = now() - interval '1 hour' WHERE id = 'idle'"

# --- each command, as written, with only what an agent's shell has: PATH, HOME and the three
# variables. A curl function in front adds the status on stderr and changes nothing else.
run_env=(env -i PATH="$PATH" HOME="$T_TMP/home" CLAWMESH_URL="$T_URL" CLAWMESH_TOKEN="$ceo" CURL_CA_BUNDLE="$CURL_CA_BUNDLE")
prelude='curl() { command curl -w "%{stderr}HTTP %{http_code}\n" "$@"; }'
n=${#w_re[@]}
[ "${#cmds[@]}" -lt "$n" ] && n=${#cmds[@]}
for ((i = 0; i < n; i++)); do
	f=${cmds[$i]}
	line=$(sed -e 's/\\$//' "$f" | tr -s '\n\t ' '   ' | sed 's/ $//')
	short=${line#curl -sS --fail-with-body -H \"Authorization: Bearer \$CLAWMESH_TOKEN\" }
	what="command $((i + 1)): ${short:0:120}"
	out="$T_TMP/out.$i" err="$T_TMP/err.$i"
	if ! grep -Eq -- "${w_re[$i]}" <<<"$line"; then
		t_not_ok "$what (is not the command the table expects here: /${w_re[$i]}/)"
		continue
	fi
	set +e
	(cd "$ws" && "${run_env[@]}" bash --noprofile --norc -c "$prelude"$'\n'"$(cat "$f")") >"$out" 2>"$err"
	rc=$?
	set -e
	status=$(sed -n 's/^HTTP \([0-9]*\)$/\1/p' "$err" | tail -n 1)
	why=""
	[ $rc = 0 ] || why="exit $rc"
	[ "$status" = "${w_status[$i]}" ] || why="$why; status ${status:-none}, want ${w_status[$i]}"
	if [ -z "$why" ] && [ -n "${w_jq[$i]}" ] && ! jq -e "${w_jq[$i]}" "$out" >/dev/null 2>&1; then
		why="answer fails: ${w_jq[$i]}"
	fi
	if [ -z "$why" ] && [ -n "${w_sh[$i]}" ] && ! (cd "$ws" && eval "${w_sh[$i]}"); then
		why="check fails: ${w_sh[$i]}"
	fi
	if [ -z "$why" ]; then
		t_ok "$what"
	else
		t_not_ok "$what (${why#; })"
		cat "$out" "$err" | head -c 2000 | sed 's/^/# /'
		echo
	fi
done

# --- what the commands did, as the other gateway sees it.
got=$(api "$sec" GET /v1/memory/mesh/handoff.sec.dentist-reminder | jq -c '[.node, .value.status, .tags]')
t_is "sec finds the hand-off addressed to it, written by ceo" "$got" '["ceo","open",["handoff"]]'
got=$(api "$sec" GET /v1/memory/mesh/handoff.ceo.inbox-summary | jq -c '[.node, .version, .value.status]')
t_is "sec sees its hand-off done by ceo" "$got" '["ceo",3,"done"]'
t_check "the published skill comes back byte for byte" \
	cmp -s <(api "$sec" GET /v1/skills/mesh/weekly-report -H 'Accept: text/markdown') "$ws/skills/weekly-report/SKILL.md"
got=$(api "$sec" GET '/v1/nodes?capability=calendar&online=true' | jq -c '[.items[].id]')
t_is "ceo is online with its capabilities after register and heartbeat" "$got" '["ceo"]'
set +e
api "$ceo" GET /v1/memory/node:ceo/session.summary >/dev/null 2>&1
t_is "the forgotten entry is gone" "$?" 22
"${run_env[@]:0:6}" bash -c "$(cat "${cmds[0]}")" >/dev/null 2>&1
t_is "without CURL_CA_BUNDLE curl refuses the self-signed certificate (exit 60)" "$?" 60
set -e

# --- what the skill tells agents holds: a credential is refused, naming the kind.
key="sk-$(head -c 15 /dev/urandom | base64 | tr '+/' '-_')"
got=$(curl -sS -X PUT -H "Authorization: Bearer $ceo" "${J[@]}" "$T_URL/v1/memory/mesh/service.login" \
	-d "{\"value\":\"the key is $key\"}" | jq -r .error.code)
t_is "a value with an API key is refused with secret_detected" "$got" secret_detected

# --- the skill itself is a valid SKILL.md for clawmesh too (front matter, no secret), and the
# server reads OpenClaw's requirements from it.
got=$(api "$ceo" PUT /v1/skills/mesh/clawmesh -H 'Content-Type: text/markdown' --data-binary @"$skill" |
	jq -c '[.version, .metadata.metadata.openclaw.requires, .metadata.metadata.openclaw.primaryEnv]')
t_is "SKILL.md publishes to clawmesh, its requirements read from the front matter" "$got" \
	'[1,{"env":["CLAWMESH_URL","CLAWMESH_TOKEN"],"bins":["curl"]},"CLAWMESH_TOKEN"]'
t_done
