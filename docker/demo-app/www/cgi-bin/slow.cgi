#!/bin/sh
# /cgi-bin/slow.cgi?ms=N answers after N milliseconds (a long in-flight request).
ms=$(echo "$QUERY_STRING" | sed -n 's/.*ms=\([0-9]*\).*/\1/p')
usleep $(( ${ms:-500} * 1000 ))
printf 'Content-Type: text/plain\r\n\r\n'
echo "slow $(cat /app/VERSION) after ${ms:-500}ms"
