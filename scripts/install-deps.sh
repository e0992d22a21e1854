#!/bin/sh
# Install what berth needs on a fresh Debian 12 machine (root): the runtime parts (runc,
# conmon), what containers and tests use (busybox-static; iptables, iproute2, util-linux
# unshare/nsenter and mount for bridge networking; python3 for test tarballs, attr for overlay
# opaque directories, gcc and libc6-dev for the `docker cp` helper (native/berth-cp.c, built by
# `npm run build`) and the static seccomp probe the tests build, openssl
# for test certificates, Debian's docker-registry (the CNCF distribution server) and zstd for
# the registry tests), bzip2 and xz-utils (a build's ADD unpacks .tar.bz2 and .tar.xz archives
# through them, as dockerd reads them), aardvark-dns (the resolver of user networks, a process of its own that
# outlives berthd), etcd-server (a swarm manager's store: one etcd member per manager, also a
# process of its own), and the docker CLI's companions (docker-compose v1 for its tests).
# Idempotent.
set -eu
export DEBIAN_FRONTEND=noninteractive
PKGS="perl-base runc conmon busybox-static tini systemd attr iptables iproute2 python3 ca-certificates util-linux mount procps openssl gcc libc6-dev docker-registry zstd bzip2 xz-utils aardvark-dns docker-compose etcd-server"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -n "$missing" ]; then
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing
fi
