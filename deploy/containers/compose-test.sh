#!/usr/bin/env bash
# `npm run test:compose`: the compose deployment for real, as CI runs it (issue 19).
#   1. a Docker engine: the one that answers, else dockerd started here (dockerd.sh) and
#      stopped at the end;
#   2. stand-in base images where no registry is reachable (build-base-images.sh; skipped for
#      images already present, so a second run reuses them);
#   3. docker-compose build, then test/compose/stack.ts (tap): up, checks, a killed app
#      container and --scale 3 → 1 under load, down -v;
#   4. nothing of the project left: containers, networks, volumes, and our dockerd.
# Ends with "compose: N passed, M failed" and a tap-style "# { total, pass, fail }" line (tap's
# counts plus this script's own checks), which .ci/run adds to its totals.
# WEB_PUBLISH_PORT: the published port (default: a free one); COMPOSE_PROJECT_NAME: twotierci.
set -uo pipefail
cd "$(dirname "$0")/../.."
HERE=deploy/containers

export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-twotierci}
export NETWORK_MTU=${NETWORK_MTU:-$("$HERE/dockerd.sh" mtu)}
export COMPOSE_HTTP_TIMEOUT=${COMPOSE_HTTP_TIMEOUT:-300}
if [ -z "${WEB_PUBLISH_PORT:-}" ]; then
  WEB_PUBLISH_PORT=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
fi
export WEB_PUBLISH_PORT
# The HTTPS port (docker-compose.yml publishes 8443 by default): a free one here too.
if [ -z "${WEB_PUBLISH_TLS_PORT:-}" ]; then
  WEB_PUBLISH_TLS_PORT=$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")
fi
export WEB_PUBLISH_TLS_PORT

pass=0
fail=0
check() { # name, command...
  local name=$1; shift
  if "$@"; then pass=$((pass + 1)); echo "ok - $name"; else fail=$((fail + 1)); echo "not ok - $name"; fi
}
phase_start=$(date +%s)
phase() { local now; now=$(date +%s); printf '[compose-test] %s: %ss\n' "$1" "$((now - phase_start))"; phase_start=$now; }
t0=$(date +%s)

started_engine=0
cleanup() {
  docker-compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true
  if [ "$started_engine" = 1 ]; then "$HERE/dockerd.sh" stop; fi
}
trap cleanup EXIT

if docker info >/dev/null 2>&1; then
  echo "[compose-test] using the Docker engine that answers"
else
  check "dockerd started" "$HERE/dockerd.sh" start && started_engine=1
fi
phase "engine"

if [ "$started_engine" = 1 ] || [ "${STAND_IN_IMAGES:-auto}" = 1 ]; then
  check "stand-in base images built" "$HERE/build-base-images.sh"
  phase "base images"
fi

# A run cut short (a session stopped mid-test) may have left the project behind: start clean.
docker-compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true
check "docker-compose build" docker-compose build
phase "docker-compose build"

out=$(mktemp)
npx tap --disable-coverage --reporter=tap --timeout=1500 test/compose/stack.ts 2>&1 | tee "$out"
tap_status=${PIPESTATUS[0]}
summary=$(grep -E '^# \{ total: [0-9]+' "$out" | tail -n 1)
tap_pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary")
tap_fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary")
pass=$((pass + ${tap_pass:-0})); fail=$((fail + ${tap_fail:-0}))
if [ "$tap_status" -ne 0 ] && [ "$tap_fail" -eq 0 ]; then fail=$((fail + 1)); echo "not ok - tap exited $tap_status"; fi
rm -f "$out"
phase "compose tests (up … down -v)"

label="label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
leftover() { [ -z "$(docker ps -aq --filter "$label"; docker network ls -q --filter "$label"; docker volume ls -q --filter "$label")" ]; }
check "nothing of the project left (containers, networks, volumes)" leftover

if [ "$started_engine" = 1 ]; then
  pid=$(cat "${TWOTIER_DOCKERD_DIR:-/run/twotier-dockerd}/dockerd.pid" 2>/dev/null || echo)
  "$HERE/dockerd.sh" stop
  started_engine=0
  gone() { [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null && ! docker info >/dev/null 2>&1; }
  check "the dockerd started here is stopped" gone
  phase "engine stopped"
fi

echo "[compose-test] total: $(( $(date +%s) - t0 ))s"
echo "compose: ${pass} passed, ${fail} failed"
# The same summary shape as tap's, so .ci/run's run_step adds these counts to its totals.
echo "# { total: $((pass + fail)), pass: ${pass}, fail: ${fail} }"
[ "$fail" -eq 0 ]
