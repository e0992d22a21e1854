#!/bin/sh
# Build a minimal busybox root filesystem tarball from Debian's busybox-static, for
# `docker import` (berth's default image and its tests; no registry is reachable here).
# Usage: scripts/build-busybox-rootfs.sh [OUTPUT.tar]   (default: build/busybox-rootfs.tar)
set -eu
out=${1:-"$(dirname "$0")/../build/busybox-rootfs.tar"}
bb=/bin/busybox
# The dynamic busybox would not run inside an image without its libraries.
if ! dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed'; then
  echo "Debian's busybox-static is not installed (apt-get install busybox-static)" >&2
  exit 1
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root/bin" "$root/etc" "$root/dev" "$root/proc" "$root/sys" "$root/tmp" \
  "$root/root" "$root/home" "$root/var/spool/mail" "$root/var/www" "$root/usr/sbin" "$root/usr/bin" "$root/sbin"
chmod 1777 "$root/tmp"
chmod 700 "$root/root"
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list); do
  [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
done
cat > "$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/bin/false
bin:x:2:2:bin:/bin:/bin/false
sys:x:3:3:sys:/dev:/bin/false
sync:x:4:100:sync:/bin:/bin/sync
mail:x:8:8:mail:/var/spool/mail:/bin/false
www-data:x:33:33:www-data:/var/www:/bin/false
operator:x:37:37:Operator:/var:/bin/false
nobody:x:65534:65534:nobody:/home:/bin/false
PASSWD
cat > "$root/etc/group" <<'GROUP'
root:x:0:
daemon:x:1:
bin:x:2:
sys:x:3:
adm:x:4:
tty:x:5:
disk:x:6:
wheel:x:10:root
mail:x:12:
www-data:x:33:
operator:x:37:
users:x:100:
nogroup:x:65534:
GROUP
echo 'hosts: files dns' > "$root/etc/nsswitch.conf"
mkdir -p "$(dirname "$out")"
tar --numeric-owner --owner=0 --group=0 --sort=name --mtime='2024-01-01 00:00Z' -C "$root" -cf "$out.tmp" .
mv "$out.tmp" "$out"
echo "$out"
