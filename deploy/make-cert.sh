#!/bin/sh
# Makes a self-signed TLS certificate for clawmeshd when DIR has none: DIR/cert.pem and
# DIR/key.pem (mode 600), an ECDSA P-256 key, valid 825 days, for localhost, 127.0.0.1, ::1,
# this host's name and any NAMES given (DNS names or IP addresses). Existing files are kept.
#   make-cert.sh DIR [NAME...]
# Clients trust it with `curl --cacert DIR/cert.pem`. For a certificate from your own CA or
# ACME, put its PEM files at the same paths instead.
set -eu
dir=${1:?usage: make-cert.sh DIR [NAME...]}
shift
if [ -s "$dir/cert.pem" ] && [ -s "$dir/key.pem" ]; then
	exit 0
fi
mkdir -p "$dir"
san="DNS:localhost,IP:127.0.0.1,IP:::1"
host=$(hostname 2>/dev/null || true)
[ -n "$host" ] && [ "$host" != localhost ] && san="$san,DNS:$host"
for n in "$@"; do
	case "$n" in
	*[!0-9.]* | "") case "$n" in *:*) san="$san,IP:$n" ;; *) san="$san,DNS:$n" ;; esac ;;
	*) san="$san,IP:$n" ;;
	esac
done
umask 077
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 825 \
	-subj "/CN=${host:-clawmesh}" -addext "subjectAltName=$san" \
	-keyout "$dir/key.pem.tmp" -out "$dir/cert.pem.tmp" 2>/dev/null
chmod 644 "$dir/cert.pem.tmp"
mv "$dir/key.pem.tmp" "$dir/key.pem"
mv "$dir/cert.pem.tmp" "$dir/cert.pem"
echo "make-cert: made a self-signed certificate $dir/cert.pem for $san" >&2
