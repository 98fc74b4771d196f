#!/usr/bin/env bash
# The local fleet Slipway runs against, every part real:
#   PostgreSQL and Redis (reused when they already answer on the standard ports),
#   Docker daemons as separate hosts (build-1, pre-1, prod-1, prod-2, prod-3 by default),
#   a docker-registry with htpasswd auth, an nginx gateway, a busybox base image on every
#   host, and a demo application in its own git repository.
#
#   docker/fleet.sh up [--hosts build-1,pre-1,...]   start what is missing (idempotent)
#   docker/fleet.sh down                             stop what `up` started, by pid
#   docker/fleet.sh status                           what runs, what does not
#   docker/fleet.sh env                              print the fleet's environment file
#
# State lives in one git-ignored folder ($SLIPWAY_STATE, default .slipway/). Unix sockets
# and exec roots live under /tmp/sw-<hash> because socket paths are limited to ~100 bytes.
# SLIPWAY_PORT_OFFSET shifts every port (a second checkout can run its own fleet).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${SLIPWAY_STATE:-$ROOT/.slipway}
OFF=${SLIPWAY_PORT_OFFSET:-0}
# The highest port below (Redis, 63799) must stay a valid port.
if ! [[ $OFF =~ ^[0-9]+$ ]] || [ "$OFF" -gt 1736 ]; then
  printf '[fleet] error: SLIPWAY_PORT_OFFSET must be a whole number from 0 to 1736 (got %s)\n' "$OFF" >&2
  exit 1
fi
PG_PORT=$((54329 + OFF))
REDIS_PORT=$((63799 + OFF))
REGISTRY_PORT=$((5001 + OFF))
GATEWAY_PORT=$((8088 + OFF))
HASH=$(printf %s "$STATE" | sha1sum | cut -c1-6)
RUN=/tmp/sw-$HASH
DEFAULT_HOSTS=build-1,pre-1,prod-1,prod-2,prod-3
BASE_IMAGE=slipway/busybox:1
ENV_FILE=$STATE/fleet.env

log() { printf '[fleet] %s\n' "$*" >&2; }
die() { printf '[fleet] error: %s\n' "$*" >&2; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
pid_alive() { [ -f "$1" ] && kill -0 "$(head -n1 "$1")" 2>/dev/null; }

# wait_until SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.1 s.
wait_until() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || die "$what did not come up within ${limit}s"
    sleep 0.1
  done
}

# Reads KEY from the existing env file (empty when absent).
env_get() { [ -f "$ENV_FILE" ] && sed -n "s/^$1=//p" "$ENV_FILE" | tail -n1 || true; }

# ------------------------------------------------------------------------- PostgreSQL
pg_bin=/usr/lib/postgresql/15/bin
pg_dir() {
  # The postgres user must reach the data folder; fall back to its home when it cannot.
  if su postgres -s /bin/sh -c "test -x '$STATE' && test -w '$STATE/pg'" 2>/dev/null; then
    echo "$STATE/pg"
  else
    echo "/var/lib/postgresql/slipway-$HASH"
  fi
}

pg_up() {
  if [ -n "${SLIPWAY_DATABASE_URL:-}" ]; then
    PG_URL_BASE=${SLIPWAY_DATABASE_URL%/*}
    return
  fi
  mkdir -p "$STATE/pg" "$RUN/pg"
  chown postgres:postgres "$STATE/pg" "$RUN/pg"
  local dir
  dir=$(pg_dir)
  if pid_alive "$dir/data/postmaster.pid"; then
    PG_URL_BASE=postgresql://postgres@127.0.0.1:$PG_PORT
    return
  fi
  if port_open 5432 && psql -h 127.0.0.1 -p 5432 -U postgres -w -Atc 'select 1' >/dev/null 2>&1; then
    log "reusing PostgreSQL on 127.0.0.1:5432"
    PG_URL_BASE=postgresql://postgres@127.0.0.1:5432
    return
  fi
  port_open "$PG_PORT" && die "port $PG_PORT is taken by something else (set SLIPWAY_PORT_OFFSET)"
  mkdir -p "$dir"
  chown postgres:postgres "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "initialising PostgreSQL in $dir"
    su postgres -s /bin/sh -c "$pg_bin/initdb -D '$dir/data' -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >"$STATE/pg/initdb.log" 2>&1 ||
      die "initdb failed, see $STATE/pg/initdb.log"
  fi
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  su postgres -s /bin/sh -c "$pg_bin/pg_ctl -D '$dir/data' -l '$dir/postgres.log' -w -t 60 start -o \"-p $PG_PORT -k $RUN/pg -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c full_page_writes=off\"" >/dev/null ||
    die "PostgreSQL did not start, see $dir/postgres.log"
  PG_URL_BASE=postgresql://postgres@127.0.0.1:$PG_PORT
}

pg_ensure_db() {
  local port=${PG_URL_BASE##*:}
  psql -h 127.0.0.1 -p "$port" -U postgres -w -Atc "select 1 from pg_database where datname='slipway'" | grep -q 1 ||
    psql -h 127.0.0.1 -p "$port" -U postgres -w -qc 'create database slipway' >/dev/null
}

pg_down() {
  local dir
  dir=$(pg_dir)
  if pid_alive "$dir/data/postmaster.pid"; then
    log "stopping PostgreSQL"
    su postgres -s /bin/sh -c "$pg_bin/pg_ctl -D '$dir/data' -m fast -w stop" >/dev/null || true
  fi
}

# ------------------------------------------------------------------------------ Redis
redis_up() {
  if [ -n "${SLIPWAY_REDIS_URL:-}" ]; then
    REDIS_URL=$SLIPWAY_REDIS_URL
    return
  fi
  mkdir -p "$STATE/redis"
  if pid_alive "$STATE/redis/redis.pid"; then
    REDIS_URL=redis://127.0.0.1:$REDIS_PORT
    return
  fi
  if port_open 6379 && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; then
    log "reusing Redis on 127.0.0.1:6379"
    REDIS_URL=redis://127.0.0.1:6379
    return
  fi
  port_open "$REDIS_PORT" && die "port $REDIS_PORT is taken by something else (set SLIPWAY_PORT_OFFSET)"
  log "starting Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --daemonize yes --dir "$STATE/redis" \
    --pidfile "$STATE/redis/redis.pid" --logfile "$STATE/redis/redis.log" \
    --appendonly yes --appendfsync everysec --save "" --maxmemory-policy noeviction
  wait_until 10 Redis redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping
  REDIS_URL=redis://127.0.0.1:$REDIS_PORT
}

redis_down() {
  if pid_alive "$STATE/redis/redis.pid"; then
    log "stopping Redis"
    local pid
    pid=$(cat "$STATE/redis/redis.pid")
    kill "$pid"
    wait_until 10 "Redis shutdown" sh -c "! kill -0 $pid"
  fi
}

# ----------------------------------------------------------------------- Docker hosts
host_index() {
  local name=$1 file=$STATE/hosts/index
  touch "$file"
  if ! grep -qx "$name" "$file"; then echo "$name" >>"$file"; fi
  grep -nx "$name" "$file" | cut -d: -f1
}

host_socket() { echo "$RUN/$1/docker.sock"; }

# Each host keeps its Docker data on a file system of its own: a journaled ext4 in a sparse
# image file, loop-mounted on the data folder. With the vfs storage driver every container
# start copies the image and every removal deletes the copy; on an ext4 without a journal
# (this machine's root) each new file then scans past every inode deleted in the last
# minute, and starts grow slower round after round (perf: 40% of the CPU in
# recently_deleted). Where nothing can be mounted, the data stays in a plain folder.
host_data_fs() {
  local name=$1 dir=$STATE/hosts/$1
  local img=$dir/data.ext4 data=$dir/data
  mountpoint -q "$data" 2>/dev/null && return 0
  if ! command -v mkfs.ext4 >/dev/null || ! command -v mountpoint >/dev/null; then
    log "$name: no mkfs.ext4 or mountpoint (run ./slipway install); its Docker data stays in a plain folder"
    return 0
  fi
  if [ ! -f "$img" ]; then
    if ! { truncate -s 64G "$img.new" && mkfs.ext4 -q -F -m 0 -J size=32 "$img.new"; } >"$dir/mkfs.log" 2>&1; then
      rm -f "$img.new"
      log "$name: cannot make a file system for its Docker data (see $dir/mkfs.log); it stays in a plain folder"
      return 0
    fi
    mv "$img.new" "$img"
    # Data of an older fleet stays next to it, out of the way.
    if [ -d "$data" ] && [ -n "$(ls -A "$data")" ]; then
      rm -rf "$dir/data.before-fs"
      mv "$data" "$dir/data.before-fs"
      log "$name: its older Docker data moved to $dir/data.before-fs"
    fi
  fi
  mkdir -p "$data"
  if ! mount -o loop,discard,noatime "$img" "$data" 2>"$dir/mount.log"; then
    log "$name: cannot mount $img ($(head -n1 "$dir/mount.log")); its Docker data stays in a plain folder"
  fi
}

host_up() {
  local name=$1 idx dir run br subnet
  idx=$(host_index "$name")
  dir=$STATE/hosts/$name
  run=$RUN/$name
  mkdir -p "$dir" "$run"
  br=sw${HASH}-$idx
  subnet=10.$((100 + 16#${HASH:0:2} % 100)).$idx
  if ! ip link show "$br" >/dev/null 2>&1; then
    ip link add name "$br" type bridge
    ip addr add "$subnet.1/24" dev "$br"
  fi
  # A bridge without a fixed MAC takes the lowest MAC of its ports and changes it when that
  # container goes away; its neighbours keep the old MAC in their ARP cache and stall for
  # seconds. A MAC set by hand never changes.
  ip link set "$br" address "02:00:${HASH:0:2}:${HASH:2:2}:$(printf %02x "$idx"):01"
  ip link set "$br" up
  if pid_alive "$dir/docker.pid"; then return; fi
  host_data_fs "$name"
  log "starting dockerd $name (bridge $br, $subnet.0/24)"
  setsid dockerd --data-root "$dir/data" --exec-root "$run/exec" -H "unix://$run/docker.sock" \
    --pidfile "$dir/docker.pid" --storage-driver=vfs --bridge "$br" --iptables=false \
    --log-level warn </dev/null >"$dir/dockerd.log" 2>&1 &
}

host_ready() { curl -sf --unix-socket "$(host_socket "$1")" http://docker/_ping >/dev/null; }

host_base_image() {
  local name=$1 sock
  sock=$(host_socket "$name")
  if DOCKER_HOST=unix://$sock docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return; fi
  DOCKER_HOST=unix://$sock DOCKER_BUILDKIT=0 docker build -q -t "$BASE_IMAGE" "$STATE/base" >/dev/null 2>"$STATE/hosts/$name/base-build.log" ||
    die "building $BASE_IMAGE on $name failed, see $STATE/hosts/$name/base-build.log"
}

host_down() {
  local name=$1 dir=$STATE/hosts/$1 pid
  if pid_alive "$dir/docker.pid"; then
    pid=$(cat "$dir/docker.pid")
    log "stopping dockerd $name"
    kill "$pid"
    wait_until 40 "dockerd $name shutdown" sh -c "! kill -0 $pid"
  fi
  if mountpoint -q "$dir/data" 2>/dev/null; then
    umount "$dir/data" 2>/dev/null || umount -l "$dir/data"
  fi
  local idx
  idx=$(grep -nx "$name" "$STATE/hosts/index" 2>/dev/null | cut -d: -f1)
  [ -n "$idx" ] && ip link del "sw${HASH}-$idx" 2>/dev/null || true
}

known_hosts() { [ -f "$STATE/hosts/index" ] && cat "$STATE/hosts/index" || true; }

# --------------------------------------------------------------------------- registry
registry_up() {
  local dir=$STATE/registry
  mkdir -p "$dir/data"
  [ -f "$dir/password" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$dir/password"
  REGISTRY_USERNAME=slipway
  REGISTRY_PASSWORD=$(cat "$dir/password")
  if pid_alive "$dir/registry.pid"; then return; fi
  port_open "$REGISTRY_PORT" && die "port $REGISTRY_PORT is taken by something else (set SLIPWAY_PORT_OFFSET)"
  htpasswd -Bbn "$REGISTRY_USERNAME" "$REGISTRY_PASSWORD" >"$dir/htpasswd" 2>/dev/null
  cat >"$dir/config.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$REGISTRY_PORT
  secret: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
auth:
  htpasswd:
    realm: slipway
    path: $dir/htpasswd
EOF
  log "starting docker-registry on 127.0.0.1:$REGISTRY_PORT"
  setsid docker-registry serve "$dir/config.yml" </dev/null >"$dir/registry.log" 2>&1 &
  echo $! >"$dir/registry.pid"
  wait_until 15 docker-registry curl -sf -u "$REGISTRY_USERNAME:$REGISTRY_PASSWORD" "http://127.0.0.1:$REGISTRY_PORT/v2/"
}

registry_down() {
  local dir=$STATE/registry
  if pid_alive "$dir/registry.pid"; then
    log "stopping docker-registry"
    kill "$(cat "$dir/registry.pid")"
    rm -f "$dir/registry.pid"
  fi
}

# ---------------------------------------------------------------------- nginx gateway
gateway_up() {
  local dir=$STATE/gateway
  mkdir -p "$dir/conf.d" "$dir/logs" "$dir/tmp"
  if pid_alive "$dir/nginx.pid"; then return; fi
  port_open "$GATEWAY_PORT" && die "port $GATEWAY_PORT is taken by something else (set SLIPWAY_PORT_OFFSET)"
  cat >"$dir/nginx.conf" <<EOF
# Written by docker/fleet.sh. Slipway renders one file per environment into conf.d/.
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $dir/tmp/body;
  proxy_temp_path $dir/tmp/proxy;
  fastcgi_temp_path $dir/tmp/fastcgi;
  uwsgi_temp_path $dir/tmp/uwsgi;
  scgi_temp_path $dir/tmp/scgi;
  server {
    listen 127.0.0.1:$GATEWAY_PORT;
    location = /nginx-health { return 200 "ok\n"; }
    location / { return 404 "no environment here\n"; }
  }
  include $dir/conf.d/*.conf;
}
EOF
  nginx -t -q -p "$dir/" -e "$dir/logs/error.log" -c "$dir/nginx.conf" || die "gateway config test failed"
  log "starting nginx gateway on 127.0.0.1:$GATEWAY_PORT"
  nginx -p "$dir/" -e "$dir/logs/error.log" -c "$dir/nginx.conf"
  wait_until 10 nginx curl -sf "http://127.0.0.1:$GATEWAY_PORT/nginx-health"
}

gateway_down() {
  local dir=$STATE/gateway pid
  if pid_alive "$dir/nginx.pid"; then
    log "stopping nginx gateway"
    pid=$(cat "$dir/nginx.pid")
    kill -QUIT "$pid"
    wait_until 15 "nginx shutdown" sh -c "! kill -0 $pid"
  fi
}

# ---------------------------------------------------------------------- the demo repo
demo_repo_up() {
  local bare=$STATE/git/demo.git
  [ -d "$bare" ] && return
  log "creating the demo repository $bare"
  local work
  work=$(mktemp -d)
  cp -r "$ROOT/docker/demo-app/." "$work/"
  (
    cd "$work"
    export GIT_AUTHOR_NAME="Slipway Demo" GIT_AUTHOR_EMAIL=demo@slipway.local
    export GIT_COMMITTER_NAME="Slipway Demo" GIT_COMMITTER_EMAIL=demo@slipway.local
    export GIT_AUTHOR_DATE="2026-01-01T00:00:00Z" GIT_COMMITTER_DATE="2026-01-01T00:00:00Z"
    git init -q -b main
    echo 1.0.0 >VERSION
    git add -A
    git commit -qm "demo 1.0.0"
    git tag v1.0.0
    export GIT_AUTHOR_DATE="2026-01-02T00:00:00Z" GIT_COMMITTER_DATE="2026-01-02T00:00:00Z"
    echo 1.1.0 >VERSION
    git commit -qam "demo 1.1.0"
    git tag v1.1.0
  )
  mkdir -p "$STATE/git"
  git clone -q --bare "$work" "$bare"
  rm -rf "$work"
}

# ------------------------------------------------------------------------------ verbs
write_env() {
  local hosts=() h
  for h in $(known_hosts); do
    pid_alive "$STATE/hosts/$h/docker.pid" && hosts+=("$h=unix://$(host_socket "$h")")
  done
  local tmp=$ENV_FILE.tmp
  cat >"$tmp" <<EOF
# Written by docker/fleet.sh up. The local fleet's addresses and credentials.
DATABASE_URL=$PG_URL_BASE/slipway
PG_ADMIN_URL=$PG_URL_BASE/postgres
REDIS_URL=$REDIS_URL
REGISTRY_URL=127.0.0.1:$REGISTRY_PORT
REGISTRY_USERNAME=$REGISTRY_USERNAME
REGISTRY_PASSWORD=$REGISTRY_PASSWORD
FLEET_HOSTS=$(IFS=,; echo "${hosts[*]}")
GATEWAY_DIR=$STATE/gateway
GATEWAY_PORT=$GATEWAY_PORT
DEMO_REPO_URL=file://$STATE/git/demo.git
EOF
  mv "$tmp" "$ENV_FILE"
}

up() {
  local hosts=${SLIPWAY_HOSTS:-}
  while [ $# -gt 0 ]; do
    case $1 in
    --hosts) hosts=$2; shift 2 ;;
    *) die "unknown option $1" ;;
    esac
  done
  if [ -z "$hosts" ]; then
    hosts=$(known_hosts | paste -sd, -)
    [ -n "$hosts" ] || hosts=$DEFAULT_HOSTS
  fi
  for cmd in dockerd docker docker-registry redis-server nginx htpasswd git curl busybox; do
    command -v "$cmd" >/dev/null || die "$cmd is not installed (run ./slipway install)"
  done
  mkdir -p "$STATE/hosts"
  local started=$SECONDS h
  IFS=, read -ra list <<<"$hosts"
  for h in "${list[@]}"; do host_up "$h"; done
  pg_up
  pg_ensure_db
  redis_up
  registry_up
  gateway_up
  demo_repo_up
  for h in "${list[@]}"; do wait_until 60 "dockerd $h" host_ready "$h"; done
  # The base image's context is written once, before the hosts build from it in parallel.
  mkdir -p "$STATE/base"
  cmp -s /bin/busybox "$STATE/base/busybox" || cp /bin/busybox "$STATE/base/busybox"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n' >"$STATE/base/Dockerfile"
  local pids=()
  for h in "${list[@]}"; do
    host_base_image "$h" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || die "base image build failed"; done
  write_env
  log "fleet up in $((SECONDS - started))s: hosts ${list[*]}; env in $ENV_FILE"
}

down() {
  local h
  gateway_down
  registry_down
  for h in $(known_hosts); do host_down "$h" & done
  wait
  redis_down
  pg_down
  # dockerd leaves network-namespace mounts in its exec root; they would stop rm.
  awk -v run="$RUN/" 'index($2, run) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
  done
  rm -rf "$RUN"
  log "fleet down"
}

status() {
  local ok=0 h
  row() { printf '%-14s %-5s %s\n' "$1" "$2" "$3"; }
  local pgdir
  pgdir=$(pg_dir 2>/dev/null || echo "$STATE/pg")
  if pid_alive "$pgdir/data/postmaster.pid"; then row postgres up "127.0.0.1:$PG_PORT (private)"
  elif [ -n "$(env_get DATABASE_URL)" ] && port_open 5432 && env_get DATABASE_URL | grep -q ':5432/'; then row postgres up "127.0.0.1:5432 (reused)"
  else row postgres down ""; ok=1; fi
  if pid_alive "$STATE/redis/redis.pid"; then row redis up "127.0.0.1:$REDIS_PORT (private)"
  elif env_get REDIS_URL | grep -q ':6379' && port_open 6379; then row redis up "127.0.0.1:6379 (reused)"
  else row redis down ""; ok=1; fi
  for h in $(known_hosts); do
    if pid_alive "$STATE/hosts/$h/docker.pid" && host_ready "$h"; then row "$h" up "unix://$(host_socket "$h")"
    else row "$h" down ""; ok=1; fi
  done
  if pid_alive "$STATE/registry/registry.pid"; then row registry up "127.0.0.1:$REGISTRY_PORT"; else row registry down ""; ok=1; fi
  if pid_alive "$STATE/gateway/nginx.pid"; then row gateway up "127.0.0.1:$GATEWAY_PORT"; else row gateway down ""; ok=1; fi
  if [ -d "$STATE/git/demo.git" ]; then row demo-repo ok "file://$STATE/git/demo.git"; else row demo-repo none ""; ok=1; fi
  return $ok
}

case ${1:-} in
up) shift; up "$@" ;;
down) down ;;
status) status ;;
env) cat "$ENV_FILE" ;;
*) echo "usage: $0 up [--hosts a,b,c] | down | status | env" >&2; exit 2 ;;
esac
