#!/usr/bin/env bash
# Builds the spillwayd Debian package with dpkg-deb from an already built binary.
#
#   packaging/deb/build.sh BINARY [OUTDIR]
#
# BINARY must link the Swift runtime statically (swift build -c release --static-swift-stdlib):
# a package cannot depend on a toolchain in /opt. The version is what `BINARY version` prints
# (first line: `spillwayd X.Y.Z`), or $SPILLWAY_VERSION when set; the Debian revision is
# $DEB_REVISION (1).
# $DEB_XZ_LEVEL (0-9, default 6 as dpkg-deb) trades size for time: the binary is ~60 MB and
# level 6 takes minutes on a busy 2-core machine, level 1 a fraction (tests use it).
# Prints the path of the .deb on stdout.
set -euo pipefail

usage() { echo "usage: $0 BINARY [OUTDIR]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
bin=$(realpath "$1")
outdir=${2:-out}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

[ -x "$bin" ] || { echo "build.sh: $1 is not an executable file" >&2; exit 1; }
# grep reads all of ldd's output: with -q it could exit first, and pipefail would turn ldd's
# SIGPIPE into "not linked".
if ldd "$bin" | grep 'libswiftCore\.so' >/dev/null; then
  echo "build.sh: $1 links the Swift runtime dynamically ($(ldd "$bin" | awk '/libswiftCore/ {print $3}'));" \
       "build it with: swift build -c release --product spillwayd --static-swift-stdlib" >&2
  exit 1
fi

upstream=${SPILLWAY_VERSION:-$("$bin" version 2>/dev/null | sed -n 's/^spillwayd \([0-9][0-9A-Za-z.+~-]*\)$/\1/p')}
if [ -z "$upstream" ]; then
  echo "build.sh: '$1 version' did not print 'spillwayd X.Y.Z'; set SPILLWAY_VERSION" >&2
  exit 1
fi
# A semver prerelease (0.6.0-rc.1) becomes 0.6.0~rc.1: "~" sorts before the release, "-" after it.
version="${upstream/-/\~}-${DEB_REVISION:-1}"
arch=$(dpkg --print-architecture)
date=$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
doc="$root/usr/share/doc/spillwayd"
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/spillway" \
  "$root/usr/share/man/man8" "$root/usr/share/lintian/overrides" "$doc"

# Stripped like dh_strip does: the package carries no debug symbols.
install -m 0755 "$bin" "$root/usr/bin/spillwayd"
strip --remove-section=.comment --remove-section=.note --strip-unneeded "$root/usr/bin/spillwayd"
install -m 0644 "$repo/systemd/spillwayd.service" "$root/lib/systemd/system/spillwayd.service"
install -m 0644 "$repo/systemd/spillway.conf" "$root/etc/spillway/spillway.conf"
install -m 0644 "$repo/systemd/spillway.env" "$root/etc/spillway/spillway.env"
install -m 0644 "$here/copyright" "$doc/copyright"
install -m 0644 "$here/lintian-overrides" "$root/usr/share/lintian/overrides/spillwayd"
sed -e "s/@VERSION@/$version/" -e "s/@UPSTREAM@/$upstream/" -e "s/@DATE@/$date/" "$here/changelog" \
  | gzip -9n > "$doc/changelog.Debian.gz"
chmod 0644 "$doc/changelog.Debian.gz"

# The man page is the CLI's own help (swift-argument-parser), top level, `run`, `plan` and
# `uninstall`, through
# help2man, with the sections --help cannot carry (environment, files) from man-include.h2m.
mkdir "$work/h2m"
cat > "$work/h2m/spillwayd" <<WRAP
#!/bin/sh
case "\$1" in
  --version) echo "spillwayd $upstream" ;;
  *) "$bin" --help; echo; "$bin" run --help; echo; "$bin" plan --help; echo; "$bin" uninstall --help ;;
esac
WRAP
chmod 0755 "$work/h2m/spillwayd"
help2man --no-info --section=8 --no-discard-stderr --include="$here/man-include.h2m" \
  --version-string="$upstream" --output="$work/spillwayd.8" "$work/h2m/spillwayd"
# Long comma-separated defaults (the annotation deny prefixes) are one unbreakable word to troff:
# give it a break point (\:, zero width) after each comma of text lines, and set the page ragged
# right (.na) so such lines need no stretching.
sed -i -e '/^[.'"'"']/!s/,\([^ ]\)/,\\:\1/g' -e '/^\.TH /a .na' "$work/spillwayd.8"
gzip -9n < "$work/spillwayd.8" > "$root/usr/share/man/man8/spillwayd.8.gz"
chmod 0644 "$root/usr/share/man/man8/spillwayd.8.gz"

# Shared-library dependencies as dpkg-shlibdeps computes them (it wants a debian/control).
mkdir -p "$work/src/debian"
printf 'Source: spillway\n\nPackage: spillwayd\nArchitecture: any\n' > "$work/src/debian/control"
depends=$(cd "$work/src" && dpkg-shlibdeps -O "$root/usr/bin/spillwayd" | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "build.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
  "$here/control.in" > "$root/DEBIAN/control"
install -m 0644 "$here/conffiles" "$root/DEBIAN/conffiles"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$root/DEBIAN/"
(cd "$root" && find . -type f ! -path './DEBIAN/*' ! -path './etc/*' -printf '%P\0' | sort -z \
  | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

mkdir -p "$outdir"
deb="$(realpath "$outdir")/spillwayd_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz "-z${DEB_XZ_LEVEL:-6}" --build "$root" "$deb" >/dev/null
echo "$deb"
