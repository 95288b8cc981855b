#!/bin/sh
# issue 6: slowhttptest (slow headers, slow body, slow read) against a web tier started on loopback.
# Builds first; writes bench/results/slowhttptest.{json,md}. Flags pass through (--seconds, --connections).
cd "${0%/*}/.." || exit 1
npx tsc -p tsconfig.build.json >/dev/null 2>&1 || true
exec node dist/bench/slowhttptest.js "$@"
