#!/bin/bash
# make-base-image.sh -- builds the image debian:bookworm-slim locally with debootstrap, for
# machines that cannot pull from a container registry. The result mimics the official slim
# image: minbase, the same apt sources (with updates and security), no apt caches, and the
# dpkg filters that keep documentation, man pages and translations out of later installs.
#
# usage: make-base-image.sh [TAG]   (default debian:bookworm-slim; needs root, debootstrap)
set -euo pipefail

TAG=${1:-debian:bookworm-slim}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
ROOT=$(mktemp -d /tmp/rn-bookworm-root.XXXXXX)
trap 'rm -rf "$ROOT"' EXIT

debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$ROOT.log" 2>&1 || {
    tail -n 30 "$ROOT.log" >&2
    exit 1
}
rm -f "$ROOT.log"

cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb ${MIRROR%/debian}/debian-security bookworm-security main
EOF

# As in the official slim images: no docs, man pages or translations from later installs.
cat >"$ROOT/etc/dpkg/dpkg.cfg.d/docker-slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
# As in the official images: apt keeps no downloaded packages, and installs no
# recommended packages unless asked.
cat >"$ROOT/etc/apt/apt.conf.d/docker-clean" <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
cat >"$ROOT/etc/apt/apt.conf.d/docker-no-recommends" <<'EOF'
APT::Install-Recommends "false";
EOF

# What debootstrap leaves behind that an image does not need.
rm -rf "$ROOT"/var/cache/apt/archives/*.deb "$ROOT"/var/cache/apt/*.bin \
    "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/log/* "$ROOT"/tmp/* \
    "$ROOT"/var/cache/debconf/*-old "$ROOT"/var/lib/dpkg/*-old
find "$ROOT/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
find "$ROOT/usr/share/doc" -mindepth 1 -type d -empty -delete
rm -rf "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* "$ROOT"/usr/share/locale/* \
    "$ROOT"/usr/share/groff/* "$ROOT"/usr/share/lintian/*
: >"$ROOT/etc/machine-id"

tar --numeric-owner -C "$ROOT" -c . |
    docker import --change 'CMD ["bash"]' --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$TAG" >/dev/null
docker image inspect --format '{{.Id}} {{.Size}}' "$TAG"
