#!/usr/bin/env bash
# The Docker and systemd deployment, checked without a Docker engine: deploy/docker-compose.yml
# parses (docker-compose config) and names files that exist; deploy/Dockerfile builds as CI
# does and runs unprivileged with every library clawmeshd links; deploy/docker-entrypoint.sh,
# run on this host, makes its certificate, waits a bounded time for the database and becomes
# clawmeshd serve; deploy/clawmeshd.service verifies and stays hardened.
. "$(dirname "$0")/lib.sh" "$1"
cd "$T_ROOT"
compose=deploy/docker-compose.yml
dockerfile=deploy/Dockerfile
py=/usr/bin/python3 # Debian's, which has python3-yaml (a docker-compose dependency)

# --- the compose file, with the settings of .env.example (no deploy/.env is read).
compose_config() { # ENV-FILE [config options..]
	local envf=$1
	shift
	env -i PATH="$PATH" HOME="$T_TMP" docker-compose --env-file "$envf" -f "$compose" config "$@"
}
set +e
compose_config deploy/.env.example -q >"$T_TMP/compose-noenv.out" 2>&1
status=$?
set -e
t_check "with .env.example as it is, docker-compose refuses: POSTGRES_PASSWORD has no default" \
	bash -c "[ $status != 0 ] && grep -q 'set POSTGRES_PASSWORD in .env' '$T_TMP/compose-noenv.out'"
admin=$(printf 'cm_%s' "$(openssl rand -base64 32 | tr '+/' '-_' | tr -d '=')")
sed -e 's/^POSTGRES_PASSWORD=$/POSTGRES_PASSWORD=p@ss w$rd/' -e "s/^CLAWMESH_ADMIN_TOKEN=\$/CLAWMESH_ADMIN_TOKEN=$admin/" \
	deploy/.env.example >"$T_TMP/env"
t_check "docker-compose config -q parses the compose file with a password set" compose_config "$T_TMP/env" -q
{ compose_config "$T_TMP/env" 2>/dev/null | "$py" -c 'import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)' >"$T_TMP/compose.json"; } || true
c() { jq -r "$1" "$T_TMP/compose.json"; }
t_is "services: db and clawmesh" "$(c '.services | keys | join(" ")')" "clawmesh db"
t_is "db is postgres:15 with a pg_isready health check" \
	"$(c '.services.db.image + " " + (.services.db.healthcheck.test | join(" "))')" \
	"postgres:15 CMD pg_isready -h 127.0.0.1 -U clawmesh -d clawmesh"
t_is "clawmesh starts once db is healthy" "$(c '.services.clawmesh.depends_on.db.condition')" service_healthy
t_is "both restart unless stopped" "$(c '[.services[].restart] | join(" ")')" "unless-stopped unless-stopped"
t_is "clawmesh publishes 8443" "$(c '.services.clawmesh.ports[0] | "\(.published):\(.target)"')" 8443:8443
t_is "the password and the admin token reach the containers" \
	"$(c '[.services.db.environment.POSTGRES_PASSWORD, .services.clawmesh.environment.PGPASSWORD, .services.clawmesh.environment.CLAWMESH_ADMIN_TOKEN] | join(" ")')" \
	"p@ss w\$\$rd p@ss w\$\$rd $admin"
t_is "the data binds under CLAWMESH_DATA (/volume1/docker/clawmesh in .env.example)" \
	"$(c '[.services.db.volumes[], .services.clawmesh.volumes[]] | join(" ")')" \
	"/volume1/docker/clawmesh/pgdata:/var/lib/postgresql/data:rw /volume1/docker/clawmesh/certs:/certs:rw"
t_is "the build context is the repository root" "$(c '.services.clawmesh.build.context')" "$T_ROOT"
t_check "the build's dockerfile exists in it" test -f "$(c '.services.clawmesh.build.context + "/" + .services.clawmesh.build.dockerfile')"

# --- the Dockerfile: instructions one a line (continuations joined), comments dropped.
sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$dockerfile" | grep -v '^[[:space:]]*#' | grep -v '^[[:space:]]*$' >"$T_TMP/df"
awk 'BEGIN{IGNORECASE=1} /^FROM /{n++} n==1' "$T_TMP/df" >"$T_TMP/df.build"
awk -v last="$(grep -ic '^FROM ' "$T_TMP/df")" 'BEGIN{IGNORECASE=1} /^FROM /{n++} n==last' "$T_TMP/df" >"$T_TMP/df.run"
t_is "the build stage is Debian 12" "$(head -n 1 "$T_TMP/df.build")" "FROM debian:12 AS build"
t_is "the runtime stage is debian:12-slim" "$(head -n 1 "$T_TMP/df.run")" "FROM debian:12-slim"
t_check "the build stage installs packages with deploy/install-deps.sh" \
	grep -Eq '^RUN .*deploy/install-deps\.sh' "$T_TMP/df.build"
# tests/run.sh sets up build/ with no options: the image is the configuration CI tests.
t_check "tests/run.sh builds with meson setup and meson compile" \
	grep -q 'run_build build$' tests/run.sh
t_check "the build stage runs meson setup build (no options, as CI) and meson compile -C build" \
	grep -Eq '^RUN meson setup build[[:space:]]+&&.*meson compile -C build' "$T_TMP/df.build"
missing=""
while read -r src; do
	[ -e "$src" ] || missing="$missing $src"
done < <(grep -E '^(COPY|ADD) ' "$T_TMP/df" | grep -v -- '--from=' | awk '{for (i = 2; i < NF; i++) if ($i !~ /^--/) print $i}')
while read -r f; do
	[ -e "$f" ] || missing="$missing $f"
done < <(grep -Eo 'deploy/[A-Za-z0-9._-]+' "$dockerfile" | sort -u)
t_is "every COPY source and deploy/ file the Dockerfile names exists" "$missing" ""
user=$(grep -E '^USER ' "$T_TMP/df.run" | tail -n 1 | awk '{print $2}')
t_check "the runtime stage runs as a user that is not root (USER $user)" \
	bash -c "[ -n '$user' ] && [ '${user%%:*}' != root ] && [ '${user%%:*}' != 0 ]"
t_check "the runtime stage has a HEALTHCHECK on /healthz over HTTPS" \
	grep -Eq '^HEALTHCHECK .*curl .*(-[a-z]*k|--cacert).*https://127\.0\.0\.1:.*/healthz' "$T_TMP/df.run"
t_check "it exposes 8443 and keeps /certs in a volume" \
	bash -c "grep -qx 'EXPOSE 8443' '$T_TMP/df.run' && grep -q '^VOLUME .*/certs' '$T_TMP/df.run'"
entry=$(sed -n 's/^ENTRYPOINT //p' "$T_TMP/df.run" | jq -r '.[0]')
t_check "the ENTRYPOINT ($entry) is where deploy/docker-entrypoint.sh is installed" \
	grep -Eq "install .*deploy/docker-entrypoint\.sh /out$entry( |\$)" "$T_TMP/df.build"
mkcert=$(sed -n 's/.*\[ -f "$mk" \] || mk=\(.*\)$/\1/p' deploy/docker-entrypoint.sh)
t_check "make-cert.sh is installed where the entrypoint looks ($mkcert)" \
	grep -Eq "install .*deploy/make-cert\.sh /out$mkcert( |\$)" "$T_TMP/df.build"
# Every library clawmeshd links, by the Debian package that has it here, is installed at run time.
runtime_pkgs=" $(grep -E '^RUN .*apt-get install' "$T_TMP/df.run" | sed 's/.*--no-install-recommends//; s/&&.*//' | tr -s '\t ' '  ') libc6 "
lacking=""
while read -r lib; do
	path=$(ldd "$CLAWMESHD" | awk -v l="$lib" '{n = split($1, p, "/")} $1 == l {print $3} n > 1 && p[n] == l {print $1}')
	pkg=$(dpkg -S "$path" 2>/dev/null || dpkg -S "$(realpath "$path")" 2>/dev/null || echo "?$lib:")
	pkg=${pkg%%:*}
	case "$runtime_pkgs" in *" $pkg "*) ;; *) lacking="$lacking $pkg($lib)" ;; esac
done < <(readelf -d "$CLAWMESHD" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | grep -Ev '^lib(a|ub|t|l)san\.') # not the sanitizer build's
for tool in curl openssl ca-certificates; do
	case "$runtime_pkgs" in *" $tool "*) ;; *) lacking="$lacking $tool" ;; esac
done
t_is "the runtime stage installs every library clawmeshd links, curl, openssl, ca-certificates" "$lacking" ""
# .dockerignore, read as Docker does (** any directories, * within one; a match excludes the
# whole directory): no tracked file is left out, and secrets, data and build trees are.
dockerignored() {
	"$py" - "$@" <<'PY'
import re, sys
pats = []
for line in open(".dockerignore"):
    line = line.strip()
    if not line or line.startswith("#"):
        continue
    p = line.rstrip("/")
    rx = re.escape(p).replace(r"\*\*/", "(.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
    pats.append(re.compile(rx + "$"))
for path in sys.argv[1:]:
    parts = path.split("/")
    if any(r.match("/".join(parts[:i])) for r in pats for i in range(1, len(parts) + 1)):
        print(path)
PY
}
# Outside a git checkout: the files, less what the builds and tests make.
mapfile -t tracked < <(git ls-files 2>/dev/null ||
	find . \( -path ./.git -o -path './build*' -o -path ./.local -o -name node_modules \) -prune -o -type f -printf '%P\n')
t_is ".dockerignore leaves every tracked file in the build context" "$(dockerignored "${tracked[@]}")" ""
kept_out=(.git/config build/clawmeshd build-asan/x .local/pg/data tests/contract/node_modules/x/y.js
	deploy/.env deploy/data/pgdata/PG_VERSION deploy/data/certs/key.pem x.pem deploy/nas.key)
t_is ".dockerignore keeps out git, build trees, node_modules, .env, the data folder and keys" \
	"$(dockerignored "${kept_out[@]}" | tr '\n' ' ')" "${kept_out[*]} "

# --- the entrypoint on this host, against our own cluster, with this build's clawmeshd.
t_pg_up
pgadmin=$("$T_PGL" url "$T_TMP/pg" postgres)
psql "$pgadmin" -qc "CREATE DATABASE fresh"
db=$("$T_PGL" url "$T_TMP/pg" fresh)
certs="$T_TMP/certs"
port=$(t_free_port)
url="https://127.0.0.1:$port"
# The entrypoint's environment: CLAWMESH_DB_WAIT=${wait:-60}. `env`, not a function, so that
# a background start's $! is the entrypoint itself.
ep_env() {
	ep=(env -u CLAWMESH_TLS_CERT -u CLAWMESH_TLS_KEY CLAWMESH_BIN="$CLAWMESHD" CLAWMESH_CERT_DIR="$certs"
		CLAWMESH_MAKE_CERT="$T_ROOT/deploy/make-cert.sh" CLAWMESH_LISTEN="127.0.0.1:$port"
		CLAWMESH_DATABASE_URL="$db" CLAWMESH_ADMIN_TOKEN="$admin" CLAWMESH_TLS_NAMES="nas.example,192.0.2.7"
		CLAWMESH_DB_WAIT="${wait:-60}")
}
ep_start() { # LOG [ARGS..]: the entrypoint in the background; sets ep_pid
	local log=$1
	shift
	ep_env
	"${ep[@]}" deploy/docker-entrypoint.sh --threads 2 "$@" >"$T_TMP/$log" 2>&1 &
	ep_pid=$!
	t_pids+=("$ep_pid")
}
ep_stop() { # SIGTERM; sets ep_status to the exit status, "hung" after 10 s (then SIGKILL)
	local i st=
	kill -TERM "$ep_pid"
	for i in $(seq 100); do
		read -r _ _ st _ 2>/dev/null <"/proc/$ep_pid/stat" || st=Z
		[ "$st" = Z ] && break
		sleep 0.1
	done
	if [ "$st" != Z ]; then
		for i in $(cat "/proc/$ep_pid/task/$ep_pid/children" 2>/dev/null) "$ep_pid"; do
			kill -KILL "$i" 2>/dev/null || true
		done
		wait "$ep_pid" 2>/dev/null || true
		ep_status=hung
		return
	fi
	ep_status=0
	wait "$ep_pid" || ep_status=$?
}
W() { curl -s --cacert "$certs/cert.pem" -H "Authorization: Bearer $admin" "$@"; }

ep_start ep1.log --cors-origin https://mc.example
t_check "the entrypoint serves HTTPS with the certificate it made in an empty cert dir" \
	t_wait_url "$url/healthz" --cacert "$certs/cert.pem"
t_check "the certificate names the CLAWMESH_TLS_NAMES" \
	grep -q 'DNS:nas.example, IP Address:192.0.2.7' <<<"$(openssl x509 -in "$certs/cert.pem" -noout -ext subjectAltName)"
t_is "it migrated a new database (/readyz)" "$(curl -s --cacert "$certs/cert.pem" "$url/readyz" | jq -r .status)" ready
t_is "CLAWMESH_ADMIN_TOKEN is an admin token (whoami)" "$(W "$url/v1/whoami" | jq -r .admin)" true
t_is "options after the script reach clawmeshd serve (--cors-origin)" \
	"$(curl -s -o /dev/null -D - --cacert "$certs/cert.pem" -H 'Origin: https://mc.example' "$url/healthz" |
		tr -d '\r' | sed -n 's/^access-control-allow-origin: //Ip')" https://mc.example
t_is "the entrypoint became clawmeshd (exec: same process, SIGTERM goes to it)" \
	"$(readlink "/proc/$ep_pid/exe")" "$(realpath "$CLAWMESHD")"
cert_sum=$(sha256sum "$certs/cert.pem" "$certs/key.pem")
ep_stop
t_is "SIGTERM stops it with exit 0" "$ep_status" 0

ep_start ep2.log
t_check "a second start comes up" t_wait_url "$url/healthz" --cacert "$certs/cert.pem"
t_is "it keeps the certificate and key" "$(sha256sum "$certs/cert.pem" "$certs/key.pem")" "$cert_sum"
t_check "it made no certificate this time" bash -c "! grep -q make-cert '$T_TMP/ep2.log'"
t_is "the admin token still works" "$(W "$url/v1/whoami" | jq -r .admin)" true
t_is "there is one bootstrap admin token, not two" \
	"$(CLAWMESH_DATABASE_URL=$db "$CLAWMESHD" token list | jq '[.items[] | select(.label == "bootstrap admin")] | length')" 1
ep_stop
t_is "SIGTERM stops the second run with exit 0" "$ep_status" 0

ep_env
out=$("${ep[@]}" CLAWMESH_CERT_DIR="$T_TMP/nocerts" deploy/docker-entrypoint.sh token list 2>&1)
t_is "another command runs as it is (token list), no certificate made" \
	"$(jq -r '.items | length > 0' <<<"$out")/$(test -e "$T_TMP/nocerts" && echo made || echo none)" true/none

# A database that is not up yet: it waits, and serves once it is.
"$T_PGL" stop "$T_TMP/pg"
wait=60 ep_start ep3.log
sleep 2.5
t_check "with the database down it waits and does not serve" \
	bash -c "grep -q 'waiting up to 60 s for the database' '$T_TMP/ep3.log' && kill -0 $ep_pid && ! curl -sk --max-time 1 -o /dev/null $url/healthz"
"$T_PGL" start "$T_TMP/pg"
t_check "it serves once the database is started" t_wait_url "$url/healthz" --cacert "$certs/cert.pem"
t_check "its log says the database answers" grep -q 'the database answers' "$T_TMP/ep3.log"
t_is "the admin token works after the wait" "$(W "$url/v1/whoami" | jq -r .admin)" true
ep_stop
t_is "SIGTERM stops it with exit 0" "$ep_status" 0

# A database that never comes: it gives up after CLAWMESH_DB_WAIT, saying why.
"$T_PGL" stop "$T_TMP/pg"
start=$(date +%s)
set +e
wait=3 ep_env
"${ep[@]}" deploy/docker-entrypoint.sh >"$T_TMP/ep4.log" 2>&1
status=$?
set -e
took=$(($(date +%s) - start))
t_is "without a database it exits 1" "$status" 1
t_check "after its bounded wait (3 s; took $took s)" bash -c "[ $took -ge 3 ] && [ $took -le 10 ]"
t_check "saying it gave up, and what the last attempt said" \
	bash -c "grep -q 'gave up: the database did not answer within 3 s' '$T_TMP/ep4.log' && grep -q 'cannot connect' '$T_TMP/ep4.log'"
set +e
ep_env
"${ep[@]}" deploy/docker-entrypoint.sh --no-such-option >"$T_TMP/ep5.log" 2>&1
status=$?
set -e
t_is "a bad option exits 2 at once, without waiting" "$status/$(grep -c 'waiting' "$T_TMP/ep5.log" || true)" 2/0

# --- the systemd unit, if this machine has systemd-analyze (the ExecStart path made real).
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir -p "$T_TMP/unit"
	sed "s|^ExecStart=/usr/local/bin/clawmeshd |ExecStart=$CLAWMESHD |" deploy/clawmeshd.service >"$T_TMP/unit/clawmeshd.service"
	t_check "systemd-analyze verify passes (ExecStart pointed at this build)" \
		systemd-analyze verify "$T_TMP/unit/clawmeshd.service"
	score=$(systemd-analyze security --offline=yes deploy/clawmeshd.service 2>/dev/null | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\).*/\1/p')
	echo "# systemd-analyze security: exposure $score"
	t_check "systemd-analyze security: exposure $score, at most 2.0" \
		systemd-analyze security --offline=yes --threshold=20 deploy/clawmeshd.service
else
	t_skip "systemd-analyze verify" "no systemd-analyze here"
	t_skip "systemd-analyze security" "no systemd-analyze here"
fi
t_is "the unit starts /usr/local/bin/clawmeshd serve" "$(sed -n 's/^ExecStart=//p' deploy/clawmeshd.service)" "/usr/local/bin/clawmeshd serve"
t_done
