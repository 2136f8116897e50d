# citypipe in a container: `docker compose up --build` runs it beside InfluxDB 2.7 and Grafana
# (docker-compose.yml). Configuration is the CITYPIPE_* environment (README "Configuration").
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 builds its native module when no prebuilt binary fits.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY bin ./bin
COPY src ./src
COPY simulators ./simulators
# The `bench` command is part of the CLI, so the build compiles bench/ too; and the sinks' shared
# contract suite (src/sink/influx/sink-contract.ts, compiled with src/) imports a test helper.
COPY bench ./bench
COPY test/helpers/http-proxy.ts ./test/helpers/http-proxy.ts
# `npm ci` builds dist/ through the `prepare` script; then the dev tools go.
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY devices ./devices
COPY rules ./rules
COPY simulators/demo-credentials.json ./simulators/demo-credentials.json
# Not root: the data directory (spool, dead letters, rule state) and the catalog folder (where
# `citypipe devices add` registers devices) belong to the unprivileged `node` user.
RUN mkdir -p /var/lib/citypipe && chown node:node /var/lib/citypipe /app/devices
USER node
ENV CITYPIPE_DATA_DIR=/var/lib/citypipe CITYPIPE_DEVICES_DIR=/app/devices
VOLUME /var/lib/citypipe
EXPOSE 1883 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s \
  CMD node -e "fetch('http://127.0.0.1:' + (process.env.CITYPIPE_HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"
CMD ["node", "bin/citypipe.js", "start"]
