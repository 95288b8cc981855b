#!/usr/bin/env bash
# `npm run test:compose`: the compose deployment for real, as CI runs it (issue 19).
#   1. a Docker engine: the one that answers, else dockerd started here (dockerd.sh) and
#      stopped at the end;
#   2. stand-in base images where no registry is reachable (build-base-images.sh; skipped for
#      images already present, so a second run reuses them);
#   3. docker-compose build, then test/compose/stack.ts (tap): up, checks, memory limits, a
#      killed app container and --scale 3 → 1 under load, down -v;
#   4. test/compose/swarm.ts (tap): a single-node swarm of its own, deploy/containers/stack.yml
#      deployed from the image just built, `docker service update --force` of the app under
#      load, stack rm, swarm leave;
#   5. nothing of the project left: containers, networks, volumes, the swarm, and our dockerd.
# COMPOSE_TESTS="compose swarm" (default) picks the tap files of steps 3 and 4; COMPOSE_BUILD=0
# skips the build (twotier:local as present), for a quick rerun of one of them.
# Ends with "compose: N passed, M failed" and a tap-style "# { total, pass, fail }" line (tap's
# counts plus this script's own checks), which .ci/run adds to its totals.
# WEB_PUBLISH_PORT: the published port (default: a free one); COMPOSE_PROJECT_NAME: twotierci.
set -uo pipefail
cd "$(dirname "$0")/../.."
HERE=deploy/containers

export COMPOSE_PROJECT_NAME=${COMPOSE_PROJECT_NAME:-twotierci}
export SWARM_STACK_NAME=${SWARM_STACK_NAME:-twotierswarm}
# Which tests run after the build: "compose swarm" (both, the default), or one of them.
COMPOSE_TESTS=${COMPOSE_TESTS:-compose swarm}
swarm_before=unknown
gwbridge_before=1
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
swarm_label="label=com.docker.stack.namespace=$SWARM_STACK_NAME"
swarm_leftover() {
  [ -z "$(docker ps -aq --filter "$swarm_label"; docker network ls -q --filter "$swarm_label"; docker volume ls -q --filter "$swarm_label")" ] \
    && { [ "$swarm_before" != inactive ] || [ "$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null)" = inactive ]; }
}
cleanup() {
  docker-compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true
  # The swarm test cleans up after itself; a run cut short (tap's timeout) may not have: only a
  # swarm this run created is left, and only the stack's resources are removed.
  local state
  # No engine answering (ours already stopped): nothing to clean.
  state=$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null) || state=none
  if [ "$swarm_before" = inactive ] && [ "$state" != inactive ] && [ "$state" != none ]; then
    docker stack rm "$SWARM_STACK_NAME" >/dev/null 2>&1 || true
    for _ in $(seq 1 60); do [ -z "$(docker ps -aq --filter "$swarm_label"; docker network ls -q --filter "$swarm_label")" ] && break; sleep 1; done
    docker volume ls -q --filter "$swarm_label" | xargs -r docker volume rm >/dev/null 2>&1 || true
    docker swarm leave --force >/dev/null 2>&1 || true
    if [ "$gwbridge_before" = 0 ]; then docker network rm docker_gwbridge >/dev/null 2>&1 || true; fi
  fi
  if [ "$started_engine" = 1 ]; then "$HERE/dockerd.sh" stop; fi
}
trap cleanup EXIT

if docker info >/dev/null 2>&1; then
  echo "[compose-test] using the Docker engine that answers"
else
  check "dockerd started" "$HERE/dockerd.sh" start && started_engine=1
fi
phase "engine"
# What the swarm test may change: whether the engine is in a swarm, and docker_gwbridge (swarm
# init creates it, swarm leave keeps it).
swarm_before=$(docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unknown)
gwbridge_before=$(docker network ls -q --filter 'name=^docker_gwbridge$' | wc -l)

if [ "$started_engine" = 1 ] || [ "${STAND_IN_IMAGES:-auto}" = 1 ]; then
  check "stand-in base images built" "$HERE/build-base-images.sh"
  phase "base images"
fi

# A run cut short (a session stopped mid-test) may have left the project behind: start clean.
docker-compose down -v --remove-orphans --timeout 10 >/dev/null 2>&1 || true
if [ "${COMPOSE_BUILD:-1}" = 1 ]; then
  check "docker-compose build" docker-compose build
  phase "docker-compose build"
fi

run_tap() { # file, timeout seconds: tap's counts added to this script's
  local out tap_status summary tap_pass tap_fail
  out=$(mktemp)
  npx tap --disable-coverage --reporter=tap --timeout="$2" "$1" 2>&1 | tee "$out"
  tap_status=${PIPESTATUS[0]}
  summary=$(grep -E '^# \{ total: [0-9]+' "$out" | tail -n 1)
  tap_pass=$(sed -nE 's/.*pass: ([0-9]+).*/\1/p' <<<"$summary")
  tap_fail=$(sed -nE 's/.*fail: ([0-9]+).*/\1/p' <<<"$summary")
  pass=$((pass + ${tap_pass:-0})); fail=$((fail + ${tap_fail:-0}))
  if [ "$tap_status" -ne 0 ] && [ "${tap_fail:-0}" -eq 0 ]; then fail=$((fail + 1)); echo "not ok - tap exited $tap_status ($1)"; fi
  rm -f "$out"
}

if [[ " $COMPOSE_TESTS " == *" compose "* ]]; then
  run_tap test/compose/stack.ts 1500
  phase "compose tests (up … down -v)"
fi
label="label=com.docker.compose.project=$COMPOSE_PROJECT_NAME"
leftover() { [ -z "$(docker ps -aq --filter "$label"; docker network ls -q --filter "$label"; docker volume ls -q --filter "$label")" ]; }
check "nothing of the project left (containers, networks, volumes)" leftover

if [[ " $COMPOSE_TESTS " == *" swarm "* ]]; then
  # A single-node swarm of its own, stack.yml deployed from the image built above, a forced
  # rolling update of the app under load, stack rm and swarm leave (test/compose/swarm.ts).
  run_tap test/compose/swarm.ts 900
  phase "swarm tests (init … leave)"
  check "nothing of the swarm stack left, engine out of the swarm" swarm_leftover
fi

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
