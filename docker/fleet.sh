#!/usr/bin/env bash
# The local fleet Slipway runs against, every part real:
#   PostgreSQL and Redis (reused when they already answer on the standard ports),
#   Docker hosts as separate machines (build-1, pre-1, prod-1, prod-2, prod-3 by default):
#   each dockerd in its own network namespace on a fleet LAN bridge, with its own address,
#   reached only over TCP with mutual TLS (a fleet CA made here with openssl); a
#   docker-registry over TLS on the LAN with htpasswd auth; an HAProxy gateway; a busybox
#   base image on every host; and a demo application in its own git repository.
#
#   docker/fleet.sh up [--hosts build-1,pre-1,...]   start what is missing (idempotent)
#   docker/fleet.sh host up|stop|cut|mend|rm NAME    an extra host for tests
#   docker/fleet.sh swarm up|down                    a 3-node Docker Swarm of extra hosts
#   docker/fleet.sh node-image HOST                  Slipway's base image (node, git, docker CLI,
#                                                    haproxy) on a host, for docker/*.Dockerfile
#   docker/fleet.sh down                             stop what `up` started, by pid, and
#                                                    remove its namespaces, links and bridge
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
# The fleet LAN: one /24 per state folder in 10.200.0.0-10.249.255.0, Slipway's side at .1,
# hosts from .2 on. Traffic goes only to these addresses, in namespaces this script made.
LAN_PREFIX=10.$((200 + 16#${HASH:0:2} % 50)).$((16#${HASH:2:2}))
LAN_BR=swl$HASH
TLS=$STATE/tls
GATEWAY_DIR=$RUN/gateway
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

# ------------------------------------------------------------------- fleet LAN and TLS
# Every Docker host is a machine of its own: a network namespace with one veth onto the fleet
# LAN bridge (in Slipway's namespace, which keeps the gateway, PostgreSQL and Redis, as on an
# edge machine), its own address, and a dockerd reached only over TCP with mutual TLS.
lan_up() {
  if ! ip link show "$LAN_BR" >/dev/null 2>&1; then
    # Nothing else may already route this subnet (another checkout picks another one).
    if ip -4 route show "$LAN_PREFIX.0/24" | grep -q .; then
      die "the fleet LAN $LAN_PREFIX.0/24 is already routed here ($(ip -4 route show "$LAN_PREFIX.0/24" | head -n1)); set SLIPWAY_STATE to another folder"
    fi
    ip link add name "$LAN_BR" type bridge 2>"$STATE/lan.err" ||
      die "cannot create the fleet LAN bridge $LAN_BR: $(cat "$STATE/lan.err") (the fleet needs root with CAP_NET_ADMIN)"
    ip addr add "$LAN_PREFIX.1/24" dev "$LAN_BR"
    # A fixed MAC: a bridge otherwise takes its lowest port's MAC and changes it as hosts come
    # and go, and the neighbours' ARP caches then stall traffic for seconds.
    ip link set "$LAN_BR" address "02:00:${HASH:0:2}:${HASH:2:2}:${HASH:4:2}:01"
  fi
  ip link set "$LAN_BR" up
}

lan_down() {
  if ip link show "$LAN_BR" >/dev/null 2>&1; then ip link del "$LAN_BR"; fi
}

# The fleet CA and Slipway's client certificate, made once with openssl.
tls_up() {
  local dir=$TLS
  mkdir -p "$dir"
  [ -f "$dir/ca.pem" ] && return
  log "making the fleet CA and Slipway's client certificate in $dir"
  (
    umask 077
    set -e
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=slipway fleet CA $HASH" \
      -keyout "$dir/ca-key.pem" -out "$dir/ca.pem.new"
    openssl req -newkey rsa:2048 -nodes -subj "/CN=slipway" -keyout "$dir/key.pem" -out "$dir/client.csr"
    printf 'extendedKeyUsage=clientAuth\n' >"$dir/client.ext"
    openssl x509 -req -in "$dir/client.csr" -CA "$dir/ca.pem.new" -CAkey "$dir/ca-key.pem" -CAcreateserial \
      -days 3650 -extfile "$dir/client.ext" -out "$dir/cert.pem"
    rm -f "$dir/client.csr" "$dir/client.ext"
  ) >"$dir/openssl.log" 2>&1 || die "openssl could not make the fleet certificates: $(tail -n3 "$dir/openssl.log")"
  mv "$dir/ca.pem.new" "$dir/ca.pem"
}

# server_cert NAME ADDRESS: a server certificate for ADDRESS (its subjectAltName), made once.
server_cert() {
  local name=$1 addr=$2 dir=$TLS
  local crt=$dir/$name.pem key=$dir/$name-key.pem
  if [ -f "$crt" ] && openssl x509 -in "$crt" -noout -ext subjectAltName 2>/dev/null | grep -q "IP Address:$addr\$"; then return; fi
  (
    umask 077
    set -e
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$key" -out "$dir/$name.csr"
    printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$addr" >"$dir/$name.ext"
    openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" -CAcreateserial \
      -days 3650 -extfile "$dir/$name.ext" -out "$crt"
    rm -f "$dir/$name.csr" "$dir/$name.ext"
  ) >"$dir/openssl.log" 2>&1 || die "openssl could not make a certificate for $name ($addr): $(tail -n3 "$dir/openssl.log")"
}

tls_curl() { curl -sf --max-time 2 --cacert "$TLS/ca.pem" --cert "$TLS/cert.pem" --key "$TLS/key.pem" "$@"; }

# ----------------------------------------------------------------------- Docker hosts
# A host's line in $STATE/hosts/index gives its address, $LAN_PREFIX.(line+1); `host rm`
# frees its line ("-") for the next new host.
host_index() {
  local name=$1 file=$STATE/hosts/index
  touch "$file"
  if ! grep -qx -- "$name" "$file"; then
    if grep -qx -- '-' "$file"; then
      sed -i "0,/^-\$/s//$name/" "$file"
    else
      echo "$name" >>"$file"
    fi
  fi
  grep -nx -- "$name" "$file" | cut -d: -f1
}

host_addr() { echo "$LAN_PREFIX.$(($(host_index "$1") + 1))"; }
host_ns() { echo "sw$HASH-$1"; }

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

# The host's namespace and its link onto the LAN (idempotent).
host_net_up() {
  local name=$1 idx ns addr veth peer
  idx=$(host_index "$name")
  ns=$(host_ns "$name")
  addr=$(host_addr "$name")
  veth=sw${HASH}v$idx
  peer=sw${HASH}p$idx
  if [ ! -e "/var/run/netns/$ns" ]; then
    ip netns add "$ns" 2>"$STATE/hosts/$name/netns.err" ||
      die "cannot create the network namespace $ns for host $name: $(cat "$STATE/hosts/$name/netns.err") (the fleet needs root with CAP_SYS_ADMIN and CAP_NET_ADMIN; in a container, run it privileged)"
  fi
  if ! ip link show "$veth" >/dev/null 2>&1; then
    ip link add "$veth" type veth peer name "$peer" || die "cannot create the veth pair $veth for host $name"
    ip link set "$peer" netns "$ns"
    ip netns exec "$ns" ip link set "$peer" name eth0
    ip link set "$veth" master "$LAN_BR"
  fi
  ip link set "$veth" up
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ip link set eth0 up
  ip netns exec "$ns" ip -4 addr show dev eth0 | grep -q "inet $addr/" ||
    ip netns exec "$ns" ip addr add "$addr/24" dev eth0
  ip netns exec "$ns" ip route replace default via "$LAN_PREFIX.1"
  # A host made with the address of one removed before: this side may still hold the old
  # link's MAC for it (ARP), and packets to the new host would go nowhere for 9-23 s.
  ip neigh flush to "$addr" 2>/dev/null || true
}

# Stops a dockerd of the old shape (a unix socket in Slipway's own namespace) left by an older fleet.
host_retire_legacy() {
  local name=$1 dir=$STATE/hosts/$1
  [ -f "$dir/docker.pid" ] && [ "$(cat "$dir/shape" 2>/dev/null)" != netns-tls ] || return 0
  if pid_alive "$dir/docker.pid"; then
    log "$name: stopping its dockerd of the old shape (same network as Slipway)"
    local pid
    pid=$(cat "$dir/docker.pid")
    kill "$pid"
    wait_until 40 "dockerd $name shutdown" sh -c "! kill -0 $pid"
  fi
  local idx
  idx=$(grep -nx -- "$name" "$STATE/hosts/index" 2>/dev/null | cut -d: -f1)
  if [ -n "$idx" ]; then ip link del "sw${HASH}-$idx" 2>/dev/null || true; fi
  rm -f "$dir/docker.pid"
}

host_up() {
  local name=$1 dir=$STATE/hosts/$1 ns addr
  mkdir -p "$dir" "$RUN/$name"
  host_retire_legacy "$name"
  ns=$(host_ns "$name")
  addr=$(host_addr "$name")
  host_net_up "$name"
  if pid_alive "$dir/docker.pid"; then return; fi
  server_cert "$name" "$addr"
  host_data_fs "$name"
  # The host trusts the fleet CA for the registry, in its own mount namespace only.
  local certs=$dir/certs.d
  mkdir -p "$certs/$LAN_PREFIX.1:$REGISTRY_PORT" /etc/docker/certs.d
  cp "$TLS/ca.pem" "$certs/$LAN_PREFIX.1:$REGISTRY_PORT/ca.crt"
  echo netns-tls >"$dir/shape"
  log "starting dockerd $name at $addr (namespace $ns, tcp://$addr:2376 with TLS)"
  # nsenter, not `ip netns exec`: the latter mounts a fresh /sys without the cgroup mounts.
  # shellcheck disable=SC2016
  setsid nsenter --net="/var/run/netns/$ns" unshare -mu sh -c \
    'mount --bind "$1" /etc/docker/certs.d && hostname "$2" && shift 2 && exec "$@"' sh "$certs" "$name" \
    dockerd --data-root "$dir/data" --exec-root "$RUN/$name/exec" -H "tcp://$addr:2376" \
    --tlsverify --tlscacert "$TLS/ca.pem" --tlscert "$TLS/$name.pem" --tlskey "$TLS/$name-key.pem" \
    --pidfile "$dir/docker.pid" --storage-driver=vfs --bip 10.252.0.1/24 --iptables=false \
    --log-level warn </dev/null >"$dir/dockerd.log" 2>&1 &
}

host_ready() { tls_curl "https://$(host_addr "$1"):2376/_ping" >/dev/null; }

host_docker() {
  local name=$1
  shift
  docker --tlsverify --tlscacert "$TLS/ca.pem" --tlscert "$TLS/cert.pem" --tlskey "$TLS/key.pem" \
    -H "tcp://$(host_addr "$name"):2376" "$@"
}

host_base_image() {
  local name=$1
  if host_docker "$name" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then return; fi
  DOCKER_BUILDKIT=0 host_docker "$name" build -q -t "$BASE_IMAGE" "$STATE/base" >/dev/null 2>"$STATE/hosts/$name/base-build.log" ||
    die "building $BASE_IMAGE on $name failed, see $STATE/hosts/$name/base-build.log"
}

# Slipway's own base image (docker/api.Dockerfile and worker.Dockerfile build FROM it): no
# public image can be pulled here, so it is made from this machine's node binary, git (with its
# helpers), the docker CLI the worker builds with and the HAProxy it checks gateway configs with
# (and the compose file's gateway runs), each with the shared libraries it loads, on top of the
# busybox base (a shell, wget for health checks). Tagged slipway/node:<version> and :<major>.
node_context() {
  local ctx=$STATE/node-base rootfs=$STATE/node-base/rootfs bin lib
  rm -rf "$ctx"
  mkdir -p "$rootfs/etc/ssl/certs" "$rootfs/usr/share/git-core" "$rootfs/tmp" "$rootfs/var/lib/slipway/work" "$rootfs/var/lib/slipway/gateway/sites"
  local bins=("$(readlink -f "$(command -v node)")" /usr/bin/docker /usr/bin/git "$(command -v haproxy)")
  mkdir -p "$rootfs/usr/lib"
  cp -a /usr/lib/git-core "$rootfs/usr/lib/"
  cp -a /usr/share/git-core/templates "$rootfs/usr/share/git-core/"
  for bin in "${bins[@]}"; do install -D -m 0755 "$bin" "$rootfs/usr/bin/$(basename "$bin")"; done
  # Every library the binaries and git's helpers load, at the path the loader looks for it.
  for bin in "${bins[@]}" /usr/lib/git-core/git-remote-http; do
    for lib in $(ldd "$bin" | grep -o '/[^ ]*' | sort -u); do
      [ -e "$rootfs$lib" ] || { mkdir -p "$rootfs${lib%/*}" && cp -L "$lib" "$rootfs$lib"; }
    done
  done
  cp /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
  printf 'root:x:0:0:root:/root:/bin/sh\nslipway:x:10001:10001:Slipway:/var/lib/slipway:/bin/sh\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nslipway:x:10001:\n' >"$rootfs/etc/group"
  printf 'FROM %s\nCOPY rootfs/ /\nRUN chmod 1777 /tmp && chown -R 10001:10001 /var/lib/slipway\nENV HOME=/var/lib/slipway\n' \
    "$BASE_IMAGE" >"$ctx/Dockerfile"
}

node_image() {
  local name=$1 version
  version=$(node -p 'process.versions.node')
  [ -f "$STATE/hosts/$name/docker.pid" ] || die "node-image: no host $name"
  host_ready "$name" || die "node-image: host $name does not answer"
  if host_docker "$name" image inspect "slipway/node:$version" >/dev/null 2>&1; then
    echo "slipway/node:$version"
    return
  fi
  node_context
  log "building slipway/node:$version on $name (this machine's node, git and docker CLI)"
  DOCKER_BUILDKIT=0 host_docker "$name" build -q -t "slipway/node:$version" -t "slipway/node:${version%%.*}" \
    "$STATE/node-base" >/dev/null 2>"$STATE/hosts/$name/node-build.log" ||
    die "building slipway/node:$version on $name failed, see $STATE/hosts/$name/node-build.log"
  echo "slipway/node:$version"
}

# Stops the host's dockerd; its data and namespace stay (a restart finds its images).
host_stop() {
  local name=$1 dir=$STATE/hosts/$1 pid
  if pid_alive "$dir/docker.pid"; then
    pid=$(cat "$dir/docker.pid")
    log "stopping dockerd $name"
    kill "$pid"
    wait_until 40 "dockerd $name shutdown" sh -c "! kill -0 $pid"
  fi
}

host_down() {
  local name=$1 dir=$STATE/hosts/$1
  host_stop "$name"
  if mountpoint -q "$dir/data" 2>/dev/null; then
    umount "$dir/data" 2>/dev/null || umount -l "$dir/data"
  fi
  local idx ns
  idx=$(grep -nx -- "$name" "$STATE/hosts/index" 2>/dev/null | cut -d: -f1)
  if [ -n "$idx" ]; then
    ip link del "sw${HASH}v$idx" 2>/dev/null || true
    ip link del "sw${HASH}-$idx" 2>/dev/null || true
  fi
  ns=$(host_ns "$name")
  if [ -e "/var/run/netns/$ns" ]; then ip netns del "$ns"; fi
}

known_hosts() { [ -f "$STATE/hosts/index" ] && grep -vx -- '-' "$STATE/hosts/index" || true; }
# The hosts of the fleet proper: extra hosts that tests start (`host up NAME`) are not listed.
fleet_hosts() {
  local h
  for h in $(known_hosts); do [ -f "$STATE/hosts/$h/extra" ] || echo "$h"; done
}

# --------------------------------------------------------------------------- registry
# Served over TLS on the LAN address: the hosts reach it there and trust the fleet CA.
registry_up() {
  local dir=$STATE/registry
  mkdir -p "$dir/data"
  [ -f "$dir/password" ] || head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$dir/password"
  REGISTRY_USERNAME=slipway
  REGISTRY_PASSWORD=$(cat "$dir/password")
  if pid_alive "$dir/registry.pid" && grep -q "addr: $LAN_PREFIX.1:$REGISTRY_PORT" "$dir/config.yml" 2>/dev/null; then return; fi
  if pid_alive "$dir/registry.pid"; then
    log "stopping the docker-registry of the old shape (plain HTTP on 127.0.0.1)"
    kill "$(cat "$dir/registry.pid")"
    rm -f "$dir/registry.pid"
  fi
  server_cert registry "$LAN_PREFIX.1"
  htpasswd -Bbn "$REGISTRY_USERNAME" "$REGISTRY_PASSWORD" >"$dir/htpasswd" 2>/dev/null
  cat >"$dir/config.yml" <<YML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
http:
  addr: $LAN_PREFIX.1:$REGISTRY_PORT
  secret: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
  tls:
    certificate: $TLS/registry.pem
    key: $TLS/registry-key.pem
auth:
  htpasswd:
    realm: slipway
    path: $dir/htpasswd
YML
  log "starting docker-registry on https://$LAN_PREFIX.1:$REGISTRY_PORT"
  setsid docker-registry serve "$dir/config.yml" </dev/null >"$dir/registry.log" 2>&1 &
  echo $! >"$dir/registry.pid"
  wait_until 15 docker-registry curl -sf --cacert "$TLS/ca.pem" -u "$REGISTRY_USERNAME:$REGISTRY_PASSWORD" "https://$LAN_PREFIX.1:$REGISTRY_PORT/v2/"
}

registry_down() {
  local dir=$STATE/registry
  if pid_alive "$dir/registry.pid"; then
    log "stopping docker-registry"
    kill "$(cat "$dir/registry.pid")"
    rm -f "$dir/registry.pid"
  fi
}

# -------------------------------------------------------------------- HAProxy gateway
# The gateway runs in Slipway's namespace. Workers add, drain and remove servers through the
# Runtime API on admin.sock (no reload, so no client connection is closed) and keep one file
# per environment in sites/; a new environment reloads through the master socket
# (master-worker, listeners handed over with expose-fd). The folder is under $RUN: unix
# socket paths are limited to ~100 bytes.
gateway_up() {
  local dir=$GATEWAY_DIR
  mkdir -p "$dir/sites"
  if pid_alive "$dir/haproxy.pid" && [ -S "$dir/admin.sock" ]; then return; fi
  legacy_gateway_down
  port_open "$GATEWAY_PORT" && die "port $GATEWAY_PORT is taken by something else (set SLIPWAY_PORT_OFFSET)"
  cat >"$dir/haproxy.cfg" <<CFG
global
  master-worker
  stats socket $dir/admin.sock mode 600 level admin expose-fd listeners
  stats timeout 2m
  maxconn 8000
# Every request's outcome, read by Slipway's traffic recorder (show events slipway-traffic).
ring slipway-traffic
  format raw
  maxlen 1024
  size 4194304
defaults
  mode http
  log ring@slipway-traffic local0 info
  log-format "%Ts.%ms %b %s %ST %Ta %Tr %tsc %rc"
  timeout connect 1s
  timeout client 60s
  timeout server 60s
  timeout http-keep-alive 60s
  timeout queue 10s
  option http-server-close
  option idle-close-on-response
  option redispatch
  retry-on conn-failure empty-response
  retries 2
frontend gateway-health
  bind 127.0.0.1:$GATEWAY_PORT
  no log
  http-request return status 200 content-type text/plain string "ok" if { path /gateway-health }
  http-request return status 404 content-type text/plain string "no environment here"
CFG
  haproxy -c -q -f "$dir/haproxy.cfg" -f "$dir/sites" >"$dir/check.log" 2>&1 || die "gateway config check failed: $(cat "$dir/check.log")"
  log "starting HAProxy gateway on 127.0.0.1:$GATEWAY_PORT"
  haproxy -W -D -f "$dir/haproxy.cfg" -f "$dir/sites" -p "$dir/haproxy.pid" -S "$dir/master.sock" >"$dir/haproxy.log" 2>&1 ||
    die "HAProxy did not start: $(cat "$dir/haproxy.log")"
  wait_until 10 HAProxy curl -sf "http://127.0.0.1:$GATEWAY_PORT/gateway-health"
}

gateway_down() {
  local dir=$GATEWAY_DIR pid
  if pid_alive "$dir/haproxy.pid"; then
    log "stopping HAProxy gateway"
    pid=$(head -n1 "$dir/haproxy.pid")
    kill -USR1 "$pid"
    wait_until 15 "HAProxy shutdown" sh -c "! kill -0 $pid"
  fi
  legacy_gateway_down
}

# The nginx gateway of an older fleet.
legacy_gateway_down() {
  if pid_alive "$STATE/gateway/nginx.pid"; then
    log "stopping the nginx gateway of the old shape"
    local pid
    pid=$(cat "$STATE/gateway/nginx.pid")
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
  for h in $(fleet_hosts); do
    pid_alive "$STATE/hosts/$h/docker.pid" && hosts+=("$h=tcp://$(host_addr "$h"):2376")
  done
  local tmp=$ENV_FILE.tmp
  cat >"$tmp" <<ENV
# Written by docker/fleet.sh up. The local fleet's addresses and credentials.
DATABASE_URL=$PG_URL_BASE/slipway
PG_ADMIN_URL=$PG_URL_BASE/postgres
REDIS_URL=$REDIS_URL
REGISTRY_URL=$LAN_PREFIX.1:$REGISTRY_PORT
REGISTRY_USERNAME=$REGISTRY_USERNAME
REGISTRY_PASSWORD=$REGISTRY_PASSWORD
FLEET_HOSTS=$(IFS=,; echo "${hosts[*]}")
FLEET_TLS_DIR=$TLS
FLEET_LAN=$LAN_PREFIX.0/24
GATEWAY_DIR=$GATEWAY_DIR
GATEWAY_PORT=$GATEWAY_PORT
DEMO_REPO_URL=file://$STATE/git/demo.git
ENV
  mv "$tmp" "$ENV_FILE"
}

base_context() {
  # The base image's context is written once, before the hosts build from it in parallel.
  mkdir -p "$STATE/base"
  cmp -s /bin/busybox "$STATE/base/busybox" || cp /bin/busybox "$STATE/base/busybox"
  printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox","--install","-s","/bin"]\n' >"$STATE/base/Dockerfile"
}

need_tools() {
  for cmd in dockerd docker docker-registry redis-server haproxy htpasswd git curl busybox openssl ip nsenter unshare; do
    command -v "$cmd" >/dev/null || die "$cmd is not installed (run ./slipway install)"
  done
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
    hosts=$(fleet_hosts | paste -sd, -)
    [ -n "$hosts" ] || hosts=$DEFAULT_HOSTS
  fi
  need_tools
  mkdir -p "$STATE/hosts" "$RUN"
  local started=$SECONDS h
  IFS=, read -ra list <<<"$hosts"
  tls_up
  lan_up
  # The registry's port must be known before the hosts start (they trust it by address:port).
  for h in "${list[@]}"; do host_up "$h"; done
  pg_up
  pg_ensure_db
  redis_up
  registry_up
  gateway_up
  demo_repo_up
  for h in "${list[@]}"; do wait_until 60 "dockerd $h (see $STATE/hosts/$h/dockerd.log)" host_ready "$h"; done
  base_context
  local pids=()
  for h in "${list[@]}"; do
    host_base_image "$h" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || die "base image build failed"; done
  write_env
  log "fleet up in $((SECONDS - started))s: hosts ${list[*]} on $LAN_PREFIX.0/24; env in $ENV_FILE"
}

# host up|stop|cut|mend|rm NAME: an extra host for tests (not listed in fleet.env): `up` starts
# it (again) and prints its endpoint, `stop` stops its dockerd (data and address stay, as a
# machine that is switched off), `cut` and `mend` take its LAN link down and up (a network cut:
# the daemon runs on, unreachable), `rm` removes it, its namespace and its data.
host_cmd() {
  local verb=${1:-} name=${2:-}
  [[ $name =~ ^[a-z0-9][a-z0-9-]{0,30}$ ]] || die "host $verb: a host name of [a-z0-9-], at most 31 characters"
  local dir=$STATE/hosts/$name
  case $verb in
  up)
    need_tools
    [ -f "$TLS/ca.pem" ] || die "the fleet is not up (run docker/fleet.sh up)"
    # The running fleet's registry, whatever this process's port offset says (a test runner
    # may not pass SLIPWAY_PORT_OFFSET on): the host must trust the registry it will pull from.
    local registry
    registry=$(env_get REGISTRY_URL)
    [ -z "$registry" ] || REGISTRY_PORT=${registry##*:}
    mkdir -p "$dir"
    grep -qx -- "$name" "$STATE/hosts/index" 2>/dev/null || touch "$dir/extra"
    lan_up
    host_up "$name"
    wait_until 60 "dockerd $name (see $dir/dockerd.log)" host_ready "$name"
    base_context
    host_base_image "$name"
    echo "tcp://$(host_addr "$name"):2376"
    ;;
  stop) host_stop "$name" ;;
  cut | mend)
    # The machine's cable: its link onto the fleet LAN goes down (nothing answers, packets are
    # dropped, connections hang until their timeouts) or up again; the daemon keeps running.
    [ -d "$dir" ] || die "host $verb: no host $name"
    ip link set "sw${HASH}v$(host_index "$name")" "$([ "$verb" = cut ] && echo down || echo up)"
    ;;
  rm)
    [ -f "$dir/extra" ] || die "host rm: $name is not an extra host"
    host_down "$name"
    rm -rf "$dir" "$RUN/$name" "$TLS/$name.pem" "$TLS/$name-key.pem"
    sed -i "s/^$name\$/-/" "$STATE/hosts/index"
    ;;
  *) die "usage: $0 host up|stop|cut|mend|rm NAME" ;;
  esac
}

# swarm up|down: a Docker Swarm of three extra hosts (swarm-1 the manager, swarm-2 and swarm-3
# workers), each a separate machine on the fleet LAN like the others; the nodes talk to each
# other over the LAN (Swarm's own mutual TLS), Slipway talks to the manager's dockerd over the
# fleet's TLS. `up` is idempotent and prints the manager's endpoint; `down` removes the hosts.
SWARM_NODES=(swarm-1 swarm-2 swarm-3)
swarm_state() { host_docker "$1" info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null; }
swarm_cmd() {
  local verb=${1:-} manager=${SWARM_NODES[0]} n
  case $verb in
  up)
    local pids=()
    # Addresses first, one at a time (the index file is not written concurrently).
    for n in "${SWARM_NODES[@]}"; do host_index "$n" >/dev/null; done
    for n in "${SWARM_NODES[@]}"; do
      host_cmd up "$n" >/dev/null &
      pids+=($!)
    done
    for n in "${pids[@]}"; do wait "$n" || die "a swarm host did not start"; done
    local maddr
    maddr=$(host_addr "$manager")
    if [ "$(swarm_state "$manager")" != active ]; then
      log "swarm: initialising on $manager ($maddr)"
      host_docker "$manager" swarm init --advertise-addr "$maddr" --listen-addr "$maddr:2377" >/dev/null
    fi
    # Nodes report every second (Docker's default: 5 s), so a lost node is noticed in a few
    # seconds and its tasks start elsewhere sooner.
    host_docker "$manager" swarm update --dispatcher-heartbeat 1s >/dev/null
    local token
    token=$(host_docker "$manager" swarm join-token -q worker)
    for n in "${SWARM_NODES[@]:1}"; do
      if [ "$(swarm_state "$n")" != active ]; then
        log "swarm: $n joins"
        host_docker "$n" swarm join --token "$token" --advertise-addr "$(host_addr "$n")" "$maddr:2377" >/dev/null
      fi
    done
    wait_until 60 "every swarm node ready" sh -c \
      "[ \"\$(docker --tlsverify --tlscacert '$TLS/ca.pem' --tlscert '$TLS/cert.pem' --tlskey '$TLS/key.pem' -H tcp://$maddr:2376 node ls --format '{{.Status}}' | grep -c Ready)\" -ge ${#SWARM_NODES[@]} ]"
    echo "tcp://$maddr:2376"
    ;;
  down)
    for n in "${SWARM_NODES[@]}"; do
      [ -f "$STATE/hosts/$n/extra" ] && host_cmd rm "$n"
    done
    ;;
  *) die "usage: $0 swarm up|down" ;;
  esac
}

down() {
  local h
  gateway_down
  registry_down
  for h in $(known_hosts); do host_down "$h" & done
  wait
  lan_down
  redis_down
  pg_down
  # dockerd may leave network-namespace mounts in its exec root; they would stop rm.
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
  for h in $(fleet_hosts); do
    if [ "$(cat "$STATE/hosts/$h/shape" 2>/dev/null)" = netns-tls ] && pid_alive "$STATE/hosts/$h/docker.pid" && host_ready "$h"; then
      row "$h" up "tcp://$(host_addr "$h"):2376 (namespace $(host_ns "$h"), TLS)"
    else row "$h" down ""; ok=1; fi
  done
  if pid_alive "$STATE/registry/registry.pid" && grep -q "addr: $LAN_PREFIX.1:" "$STATE/registry/config.yml" 2>/dev/null; then
    row registry up "https://$LAN_PREFIX.1:$REGISTRY_PORT"
  else row registry down ""; ok=1; fi
  if pid_alive "$GATEWAY_DIR/haproxy.pid"; then row gateway up "127.0.0.1:$GATEWAY_PORT (HAProxy, $GATEWAY_DIR)"; else row gateway down ""; ok=1; fi
  if [ -d "$STATE/git/demo.git" ]; then row demo-repo ok "file://$STATE/git/demo.git"; else row demo-repo none ""; ok=1; fi
  return $ok
}

case ${1:-} in
up) shift; up "$@" ;;
host) shift; host_cmd "$@" ;;
swarm) shift; swarm_cmd "$@" ;;
node-image) shift; node_image "${1:?node-image: which host}" ;;
down) down ;;
status) status ;;
env) cat "$ENV_FILE" ;;
*) echo "usage: $0 up [--hosts a,b,c] | host up|stop|cut|mend|rm NAME | swarm up|down | node-image HOST | down | status | env" >&2; exit 2 ;;
esac
