#!/bin/sh
printf 'Content-Type: text/plain\r\n\r\n'
echo "demo $(cat /app/VERSION) ENVT=${ENVT:-} PROJ=${PROJ:-} GREETING=${GREETING:-} host=$(hostname)"
