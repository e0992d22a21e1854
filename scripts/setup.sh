#!/bin/sh
# One command from a fresh machine to a running berthd with a busybox image:
#   install Debian packages, npm ci, build, start berthd in the background with its
#   embedded defaults (socket /run/berth/berth.sock, log /var/log/berthd.log), import busybox.
set -eu
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
npm ci --no-audit --no-fund
npm run build
./scripts/build-busybox-rootfs.sh build/busybox-rootfs.tar >/dev/null

SOCK=/run/berth/berth.sock
LOG=${BERTHD_LOG:-/var/log/berthd.log}
if docker -H "unix://$SOCK" version >/dev/null 2>&1; then
  echo "berthd is already running on $SOCK"
else
  mkdir -p "$(dirname "$LOG")"
  # Started as systemd would start it: NODE_EXTRA_CA_CERTS (set in some shells) makes Node
  # parse a whole CA bundle before any code runs, ~40 ms of every start here.
  env -u NODE_EXTRA_CA_CERTS setsid node dist/src/cmd/berthd.cjs >>"$LOG" 2>&1 < /dev/null &
  i=0
  until docker -H "unix://$SOCK" version >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 300 ]; then echo "berthd did not start; see $LOG" >&2; exit 1; fi
    sleep 0.1
  done
  echo "berthd started (log: $LOG)"
fi
if ! docker -H "unix://$SOCK" image inspect busybox:latest >/dev/null 2>&1; then
  docker -H "unix://$SOCK" import -c 'CMD ["sh"]' build/busybox-rootfs.tar busybox:latest >/dev/null
  echo "imported busybox:latest"
fi
echo "try: docker -H unix://$SOCK run --rm busybox echo hello"
