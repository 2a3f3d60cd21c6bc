# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cgroup2 tree as the kernel shows it under its mount point.

Only reads: where the unified hierarchy is mounted, which controllers a
cgroup may use, whether processes live below it, and which cgroup a
process is in.  systemd does all the writing.
"""

from __future__ import annotations

import os

from ._errors import HostError
from ._files import read_text

__all__ = [
    "MOUNTINFO",
    "unified_mount",
    "parse_unified_mount",
    "cgroup_dir",
    "read_controllers",
    "is_populated",
    "cgroup_of_pid",
]

MOUNTINFO = "/proc/self/mountinfo"

# Options of a v1 hierarchy that name no controller.
_V1_FLAGS = {"rw", "ro", "xattr", "clone_children", "noprefix",
             "cpuset_v2_mode", "favordynmods"}


def unified_mount() -> str:
    """Return where cgroup2 is mounted, refusing v1 and hybrid hosts."""
    text = read_text(MOUNTINFO)
    if text is None:
        raise HostError(MOUNTINFO, "does not exist",
                        "Run the task on a Linux host with /proc mounted")
    return parse_unified_mount(text)


def parse_unified_mount(mountinfo: str) -> str:
    """Find the cgroup2 mount point in the text of a mountinfo file.

    A hybrid host mounts cgroup2 too, but keeps the controllers in v1
    hierarchies, so limits set there would never reach the kernel.
    """
    unified = []
    v1_controllers = set()
    for line in mountinfo.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        after = line.split(" - ", 1)[1].split()
        fstype = after[0]
        if fstype == "cgroup2":
            unified.append(_unescape(fields[4]))
        elif fstype == "cgroup" and len(after) >= 3:
            options = set(after[2].split(","))
            # "name=systemd" and the like are named hierarchies that hold
            # no controller; hybrid hosts keep one beside cgroup2.
            v1_controllers |= {option for option in options
                               if option not in _V1_FLAGS
                               and "=" not in option}

    if v1_controllers:
        raise HostError(
            "this host's cgroups",
            f"the controllers {', '.join(sorted(v1_controllers))} are in "
            f"cgroup v1 hierarchies, where the user manager cannot apply "
            f"limits",
            "Boot with the unified hierarchy (kernel command line "
            "systemd.unified_cgroup_hierarchy=1, the default since "
            "systemd 247)")
    if not unified:
        raise HostError(
            "this host's cgroups", "no cgroup2 file system is mounted",
            "Boot with systemd on the unified cgroup hierarchy")
    # systemd mounts the unified tree at /sys/fs/cgroup; prefer it when a
    # container or a tool has mounted cgroup2 again elsewhere.
    return "/sys/fs/cgroup" if "/sys/fs/cgroup" in unified else unified[0]


def cgroup_dir(mount: str, control_group: str) -> str:
    """Join a systemd ControlGroup path onto the cgroup2 mount point."""
    return os.path.join(mount, control_group.lstrip("/"))


def read_controllers(directory: str) -> list[str]:
    """Controllers a cgroup may use, or [] when it does not exist (yet)."""
    text = read_text(os.path.join(directory, "cgroup.controllers"))
    return sorted(text.split()) if text else []


def is_populated(directory: str) -> bool:
    """Tell whether any process lives in the cgroup or below it."""
    text = read_text(os.path.join(directory, "cgroup.events")) or ""
    return "populated 1" in text.splitlines()


def cgroup_of_pid(pid: int) -> str | None:
    """The cgroup2 path of ``pid``, or None when it is gone."""
    try:
        text = read_text(f"/proc/{pid}/cgroup")
    except HostError:
        return None
    for line in (text or "").splitlines():
        if line.startswith("0::"):
            return line[3:]
    return None


def _unescape(path: str) -> str:
    # mountinfo writes space, tab, newline and backslash as octal escapes.
    for code in ("\\040", "\\011", "\\012", "\\134"):
        path = path.replace(code, chr(int(code[1:], 8)))
    return path
