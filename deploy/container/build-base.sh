#!/usr/bin/env bash
# The container image's base: Debian 12 (bookworm) minbase plus the Python packages lanes
# runs on, made by mmdebstrap from Debian's own packages (no registry needed) and
# imported into podman as localhost/lanes-base:<key>.
#
#   deploy/container/build-base.sh [--mirror URL] [--cache DIR] [--no-import]
#
# The tarball is cached as DIR/lanes-base-<key>.tar (default DIR: .cache/container under
# the checkout), where <key> is a hash of the suite, the mirror-independent package list
# and this script's version, so a change of the list builds a new base and nothing else
# does.  Prints the image name on stdout (the last line); with --no-import it only makes
# the tarball and prints its path (tests/test_debian_package.py installs into it).  Needs root (or unshare mode)
# and mmdebstrap; the Containerfile then builds on it:
#   podman build --build-arg BASE=localhost/lanes-base:<key> -f deploy/container/Containerfile .
set -euo pipefail
cd "$(dirname "$0")/../.."
SUITE=bookworm
MIRROR=http://deb.debian.org/debian
CACHE=.cache/container
IMPORT=1
while [ $# -gt 0 ]; do
  case "$1" in
    --mirror) MIRROR=$2; shift 2 ;;
    --cache) CACHE=$2; shift 2 ;;
    --no-import) IMPORT=0; shift ;;
    *) echo "usage: $0 [--mirror URL] [--cache DIR] [--no-import]" >&2; exit 2 ;;
  esac
done
# what lanes imports at run time: deploy/debian/control's Depends, the same names
PACKAGES="python3-minimal,python3-prometheus-client,python3-psutil,python3-pyroute2,python3-yaml"
VERSION=1
KEY=$(printf '%s\n' "$VERSION" "$SUITE" "$PACKAGES" | sha256sum | cut -c1-12)
IMAGE=localhost/lanes-base:$KEY
TAR=$CACHE/lanes-base-$KEY.tar
mkdir -p "$CACHE"
if [ ! -s "$TAR" ]; then
  echo "building $TAR with mmdebstrap from $MIRROR" >&2
  # minbase: Priority required (dpkg, passwd for useradd, coreutils), no apt recommends;
  # documentation and locales are dropped (dpkg path-exclude), apt lists and caches too
  mmdebstrap --variant=minbase --include="$PACKAGES" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
    "$SUITE" "$CACHE/partial-$KEY.tar" "$MIRROR" >&2
  mv "$CACHE/partial-$KEY.tar" "$TAR"
fi
if [ "$IMPORT" = 0 ]; then
  echo "$PWD/$TAR"
  exit 0
fi
if ! podman image exists "$IMAGE"; then
  podman import --change 'CMD ["/bin/bash"]' "$TAR" "$IMAGE" >&2
fi
# the Containerfile's default BASE names the newest base built here
podman tag "$IMAGE" localhost/lanes-base:$SUITE >&2
echo "$IMAGE"
