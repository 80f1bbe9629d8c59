# syntax=docker/dockerfile:1
# Palisade sidecar image. Build: docker build -t ghcr.io/palisade-mesh/palisade:0.1.0 .
# Runs as uid/gid 10001 on a read-only root: it writes nothing but stdout. Mount the config
# at /etc/palisade/palisade.yaml (deploy/kubernetes/ shows how).

# Build stage: dev dependencies, TypeScript compile, then production dependencies only.
FROM node:22-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No lifecycle scripts: `prepare` would build before the sources are here, and nothing the
# build needs has an install script.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && find dist -name '*.map' -delete
RUN npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# Runtime stage: Node, production node_modules and dist/ only; no npm use at runtime.
FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /opt/palisade
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
RUN chmod 0755 dist/cli.js && ln -s /opt/palisade/dist/cli.js /usr/local/bin/palisade
USER 10001:10001
# inbound (mTLS), outbound (loopback), admin (loopback), stats (metrics and probes)
EXPOSE 15006 15001 15000 15020
# The stats listener's liveness endpoint; slim images have no curl, so Node's own fetch.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:15020/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["palisade", "run", "-c", "/etc/palisade/palisade.yaml"]
