# syntax=docker/dockerfile:1
# One image for the three services; the command picks one (see docker-compose.yml):
#   node dist/apps/orchestrator/src/main.js | dist/apps/ingestor/src/main.js | dist/apps/gateway/src/main.js

ARG NODE_VERSION=20.19
FROM node:${NODE_VERSION}-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY apps apps
COPY libs libs
COPY scripts scripts
COPY test test
COPY bench bench
COPY docs/schemas docs/schemas
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:${NODE_VERSION}-bookworm-slim AS runtime
# tmux: the orchestrator delivers triggers with the tmux client (mount the host's tmux socket folder to reach
# agents running there; see docs/operations.md); git: workflows record their starting commit and diff against it
RUN apt-get update \
  && apt-get install -y --no-install-recommends tmux tini git \
  && rm -rf /var/lib/apt/lists/*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules node_modules
COPY --from=build --chown=node:node /app/dist/apps dist/apps
COPY --from=build --chown=node:node /app/dist/libs dist/libs
# the published JSON Schemas: events are checked against them
COPY --from=build --chown=node:node /app/docs/schemas docs/schemas
# the dashboard's files (HTML, CSS and ES modules, served as they are)
COPY --from=build --chown=node:node /app/apps/gateway/dashboard apps/gateway/dashboard
# the role instructions of workflows (WORKFLOW_TEMPLATES_DIR overrides them)
COPY --from=build --chown=node:node /app/apps/orchestrator/templates apps/orchestrator/templates
COPY --from=build --chown=node:node /app/scripts/healthcheck.mjs scripts/healthcheck.mjs
USER node
# Each service answers /readyz: the gateway on GATEWAY_PORT, the others on HEALTH_PORT.
ENV HEALTHCHECK_URL=http://127.0.0.1:3000/readyz
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["node", "scripts/healthcheck.mjs"]
# tini forwards SIGTERM to node, which drains NATS and lets BullMQ jobs in hand finish
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/apps/gateway/src/main.js"]
