#!/usr/bin/env bash
# Brings up a working clawmesh on this machine: packages, build, a private PostgreSQL cluster
# under .local/ (kept across runs), migrations, a self-signed TLS certificate and an admin token
# the first time (the token printed once), then serves HTTPS on 127.0.0.1:8080 in the
# foreground (Ctrl-C stops the server; the cluster keeps running: `deploy/pg-local.sh stop
# .local/pg` stops it).
#   CLAWMESH_LISTEN      where to serve, default 127.0.0.1:8080
#   CLAWMESH_DEV_DIR     the cluster, certificate and marker files, default .local
#   CLAWMESH_BUILD_DIR   the meson build directory, default build
#   CLAWMESH_PG_PORT     the cluster's port number (socket only), default 55432
# Other CLAWMESH_* variables and any arguments go to `clawmeshd serve`.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

PG_PORT=${CLAWMESH_PG_PORT:-55432}
dev=${CLAWMESH_DEV_DIR:-.local}
build=${CLAWMESH_BUILD_DIR:-build}
export CLAWMESH_LISTEN=${CLAWMESH_LISTEN:-127.0.0.1:8080}

deploy/install-deps.sh
[ -d "$build" ] || meson setup "$build"
meson compile -C "$build" >/dev/null

mkdir -p "$dev"
dev=$(cd "$dev" && pwd)
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$dev"; then
	echo "dev-up: the postgres user cannot reach $dev; clone the repository somewhere it can (e.g. /srv, /opt)" >&2
	exit 1
fi
deploy/pg-local.sh init "$dev/pg" "$PG_PORT"
deploy/pg-local.sh start "$dev/pg"
admin_url=$(deploy/pg-local.sh url "$dev/pg" postgres)
if ! psql "$admin_url" -Atc "SELECT 1 FROM pg_database WHERE datname = 'clawmesh'" | grep -q 1; then
	psql "$admin_url" -qc "CREATE DATABASE clawmesh"
fi
export CLAWMESH_DATABASE_URL
CLAWMESH_DATABASE_URL=$(deploy/pg-local.sh url "$dev/pg" clawmesh)

"$build/clawmeshd" migrate

# HTTPS with a certificate of our own unless one was given.
if [ -z "${CLAWMESH_TLS_CERT:-}" ]; then
	deploy/make-cert.sh "$dev/tls"
	export CLAWMESH_TLS_CERT="$dev/tls/cert.pem" CLAWMESH_TLS_KEY="$dev/tls/key.pem"
fi
host=${CLAWMESH_LISTEN%:*}
port=${CLAWMESH_LISTEN##*:}
case "$host" in 0.0.0.0 | "[::]") host=127.0.0.1 ;; esac
url="https://$host:$port"

secret='$CLAWMESH_TOKEN'
if [ ! -f "$dev/admin-token-created" ]; then
	token_json=$("$build/clawmeshd" token create --admin --label "local admin")
	touch "$dev/admin-token-created"
	secret=$(jq -r .token <<<"$token_json")
	cat <<MSG

  Your admin token (shown this once; only its hash is stored):

      $secret
MSG
fi
cat <<MSG

  clawmesh serves $url with the certificate $CLAWMESH_TLS_CERT. Try:

      curl --cacert $CLAWMESH_TLS_CERT -H "Authorization: Bearer $secret" $url/v1/whoami

MSG
echo "dev-up: database $CLAWMESH_DATABASE_URL"
exec "$build/clawmeshd" serve "$@"
