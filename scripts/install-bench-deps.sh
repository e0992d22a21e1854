#!/bin/sh
# Install what the benchmark harness (bench/) needs on top of ./scripts/setup.sh: Debian's
# docker.io (dockerd 20.10, the engine berth is compared with), containerd (run on its own,
# dockerd is pointed at it) and runc. Idempotent; root.
#
# The packages' maintainer scripts would start dockerd and containerd as system services on
# /var/lib/docker and /run/containerd; the harness runs its own on temporary paths instead, so
# service starts are denied during the install (a policy-rc.d that exits 101, removed after
# unless the machine already had one).
set -eu
export DEBIAN_FRONTEND=noninteractive
PKGS="docker.io containerd runc conmon busybox-static iptables iproute2 procps util-linux"
missing=""
for p in $PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"
done
if [ -z "$missing" ]; then
  echo "bench dependencies are installed"
  exit 0
fi
policy=/usr/sbin/policy-rc.d
ours=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  ours=1
fi
cleanup() { if [ -n "$ours" ]; then rm -f "$policy"; fi; }
trap cleanup EXIT INT TERM
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
# docker.io's package ships /usr/bin/docker (the 20.10 CLI); the harness always calls `docker`
# through PATH, where the project's v28 CLI comes first (/usr/local/bin).
echo "installed:$missing"
