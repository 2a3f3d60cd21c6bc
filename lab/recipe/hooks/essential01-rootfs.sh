#!/bin/sh
# mmdebstrap essential hook: lay the static files of lab/recipe/rootfs over
# the new root before the kernel and the services are installed, so the
# initramfs configuration is in place when the first initrd is built.
set -eu
root=$1
recipe=$(dirname "$(readlink -f "$0")")/..

# Modes are set here, not taken from the checkout: a clone made under a
# strict umask must not leave networkd unable to read its .network file.
# Byte code a host tool left in the recipe has no place in the guest.
rsync -rlpt --chmod=u=rwX,go=rX --exclude=__pycache__ \
    "$recipe/rootfs/" "$root/"
