#!/usr/bin/env bash
# Start or stop a Docker engine of our own for CI and air-gapped hosts: `dockerd.sh start`,
# `dockerd.sh stop`. Where a daemon already answers (a normal Docker host), start uses it and
# stop leaves it alone: only a daemon this script started (its pid file) is ever stopped.
#
# Why the flags: the host's uplink MTU may be below 1500 (1400 on CI's machines), and a
# bridge at 1500 then loses every large packet of a build's downloads (--mtu; compose's
# network gets the same value through NETWORK_MTU). Docker's default pools are 172.17/16
# and friends, private ranges this project never uses: the default bridge and every pool
# stay inside 198.18.0.0/15 (RFC 2544's benchmarking range), which the placements use too.
# Swarm ignores these pools (docker swarm init --default-addr-pool, see swarm-test notes).
set -euo pipefail

STATE_DIR=${TWOTIER_DOCKERD_DIR:-/run/twotier-dockerd}
PIDFILE=$STATE_DIR/dockerd.pid
LOG=$STATE_DIR/dockerd.log
START_TIMEOUT_S=${DOCKERD_START_TIMEOUT_S:-60}

host_mtu() {
  local dev
  dev=$(ip route show default 2>/dev/null | awk '{for (i = 1; i < NF; i++) if ($i == "dev") { print $(i + 1); exit }}')
  if [ -n "$dev" ] && [ -r "/sys/class/net/$dev/mtu" ]; then cat "/sys/class/net/$dev/mtu"; else echo 1500; fi
}

case "${1:-}" in
  mtu)
    host_mtu
    ;;
  start)
    if docker info >/dev/null 2>&1; then
      echo "dockerd.sh: a Docker engine already answers; using it"
      exit 0
    fi
    command -v dockerd >/dev/null || { echo "dockerd.sh: no dockerd (apt-get install docker.io)" >&2; exit 1; }
    mkdir -p "$STATE_DIR"
    mtu=$(host_mtu)
    # The FORWARD policy before dockerd changes it, restored by stop.
    iptables -S FORWARD 2>/dev/null | awk '$1 == "-P" { print $3 }' >"$STATE_DIR/forward-policy" || true
    # setsid: the daemon outlives this shell but not the session's process group teardown.
    setsid dockerd \
      --pidfile "$PIDFILE" \
      --mtu "$mtu" \
      --bip 198.19.0.1/24 \
      --default-address-pool base=198.18.128.0/17,size=24 \
      --log-level warn \
      >"$LOG" 2>&1 </dev/null &
    for _ in $(seq 1 "$START_TIMEOUT_S"); do
      if docker info >/dev/null 2>&1; then
        # dockerd sets the FORWARD policy to DROP and loads br_netfilter, so bridged traffic on
        # other bridges is filtered too: the project's netns test hosts (bridges named tt*,
        # test/helpers/netns.ts) keep forwarding through DOCKER-USER, which Docker leaves to us.
        iptables -C DOCKER-USER -i 'tt+' -j ACCEPT 2>/dev/null || iptables -I DOCKER-USER -i 'tt+' -j ACCEPT || true
        echo "dockerd.sh: started dockerd (pid $(cat "$PIDFILE"), mtu $mtu)"
        exit 0
      fi
      sleep 1
    done
    echo "dockerd.sh: dockerd did not answer within ${START_TIMEOUT_S}s; its log:" >&2
    tail -n 30 "$LOG" >&2 || true
    exit 1
    ;;
  stop)
    if [ ! -s "$PIDFILE" ]; then
      echo "dockerd.sh: no dockerd of ours to stop"
      exit 0
    fi
    pid=$(cat "$PIDFILE")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      # dockerd stops its containers (10 s each at most) and its containerd before it exits.
      for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      if kill -0 "$pid" 2>/dev/null; then
        echo "dockerd.sh: dockerd $pid still up after 60s; SIGKILL" >&2
        kill -KILL "$pid" || true
      fi
    fi
    rm -f "$PIDFILE"
    policy=$(cat "$STATE_DIR/forward-policy" 2>/dev/null || true)
    if [ -n "$policy" ]; then iptables -P FORWARD "$policy" || true; fi
    echo "dockerd.sh: dockerd $pid stopped"
    ;;
  *)
    echo "usage: $0 start|stop|mtu" >&2
    exit 2
    ;;
esac
