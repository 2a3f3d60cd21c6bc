#!/bin/sh
# Install everything the lab, the tests and the demo need on a Debian 12
# controller: Debian packages with apt, Python tools pinned in a virtualenv.
set -eu

cd "$(dirname "$0")/.."

APT_PACKAGES="qemu-system-x86 qemu-utils mmdebstrap e2fsprogs openssh-client
flatpak bubblewrap python3-venv python3-dbus rsync shellcheck"

missing=""
for pkg in $APT_PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
        || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "==> apt: installing$missing"
    if [ "$(id -u)" -ne 0 ]; then
        echo "Run as root (or with sudo) to install:$missing" >&2
        exit 1
    fi
    apt-get update -qq
    # shellcheck disable=SC2086 # one word per package is the point
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing
fi

if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "==> venv: creating .venv"
    python3 -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements/dev.txt | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> pip: installing requirements/dev.txt"
    .venv/bin/pip install -q --disable-pip-version-check -r requirements/dev.txt
    echo "$want" > "$stamp"
fi

# The repository is used in place as the collection gamingbox.sandbox.
mkdir -p .cache/collections/ansible_collections/gamingbox
ln -sfn ../../../.. .cache/collections/ansible_collections/gamingbox/sandbox
echo "==> dependencies ready"
