#!/usr/bin/env bash
# Installs the Debian 12 packages clawmesh needs to build, test and run. Idempotent: installs
# only what is missing, and touches apt only then.
#   install-deps.sh           everything: build, tests, dev-up
#   install-deps.sh --build   only what `meson setup build && meson compile -C build` and the
#                             unit tests need (the image's build stage, deploy/Dockerfile)
set -euo pipefail

build_only=0
[ "${1:-}" = "--build" ] && build_only=1

pkgs=(build-essential pkg-config meson ninja-build
	libmicrohttpd-dev libpq-dev libcjson-dev libssl-dev check libcurl4-openssl-dev)
# The integration and deploy tests, and dev-up: a real PostgreSQL, curl, and docker-compose,
# which parses deploy/docker-compose.yml without a Docker engine, and systemd-analyze for the unit.
[ $build_only = 1 ] || pkgs+=(postgresql postgresql-client curl jq openssl ca-certificates docker-compose systemd
	busybox libxml2-utils # the sync client's tests: busybox sh (a NAS's shell), xmllint (the launchd plist)
	clang libclang-rt-14-dev # the fuzz smoke runs: clang, and libFuzzer with ASan/UBSan (only recommended by clang-14)
	valgrind # the `valgrind` test suite: integration cases with clawmeshd under memcheck
	chromium) # the `ui` suite: the /ui/ dashboard in a headless browser (tests/ui/, playwright-core from npm)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The contract tests lint and check against the OpenAPI file with npm tools. Node >= 20.19 is
# what they declare; Debian's own nodejs (18) also runs them, with an engine warning.
if [ $build_only = 0 ]; then
	command -v node >/dev/null 2>&1 || missing+=(nodejs)
	command -v npm >/dev/null 2>&1 || missing+=(npm)
fi

if [ ${#missing[@]} -gt 0 ]; then
	echo "install-deps: installing ${missing[*]}"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo="sudo"
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -q
	$sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# Debian's postgresql package starts a system cluster; ours never use it.
exit 0
