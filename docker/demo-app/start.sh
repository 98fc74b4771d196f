#!/bin/sh
# Serves the demo app on $PORT. On SIGTERM it fails its health check, stops accepting new
# connections and lets in-flight requests finish (up to 30 s) before exiting.
port="${PORT:-8080}"
echo ok > /www/healthz
httpd -f -p "$port" -h /www &
pid=$!
echo "demo $(cat /app/VERSION) listening on $port (ENVT=$ENVT PROJ=$PROJ)"

drain() {
  echo "SIGTERM: draining"
  rm -f /www/healthz
  kill -TERM "$pid" 2>/dev/null
  i=0
  while pidof httpd >/dev/null && [ "$i" -lt 300 ]; do
    sleep 0.1
    i=$((i + 1))
  done
  echo "drained, exiting"
  exit 0
}
trap drain TERM INT
wait "$pid"
