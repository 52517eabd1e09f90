#!/usr/bin/env bash
# The dashboard at /ui/ in a real browser: Debian's chromium, driven by playwright-core (npm,
# pinned by tests/ui/package-lock.json), against a real clawmeshd on a throwaway cluster. This
# script sets the stage (npm ci when needed, the cluster, clawmeshd, three tokens, seed data
# written with curl); tests/ui/ui.test.mjs drives the browser and prints one TAP point per check,
# numbered on from ours, so meson counts each. Screenshots: tests/ui/screenshots/ (not committed).
#
# No chromium: a TAP skip on a developer's machine, a failure under CI (CI set), where the browser
# tests must run.
. "$(dirname "$0")/../deploy/lib.sh" "$1"
ui="$T_ROOT/tests/ui"
chromium=/usr/bin/chromium
run_start=$(date +%s%N)
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

if [ ! -x "$chromium" ]; then
	if [ -z "${CI:-}" ]; then
		t_skip "browser tests" "no $chromium (deploy/install-deps.sh installs Debian's chromium)"
	else
		t_not_ok "browser tests: no $chromium, and CI is set (deploy/install-deps.sh installs it)"
	fi
	t_done
	exit
fi

# npm ci only when node_modules is missing or came from another lock, under a lock on the
# directory so that two runs (build/ and build-asan/) never install over each other.
npm_install() {
	local sum start
	sum=$(sha256sum <"$ui/package-lock.json")
	[ "$(cat "$ui/node_modules/.clawmesh-lock" 2>/dev/null)" = "$sum" ] && return 0
	start=$(date +%s%N)
	# --ignore-scripts: playwright-core has no install step, and nothing may fetch a browser.
	(cd "$ui" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) || return 1
	echo "$sum" >"$ui/node_modules/.clawmesh-lock"
	echo "# npm ci in tests/ui: $(ms_since "$start") ms, node_modules $(du -sh "$ui/node_modules" | cut -f1)" >>"$T_TMP/npm.log"
}
exec 9<"$ui"
flock 9
t_check "npm ci: playwright-core, axe-core" npm_install
flock -u 9
exec 9<&-
[ -f "$T_TMP/npm.log" ] && cat "$T_TMP/npm.log"
t_is "playwright-core is the pinned 1.64.1" \
	"$(jq -r .version "$ui/node_modules/playwright-core/package.json" 2>&1)" 1.64.1

t_check "cluster and schema" t_pg_up
t_check "clawmeshd serves" t_server_start ui
admin=$(t_admin 2>/dev/null)
node_tok=$("$CLAWMESHD" token create --node ceo --grant mesh:rw --label "ui test: node ceo" 2>/dev/null | jq -r .token)
read_tok=$("$CLAWMESHD" token create --grant 'project:*:r' --label "ui test: read project:*" 2>/dev/null | jq -r .token)
tokens_made() { [[ $admin == cm_* && $node_tok == cm_* && $read_tok == cm_* ]]; }
t_check "three tokens (admin, node ceo mesh:rw, project:* read-only)" tokens_made

# api METHOD PATH TOKEN [JSON]: one request; fails on any status >= 400, showing the body.
api() {
	local args=(-sS --max-time 10 -o "$T_TMP/api.out" -w '%{http_code}' -X "$1"
		-H "Authorization: Bearer $3")
	[ $# -ge 4 ] && args+=(-H 'Content-Type: application/json' --data-binary "$4")
	local code
	code=$(curl "${args[@]}" "$T_URL$2") || return 1
	[ "$code" -lt 400 ] || {
		echo "$1 $2 -> $code: $(head -c 500 "$T_TMP/api.out")"
		return 1
	}
}
seed_node() {
	api PUT /v1/nodes/ceo "$node_tok" \
		'{"name":"CEO","description":"the chief of staff gateway","capabilities":["triage","reminders"]}' &&
		api POST /v1/nodes/ceo/heartbeat "$node_tok"
}
seed_mesh() {
	api PUT /v1/memory/mesh/user.preferences "$node_tok" '{"value":{"tone":"brief"},"tags":["prefs"]}' &&
		api PUT /v1/memory/mesh/user.preferences "$node_tok" '{"value":{"tone":"brief","lang":"en"},"tags":["prefs"]}' &&
		api PUT /v1/memory/mesh/user.preferences "$node_tok" '{"value":{"tone":"friendly","lang":"en"},"tags":["prefs"]}' &&
		api PUT /v1/memory/mesh/team.notes "$node_tok" '{"value":"weekly sync moved to Thursday"}'
}
# xss.probe: markup a careless page would run; the view tests show it must come out as text.
seed_scoped() {
	api PUT /v1/memory/project:alpha/plan.q3 "$admin" '{"value":{"goal":"ship the dashboard"},"tags":["plan"]}' &&
		api PUT /v1/memory/project:alpha/xss.probe "$admin" \
			'{"value":"<img src=x onerror=alert(1)><script>alert(2)</script>"}' &&
		api PUT /v1/memory/user:alice/todo "$admin" '{"value":["call Bob","book train"]}'
}
skill_json() { # DESCRIPTION BODY: a SKILL.md for triage, as the JSON body of a PUT
	printf -- '---\nname: triage\ndescription: %s\n---\n# Triage\n\n%s\n' "$1" "$2" | jq -Rs '{content: .}'
}
seed_skill() {
	api PUT /v1/skills/mesh/triage "$node_tok" "$(skill_json "Sort the inbox" "Read, label, archive.")" &&
		api PUT /v1/skills/mesh/triage "$node_tok" \
			"$(skill_json "Sort the inbox by urgency" "Read, rank by urgency, label, archive.")"
}
t_check "seed: node ceo, online" seed_node
t_check "seed: mesh memory, user.preferences in three versions" seed_mesh
t_check "seed: project:alpha and user:alice memory" seed_scoped
t_check "seed: skill mesh/triage in two versions" seed_skill
t_is "seed: user.preferences is at version 3" \
	"$(curl -sS --max-time 10 -H "Authorization: Bearer $admin" "$T_URL/v1/memory/mesh/user.preferences" | jq -r .version)" 3
t_is "seed: skill triage has versions 2 and 1" \
	"$(curl -sS --max-time 10 -H "Authorization: Bearer $admin" "$T_URL/v1/skills/mesh/triage/versions" | jq -c '[.items[].version]')" '[2,1]'

# The browser part: its points are numbered on from ours; it writes "POINTS FAILED" for us.
count="$T_TMP/ui.count"
node_start=$(date +%s%N)
set +e
CM_UI_URL=$T_URL CM_UI_TOKEN_ADMIN=$admin CM_UI_TOKEN_NODE=$node_tok CM_UI_TOKEN_READ=$read_tok \
	CM_UI_TAP_START=$t_n CM_UI_COUNT_FILE=$count CM_UI_CHROMIUM=$chromium \
	timeout -k 5 330 node "$ui/ui.test.mjs" | tee "$T_TMP/ui.tap"
rc=${PIPESTATUS[0]}
set -e
if [ -s "$count" ] && read -r n f <"$count"; then
	t_n=$((t_n + n))
	t_failed=$((t_failed + f))
	[ "$f" = 0 ] && [ "$rc" != 0 ] && t_not_ok "ui.test.mjs exited $rc"
else # killed before it could count: number on from the last point it printed
	t_n=$((t_n + $(grep -cE '^(not )?ok [0-9]' "$T_TMP/ui.tap" || true)))
	t_failed=$((t_failed + $(grep -c '^not ok [0-9]' "$T_TMP/ui.tap" || true)))
	t_not_ok "ui.test.mjs ran to the end (exit $rc, no count written)"
fi
echo "# ui.test.mjs: $(ms_since "$node_start") ms; the whole test: $(ms_since "$run_start") ms"
t_check "clawmeshd is still up" curl -sf --max-time 5 -o /dev/null "$T_URL/healthz"
# Stopped here rather than by the exit trap, so that its status counts: in build-asan/ a
# sanitizer report (a leak included) makes it non-zero.
stop_server() {
	kill -TERM "$T_SERVER_PID"
	local rc=0
	wait "$T_SERVER_PID" || rc=$?
	[ $rc = 0 ] || { echo "clawmeshd exited $rc; its log:"; tail -n 30 "$T_TMP/ui.log"; }
	return $rc
}
t_check "clawmeshd stops cleanly (exit 0, no sanitizer report)" stop_server
t_done
