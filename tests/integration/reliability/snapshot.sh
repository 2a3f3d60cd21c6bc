#!/bin/sh
# Print everything of a guest that gaming-box may touch, one line per fact,
# in a stable order, so two runs can be compared line by line.  Run as root.
home=/home/player
manager=/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service

for dir in "$home/.config/systemd" "$home/.local/share/flatpak/overrides" \
    "$home/.local/share/gaming-box" /etc/systemd/system /var/lib/gaming-box \
    /usr/local/libexec/gaming-box; do
    [ -e "$dir" ] || { echo "file $dir absent"; continue; }
    find "$dir" -printf 'file %p %y %m %u:%g %s\n' | sort
    find "$dir" -type f -exec sha256sum {} + | sed 's/^/sha256 /' | sort
done

runuser -u player -- env XDG_RUNTIME_DIR=/run/user/1000 \
    DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus \
    systemctl --user list-units --all --plain --no-legend --no-pager \
    | awk '{print "unit", $1, $2, $3, $4}' | sort

find "$manager" -type d -printf 'cgroup %P\n' | sort
bpftool cgroup tree 2>&1 | sed 's/^/bpf /'
find /sys/fs/bpf -printf 'pin %p\n' 2>&1 | sort
