#!/bin/sh
# mmdebstrap essential hook: lay the static files of lab/recipe/rootfs over
# the new root before the kernel and the services are installed, so the
# initramfs configuration is in place when the first initrd is built.
set -eu
root=$1
recipe=$(dirname "$(readlink -f "$0")")/..

cp -R --no-preserve=ownership "$recipe/rootfs/." "$root/"
