#!/bin/sh
# mmdebstrap customize hook: the test user, services and boot settings.
set -eu
root=$1

# The desktop user the collection configures.  Lingering starts its user
# manager at boot, as a graphical login would.
chroot "$root" useradd --create-home --uid 1000 --user-group \
    --shell /bin/bash player
mkdir -p "$root/var/lib/systemd/linger"
touch "$root/var/lib/systemd/linger/player"

chroot "$root" systemctl enable systemd-networkd.service \
    gbox-authorized-keys.service

# Timers that would wake up during tests and compete for the slow CPU.
chroot "$root" systemctl mask apt-daily.timer apt-daily-upgrade.timer \
    dpkg-db-backup.timer e2scrub_all.timer fstrim.timer
# systemd-firstboot would wait on the console for answers on the first
# boot of each overlay.
chroot "$root" systemctl mask systemd-firstboot.service
# Boot work no lab guest needs: foreign binary formats, pstore, DRM, and
# logins on consoles nobody types on (the serial console is a log file).
chroot "$root" systemctl mask systemd-binfmt.service \
    proc-sys-fs-binfmt_misc.automount systemd-pstore.service \
    modprobe@drm.service modprobe@efi_pstore.service e2scrub_reap.service \
    getty@tty1.service serial-getty@ttyS0.service

# No name server is reachable from a lab guest.
rm -f "$root/etc/resolv.conf"
touch "$root/etc/resolv.conf"
