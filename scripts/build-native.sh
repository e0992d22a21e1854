#!/bin/sh
# Third step of `npm run build`: compiles the native helper berthd runs for `docker cp`
# (native/berth-cp.c) next to the daemon's bundle, where berthd looks for it
# (dist/src/cmd/berth-cp). Needs gcc and libc6-dev (scripts/install-deps.sh).
set -eu
cd "$(dirname "$0")/.."
out=dist/src/cmd/berth-cp
mkdir -p "$(dirname "$out")"
gcc -O2 -Wall -Wextra -Werror -D_FORTIFY_SOURCE=2 -fstack-protector-strong -o "$out.tmp" native/berth-cp.c
mv "$out.tmp" "$out"
