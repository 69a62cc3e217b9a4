#!/usr/bin/env bash
# Assembles the container's runtime root filesystem from a built spillwayd, without a container
# engine: the binary, every shared library `ldd` lists (at the same paths), the dynamic loader,
# the CA bundle and a passwd/group with the non-root user 65532. Everything is owned by root and
# read-only to that user, so the daemon runs the same on a read-only root filesystem; /tmp is the
# one writable place (a tmpfs/emptyDir in a real pod).
#
#   packaging/rootfs.sh BINARY DEST
#
# Then, as root: chroot --userspec=65532:65532 DEST /usr/bin/spillwayd version
set -euo pipefail

[ $# -eq 2 ] || { echo "usage: $0 BINARY DEST" >&2; exit 2; }
bin=$(realpath "$1")
dest=$2
[ -x "$bin" ] || { echo "rootfs.sh: $1 is not an executable file" >&2; exit 1; }
if [ -e "$dest" ] && [ -n "$(ls -A "$dest")" ]; then
  echo "rootfs.sh: $dest exists and is not empty" >&2; exit 1
fi

install -d -m 0755 "$dest"/{usr/bin,etc/ssl/certs}
install -d -m 1777 "$dest/tmp"
install -m 0755 "$bin" "$dest/usr/bin/spillwayd"

# "libx.so => /path/libx.so (0x...)" and the loader's "/lib64/ld-linux-x86-64.so.2 (0x...)".
# Copied through symlinks to the path the binary asks for.
ldd_out=$(ldd "$bin") || { echo "rootfs.sh: ldd failed on $1 (not a dynamic executable?)" >&2; exit 1; }
if grep -q 'not found' <<<"$ldd_out"; then
  echo "rootfs.sh: unresolved libraries:" >&2; grep 'not found' <<<"$ldd_out" >&2; exit 1
fi
awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' <<<"$ldd_out" | sort -u | while read -r lib; do
  install -D -m 0755 "$(realpath "$lib")" "$dest$lib"
done
# The loader also lives under its canonical name; some tools look for it there.
loader=$(awk '$1 ~ /^\// {print $1}' <<<"$ldd_out" | head -n1)
if [ -n "$loader" ] && [ "$(realpath "$loader")" != "$loader" ]; then
  install -D -m 0755 "$(realpath "$loader")" "$dest$(realpath "$loader")"
fi

install -m 0644 /etc/ssl/certs/ca-certificates.crt "$dest/etc/ssl/certs/ca-certificates.crt"
cat > "$dest/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/usr/sbin/nologin
nonroot:x:65532:65532:nonroot:/nonexistent:/usr/sbin/nologin
PASSWD
cat > "$dest/etc/group" <<'GROUP'
root:x:0:
nonroot:x:65532:
GROUP
printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$dest/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' > "$dest/etc/hosts"
chmod 0644 "$dest"/etc/{passwd,group,nsswitch.conf,hosts}
