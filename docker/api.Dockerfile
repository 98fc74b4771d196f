# Slipway's API (it also serves the dashboard). The build context is the server tree, made
# from a checkout by `node scripts/pack-server.mjs <dir>` (which puts this file in it):
#   DOCKER_BUILDKIT=1 docker build -f api.Dockerfile -t slipway/api:<version> <dir>
# The base is this machine's Node.js, git and docker CLI on busybox (`docker/fleet.sh
# node-image <host>` makes it on a Docker host: no public image can be pulled where Slipway is
# built). Settings come from the environment (docs/OPERATIONS.md, "Running Slipway in
# containers"; docker/compose.yaml). The image's other command applies the migrations:
#   node --enable-source-maps dist/migrate.mjs        (DATABASE_URL; before each start)
ARG BASE=slipway/node:20
FROM ${BASE}
COPY . /opt/slipway
WORKDIR /opt/slipway/apps/api
ENV NODE_ENV=production SLIPWAY_HOST=0.0.0.0 SLIPWAY_PORT=3000 SLIPWAY_WEB_DIST=/opt/slipway/apps/web/dist
USER 10001:10001
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s CMD wget -q -O /dev/null "http://127.0.0.1:${SLIPWAY_PORT}/healthz" || exit 1
CMD ["node", "--enable-source-maps", "dist/main.mjs"]
