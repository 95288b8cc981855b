#!/usr/bin/env bash
# The TLS settings as a scanner sees them (issue 15): starts the built web tier with WEB_TLS=internal
# on a scratch CA and a free port, runs sslscan (Debian package sslscan) against it, stops it.
# Usage: npm run build && bash web-tier/tls/scan.sh   (README's HTTPS section quotes its output)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v sslscan >/dev/null || { echo "sslscan is not installed (apt-get install sslscan)" >&2; exit 1; }
scratch=$(mktemp -d)
port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
LOG_PRETTY=0 WEB_TLS=internal WEB_TLS_DIR="$scratch/tls" WEB_PORT=0 WEB_TLS_PORT="$port" node dist/web-tier/main.js >"$scratch/log" 2>&1 &
web=$!
trap 'kill "$web" 2>/dev/null; wait "$web" 2>/dev/null; rm -rf "$scratch"' EXIT
for _ in $(seq 1 100); do grep -q '"listening tls"' "$scratch/log" 2>/dev/null && break; sleep 0.1; done
grep -q '"listening tls"' "$scratch/log" || { cat "$scratch/log" >&2; exit 1; }
sslscan --no-colour --show-sigs=no "localhost:$port"
