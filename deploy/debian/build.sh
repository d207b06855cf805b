#!/usr/bin/env bash
# Build lanes-exporter_<version>-1_all.deb from this checkout with dpkg-deb alone (no
# debhelper, no network): admins install it with `apt install ./lanes-exporter_*.deb`.
#
#   deploy/debian/build.sh [OUTDIR]      (default OUTDIR: dist/)
#
# What it installs (docs/deploy-debian.md):
#   /usr/bin/lanes_exporter              launcher: /usr/share/lanes-exporter on sys.path
#   /usr/share/lanes-exporter/           the exporter and collectors packages
#   /lib/systemd/system/lanes.service    deploy/systemd/lanes.service, ExecStart=/usr/bin/...
#   /etc/default/lanes                   ARGS for the unit (conffile)
#   /etc/lanes/config.yml                an empty config: every key has a default (conffile)
#   /usr/lib/sysusers.d/lanes.conf       the system user lanes
#   /usr/share/doc/lanes-exporter/       copyright, changelog, config.example.yml, web.yml example
#   /var/lib/lanes                       the state directory (created by postinst and by
#                                        the unit's StateDirectory=)
# The Python modules go to a private directory, not to dist-packages: `exporter` and
# `collectors` are too generic to be top-level names for every Python program on the host.
# Runtime dependencies are Debian's own packages (the versions in bookworm are the oldest
# pyproject.toml allows).
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-dist}
VERSION=$(sed -n 's/^__version__ = "\(.*\)"$/\1/p' exporter/__init__.py)
REV=1
PKG=lanes-exporter
DEB_VERSION=$VERSION-$REV
umask 022
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
R=$STAGE/root
install -d "$R/DEBIAN" "$R/usr/bin" "$R/usr/share/$PKG" "$R/lib/systemd/system" "$R/etc/default" \
  "$R/etc/lanes" "$R/usr/lib/sysusers.d" "$R/usr/share/doc/$PKG/examples"

# the Python packages, subpackages included (collectors may be packages): the .py files
# of this working tree, no __pycache__, no tests
for pkg in exporter collectors; do
  find "$pkg" -name '*.py' -not -path '*/__pycache__/*' -print0 | while IFS= read -r -d '' f; do
    install -D -m 0644 "$f" "$R/usr/share/$PKG/$f"
  done
done
install -m 0755 deploy/debian/lanes_exporter "$R/usr/bin/lanes_exporter"

# the unit: the project's, with Debian's paths
sed -e 's|^ExecStart=/opt/lanes/bin/lanes_exporter |ExecStart=/usr/bin/lanes_exporter |' \
    -e 's|^#   /opt/lanes/bin/lanes_exporter|#   /usr/bin/lanes_exporter|' \
    deploy/systemd/lanes.service > "$R/lib/systemd/system/lanes.service"
grep -q '^ExecStart=/usr/bin/lanes_exporter \$ARGS$' "$R/lib/systemd/system/lanes.service" \
  || { echo "build.sh: ExecStart in deploy/systemd/lanes.service changed; update the sed above" >&2; exit 1; }
sed -e 's|/opt/lanes/bin/lanes_exporter|/usr/bin/lanes_exporter|' deploy/systemd/lanes.default > "$R/etc/default/lanes"
install -m 0644 deploy/systemd/lanes.sysusers.conf "$R/usr/lib/sysusers.d/lanes.conf"
install -m 0644 deploy/debian/config.yml "$R/etc/lanes/config.yml"

install -m 0644 deploy/config.example.yml "$R/usr/share/doc/$PKG/examples/config.example.yml"
install -m 0644 deploy/debian/web.yml "$R/usr/share/doc/$PKG/examples/web.yml"
install -m 0644 deploy/debian/copyright "$R/usr/share/doc/$PKG/copyright"
# changelog.Debian (Debian policy 12.7): one entry per package revision
{
  echo "$PKG ($DEB_VERSION) unstable; urgency=medium"
  echo
  echo "  * Built from the lanes source tree; upstream changes: CHANGELOG.md."
  echo
  echo " -- lanes developers <dev@lanes.invalid>  $(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n > "$R/usr/share/doc/$PKG/changelog.Debian.gz"
gzip -9nc CHANGELOG.md > "$R/usr/share/doc/$PKG/changelog.gz"

for f in postinst prerm postrm; do
  install -m 0755 "deploy/debian/$f" "$R/DEBIAN/$f"
done
printf '/etc/default/lanes\n/etc/lanes/config.yml\n' > "$R/DEBIAN/conffiles"
SIZE=$(du -sk --exclude=DEBIAN "$R" | cut -f1)
sed -e "s/@VERSION@/$DEB_VERSION/" -e "s/@SIZE@/$SIZE/" deploy/debian/control > "$R/DEBIAN/control"
(cd "$R" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$R/DEBIAN/md5sums"

mkdir -p "$OUT"
DEB=$OUT/${PKG}_${DEB_VERSION}_all.deb
# --root-owner-group: every file root:root whoever builds; xz like Debian's own packages
dpkg-deb --root-owner-group -Zxz --build "$R" "$DEB" >/dev/null
echo "$DEB"
