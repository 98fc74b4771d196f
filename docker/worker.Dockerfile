# A Slipway worker: pipeline stages (git, builds through the docker CLI on the build hosts),
# rollouts, the gateway agent when GATEWAY_DIR is a mounted gateway folder, self-healing. Run
# as many as needed. Built like api.Dockerfile, from the same server tree (the COPY layer is
# shared):   DOCKER_BUILDKIT=1 docker build -f worker.Dockerfile -t slipway/worker:<version> <dir>
ARG BASE=slipway/node:20
FROM ${BASE}
COPY . /opt/slipway
WORKDIR /opt/slipway/apps/worker
ENV NODE_ENV=production WORKER_WORK_DIR=/var/lib/slipway/work
USER 10001:10001
CMD ["node", "--enable-source-maps", "dist/main.mjs"]
