#!/bin/sh
# mmdebstrap customize hook: an offline Flatpak setup baked into the guest.
#
#   runtime org.gamingbox.Platform//stable  Debian's sh, coreutils, python3
#                                           and flatpak-spawn, as /usr
#   app     org.gamingbox.Launcher//stable  gbox-launcher (a Steam stand-in)
#                                           and gbox-game
#
# Both are exported to the repository /srv/gaming-box/flatpak-repo, added
# system-wide as the remote "gamingbox" without GPG, and installed from it.
# Everything runs with the guest's own flatpak, inside the new root.
set -eu
root=$1
sources=$(dirname "$(readlink -f "$0")")/../flatpak
repo=/srv/gaming-box/flatpak-repo
build=/var/tmp/gaming-box-flatpak

# Flatpak's install triggers (icon, MIME and desktop caches) run in bwrap,
# which cannot set up its mounts in a chroot; the apps here ship nothing
# they would index, so point Flatpak to an empty trigger directory.
in_root() {
    chroot "$root" env FLATPAK_TRIGGERSDIR="$build/no-triggers" "$@"
}

# Debian makes its .pyc files in postinst, so dpkg does not list them and
# the runtime gets none; a read-only /usr then means compiling the stdlib
# on every start, seconds under emulation.  Flatpak checkouts set every
# mtime to 0, so the .pyc files must not be checked against their source.
byte_compile() {  # TREE PREFIX: compile TREE as it will be seen at PREFIX
    in_root python3 -m compileall -q -j 0 --invalidation-mode unchecked-hash \
        -s "$1" -p "$2" "$1"
}

mkdir -p "$root$build/runtime/files" "$root$build/no-triggers" \
    "$root$(dirname "$repo")"
python3 "$sources/runtime_tree.py" "$root" "$sources/runtime-packages.txt" \
    "$root$build/runtime/files"
cp "$sources/runtime.metadata" "$root$build/runtime/metadata"
byte_compile "$build/runtime/files" /usr
in_root flatpak build-export --runtime --files=files "$repo" \
    "$build/runtime" stable

in_root flatpak remote-add --system --no-gpg-verify gamingbox "file://$repo"
in_root flatpak install --system --noninteractive gamingbox \
    runtime/org.gamingbox.Platform/x86_64/stable

# build-init looks the runtime up among the installed ones, hence the order.
in_root flatpak build-init "$build/launcher" org.gamingbox.Launcher \
    org.gamingbox.Platform org.gamingbox.Platform stable
rsync -rlpt --chmod=u=rwX,go=rX --exclude=__pycache__ \
    "$sources/launcher/" "$root$build/launcher/files/"
byte_compile "$build/launcher/files" /app
# Like Steam: the network, IPC and a private home under ~/.var/app.  No
# host files: a wrapper or cgroup the launcher needs comes from an override,
# which is what the collection manages.
in_root flatpak build-finish --command=gbox-launcher --share=network \
    --share=ipc --persist=. "$build/launcher"
in_root flatpak build-export "$repo" "$build/launcher" stable
in_root flatpak install --system --noninteractive gamingbox \
    app/org.gamingbox.Launcher/x86_64/stable

rm -rf "${root:?}$build"
