#!/usr/bin/env bash
# Installs the Debian 12 packages clawmesh needs to build, test and run. Idempotent: installs
# only what is missing, and touches apt only then.
set -euo pipefail

pkgs=(build-essential pkg-config meson ninja-build
	libmicrohttpd-dev libpq-dev libcjson-dev libssl-dev check libcurl4-openssl-dev
	postgresql postgresql-client curl jq openssl ca-certificates
	busybox libxml2-utils) # the sync client's tests: busybox sh (a NAS's shell), xmllint (the launchd plist)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The contract tests lint and check against the OpenAPI file with npm tools. Node >= 20.19 is
# what they declare; Debian's own nodejs (18) also runs them, with an engine warning.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)

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
