# twotier: one image for both tiers (the command picks the tier). Multi-stage: the build stage
# runs exactly what CI runs (npm ci, whose "prepare" script is `tsc -p tsconfig.build.json`),
# then drops dev dependencies; the runtime stage gets the compiled JS and production
# dependencies only, and runs as the unprivileged `node` user.
#
#   docker build -t twotier .
#   docker run --init -p 8080:8080 twotier                                  # web tier
#   docker run --init -e APP_HOST=0.0.0.0 -e HEALTH_PORT=3000 twotier node dist/app-tier/main.js
#
# Node 22 is an LTS line the package's engines field accepts (^22.12.0).

FROM node:22-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source only when no prebuilt binary matches this platform.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# Dependencies first, in a layer of their own: it is rebuilt only when the lock file changes,
# not on every source edit (compiling better-sqlite3 takes minutes on a small machine).
# --ignore-scripts skips "prepare" (the sources are not here yet); the rebuild then runs the
# native addon's install script, which is all npm ci's scripts would have done besides it.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --ignore-scripts \
 && npm rebuild better-sqlite3
COPY tsconfig.base.json tsconfig.build.json tsconfig.json ./
COPY common ./common
COPY app-tier ./app-tier
COPY web-tier ./web-tier
COPY deploy ./deploy
COPY bench ./bench
# What "prepare" runs (npm ci's build): tsc -p tsconfig.build.json.
RUN npm run build \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:22-bookworm-slim AS runtime
ENV NODE_ENV=production \
    LOG_PRETTY=0
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# deploy/: placements, placement.cjs and the pm2 ecosystem (pm2-runtime deploy/ecosystem.config.js).
COPY --from=build /app/deploy ./deploy
# Files the tiers read at run time from the package root (not compiled): the site, the CGI
# scripts, the operator status page.
COPY --from=build /app/web-tier/public ./web-tier/public
COPY --from=build /app/web-tier/cgi-bin ./web-tier/cgi-bin
COPY --from=build /app/web-tier/operator/page ./web-tier/operator/page
# ./data holds the SQLite file and the app tier's pid file; the node user must own it.
# ./data/tls: the tls volume (docker-compose.yml) copies this owner when it is first mounted.
RUN mkdir -p /app/data/tls && chown -R node:node /app/data && chmod 700 /app/data/tls
USER node
EXPOSE 8080 8443 3000
# /healthz of whichever tier runs here: HEALTH_PORT (the app service sets 3000), else WEB_PORT, else 8080.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HEALTH_PORT || process.env.WEB_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node is PID 1's only child (compose sets init: true; `docker run --init` does the same):
# signals reach it, zombies are reaped. Never `npm start` here: npm does not forward SIGTERM.
CMD ["node", "--max-semi-space-size=4", "--max-old-space-size=512", "dist/web-tier/main.js"]
