#!/usr/bin/env bash
# Builds the aio image without a Docker engine: buildah with the
# settings of deploy/containers.conf. The Dockerfile's base image
# (debian:bookworm) is made locally with debootstrap when no registry has it.
#
#   deploy/build-image.sh [TAG]        (default tag: aio:latest)
#   podman run --rm -d -p 7000:7000 aio:latest aio-echo
set -euo pipefail
cd "$(dirname "$0")/.."
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/containers.conf}
tag=${1:-aio:latest}
if ! podman image exists docker.io/library/debian:bookworm; then
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian
  tar -C "$root" -c . | podman import - docker.io/library/debian:bookworm
fi
buildah bud --isolation chroot --network host --layers -t "$tag" -f Dockerfile .
