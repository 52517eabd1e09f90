#!/usr/bin/env bash
# Brings up a working clawmesh on this machine: packages, build, a private PostgreSQL cluster
# under .local/ (kept across runs), migrations, an admin token the first time (printed once),
# then serves on http://127.0.0.1:8080 in the foreground (Ctrl-C stops the server; the cluster
# keeps running: `deploy/pg-local.sh stop .local/pg` stops it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

PG_PORT=${CLAWMESH_PG_PORT:-55432}
deploy/install-deps.sh
[ -d build ] || meson setup build
meson compile -C build

mkdir -p .local
if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$root"; then
	echo "dev-up: the postgres user cannot reach $root; clone the repository somewhere it can (e.g. /srv, /opt)" >&2
	exit 1
fi
deploy/pg-local.sh init .local/pg "$PG_PORT"
deploy/pg-local.sh start .local/pg
admin_url=$(deploy/pg-local.sh url .local/pg postgres)
if ! psql "$admin_url" -Atc "SELECT 1 FROM pg_database WHERE datname = 'clawmesh'" | grep -q 1; then
	psql "$admin_url" -qc "CREATE DATABASE clawmesh"
fi
export CLAWMESH_DATABASE_URL
CLAWMESH_DATABASE_URL=$(deploy/pg-local.sh url .local/pg clawmesh)

build/clawmeshd migrate
if [ ! -f .local/admin-token-created ]; then
	token_json=$(build/clawmeshd token create --admin --label "local admin")
	touch .local/admin-token-created
	secret=$(jq -r .token <<<"$token_json")
	cat <<MSG

  Your admin token (shown this once; only its hash is stored):

      $secret

  Try:  curl -H "Authorization: Bearer $secret" http://127.0.0.1:8080/v1/whoami

MSG
fi
echo "dev-up: database $CLAWMESH_DATABASE_URL"
exec build/clawmeshd serve "$@"
