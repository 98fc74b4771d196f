#!/usr/bin/env bash
# Installs what Slipway needs on a Debian 12 machine, skipping what is already there:
# Debian packages (Docker engine, registry, Redis, HAProxy, PostgreSQL, busybox, Chromium,
# openssl for the fleet's certificates, and the ext4 and loop-mount tools for the hosts' data),
# pnpm (the version pinned in package.json), node modules and the generated Prisma client.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
log() { printf '[install] %s\n' "$*" >&2; }

packages=(docker.io docker-registry redis-server busybox-static apache2-utils chromium
  postgresql iproute2 git curl ca-certificates e2fsprogs mount util-linux haproxy socat openssl)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ -n "$(printf '%s' "${missing[@]}")" ]; then
  [ "$(id -u)" = 0 ] || { log "missing packages: ${missing[*]} (run as root to install them)"; exit 1; }
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2068
  apt-get install -y -qq --no-install-recommends ${missing[@]} >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".").map(Number).reduce((a, v, i) => i === 0 ? v * 1e6 : i === 1 ? a + v * 1e3 : a + v, 0)')
[ "$node_major" -ge 20019000 ] || { log "Node.js >= 20.19 is required (found $(node -v))"; exit 1; }

want_pnpm=$(node -p 'require("./package.json").packageManager.split("@")[1]')
if [ "$(pnpm -v 2>/dev/null || true)" != "$want_pnpm" ]; then
  log "installing pnpm $want_pnpm"
  npm install -g "pnpm@$want_pnpm" >/dev/null 2>&1
fi

# Node modules: reinstalled when the lockfile changed since the last install.
stamp=node_modules/.slipway-lock-hash
hash=$(sha1sum pnpm-lock.yaml | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$hash" ]; then
  log "installing node modules"
  CI=true pnpm install --frozen-lockfile --reporter=silent
  echo "$hash" >"$stamp"
fi
# The generated client is git-ignored: make sure it matches the schema.
if [ ! -f packages/db/src/generated/client.ts ] || [ prisma/schema.prisma -nt packages/db/src/generated/client.ts ]; then
  pnpm --silent db:generate >/dev/null
fi
