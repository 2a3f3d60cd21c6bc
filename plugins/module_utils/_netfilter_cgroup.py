# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The target cgroup of a filter: validate its path, keep it in existence.

A filter dies with its cgroup.  For a cgroup inside a user manager
(``user.slice/user-UID.slice/user@UID.service/...``) the directory is made
to outlive the units that use it, so the program attached to it never goes
away while the manager runs:

- before the manager starts (``ExecStartPre=+`` of ``user@UID.service``) the
  loader creates the directory and attaches the filter; when the manager
  later starts the slice, its mkdir finds the directory, filter included;
- the directory is owned by root, group-writable for the user's group and
  sticky, and holds an empty root-owned child ``ANCHOR``.  The manager can
  still create and remove its own scopes inside, and writes the interface
  files, which belong to the user; it cannot remove the anchor (sticky), so
  it cannot remove the directory either (a cgroup with a child is busy).
  Stopping and restarting the slice then reuses the same filtered cgroup.

Imported by the boot-time loader: os and pwd only.
"""

from __future__ import annotations

import errno
import os
import pwd

from ._errors import HostError, InvalidInput

__all__ = [
    "ANCHOR",
    "Target",
    "cgroup2_mount",
    "mounts",
    "open_cgroup",
    "prepare_target",
    "release_target",
    "resolve_target",
]

ANCHOR = ".gaming-box-keep"
_TARGET_MODE = 0o1775


class Target:
    """A validated cgroup path and, when it is in one, its user manager."""

    __slots__ = ("path", "mount", "parts", "owner_uid")

    def __init__(self, *, path: str, mount: str, parts: tuple,
                 owner_uid: int | None) -> None:
        self.path = path
        self.mount = mount
        self.parts = parts
        self.owner_uid = owner_uid

    @property
    def manager_dir(self) -> str | None:
        if self.owner_uid is None:
            return None
        return os.path.join(self.mount, *self.parts[:3])

    @property
    def exists(self) -> bool:
        return os.path.isdir(self.path)


def cgroup2_mount(*, mountinfo: str = "/proc/self/mountinfo") -> str:
    """Where the unified cgroup hierarchy is mounted."""
    for mount_point, fstype in mounts(mountinfo=mountinfo):
        if fstype == "cgroup2":
            return mount_point
    raise HostError("this host", "has no cgroup2 (unified) hierarchy mounted",
                    "Boot with the unified hierarchy (the systemd default "
                    "since v247, Debian 11 and later)")


def mounts(*, mountinfo: str = "/proc/self/mountinfo") -> list:
    """(mount point, file system type) of every mount, in mount order."""
    try:
        with open(mountinfo, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError as exc:
        raise HostError(mountinfo, f"cannot be read: {exc.strerror}",
                        "Run on Linux with /proc mounted") from exc
    found = []
    for line in lines:
        fields, _sep, tail = line.partition(" - ")
        mount_point = fields.split(" ")[4].replace("\\040", " ")
        found.append((mount_point, tail.split(" ", 1)[0]))
    return found


def resolve_target(path: object, *, mount: str) -> Target:
    """Validate the ``cgroup`` option against the cgroup2 mount point.

    The path must be absolute, below the mount, free of ``.``/``..`` and
    empty components, and not the root cgroup itself.
    """
    fix = (f"Give the absolute path of the cgroup directory, such as "
           f"{mount}/user.slice/user-1000.slice/user@1000.service/"
           f"games.slice")
    if not isinstance(path, str) or not path.startswith("/"):
        raise InvalidInput(f"cgroup {path!r}", "is not an absolute path", fix)

    text = path.rstrip("/")
    components = text.split("/")[1:]
    if any(part in ("", ".", "..") for part in components):
        raise InvalidInput(f"cgroup {path!r}",
                           "contains '..', '.' or an empty component",
                           "Write the path without them; it is not "
                           "resolved, only checked")

    prefix = mount.rstrip("/") + "/"
    if text == mount.rstrip("/"):
        raise InvalidInput(f"cgroup {path!r}",
                           "is the root cgroup, which would filter the whole "
                           "machine", fix)
    if not text.startswith(prefix):
        raise InvalidInput(f"cgroup {path!r}",
                           f"is outside the cgroup2 mount {mount}", fix)
    parts = tuple(text[len(prefix):].split("/"))
    if ANCHOR in parts:
        raise InvalidInput(f"cgroup {path!r}",
                           f"is inside the anchor {ANCHOR} of another filter",
                           fix)

    return Target(path=text, mount=mount.rstrip("/"), parts=parts,
                  owner_uid=_manager_uid(parts))


def _manager_uid(parts: tuple) -> int | None:
    # user.slice/user-UID.slice/user@UID.service/<at least one more part>
    if len(parts) < 4 or parts[0] != "user.slice":
        return None
    slice_name, service = parts[1], parts[2]
    if not (slice_name.startswith("user-") and slice_name.endswith(".slice")
            and service.startswith("user@")
            and service.endswith(".service")):
        return None
    uid = slice_name[len("user-"):-len(".slice")]
    if not uid.isdigit() or service != f"user@{uid}.service":
        return None
    return int(uid)


def open_cgroup(path: str) -> int:
    """Open a cgroup directory for BPF attach and query calls."""
    try:
        return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError as exc:
        raise HostError(f"cgroup {path}", "does not exist",
                        "Start the slice or scope that owns it (or the "
                        "user's manager) first") from exc
    except OSError as exc:
        raise HostError(f"cgroup {path}", f"cannot be opened: "
                                          f"{exc.strerror}",
                        "Run as root") from exc


def prepare_target(target: Target) -> list:
    """Create the target inside its user manager and anchor it there.

    Returns what changed, as short descriptions.  Only for targets inside
    ``user@UID.service``; the manager's own directory must exist (the
    system manager creates it before ``ExecStartPre`` runs).
    """
    manager_dir = target.manager_dir
    if manager_dir is None:
        raise HostError(f"cgroup {target.path}",
                        "is not inside a user manager, so it cannot be "
                        "created ahead of its unit",
                        "Start the unit that owns it first")
    if not os.path.isdir(manager_dir):
        raise HostError(
            f"cgroup {target.path}",
            f"cannot be prepared: user@{target.owner_uid}.service is not "
            f"running ({manager_dir} is missing)",
            "Start it (loginctl enable-linger, or log the user in); the "
            "filter's drop-in prepares the cgroup whenever it starts")

    uid, gid = target.owner_uid, _primary_gid(target.owner_uid)
    changes = []
    current = manager_dir
    for part in target.parts[3:]:
        current = os.path.join(current, part)
        if _make_cgroup(current):
            _give_to_user(current, uid=uid, gid=gid)
            changes.append(f"created {current}")

    changes.extend(_anchor(target.path, gid=gid))
    return changes


def _make_cgroup(path: str) -> bool:
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        return False
    except OSError as exc:
        raise HostError(f"cgroup {path}", f"cannot be created: "
                                          f"{exc.strerror}",
                        "Check that the cgroup2 hierarchy is writable by "
                        "root") from exc
    return True


def _give_to_user(path: str, *, uid: int, gid: int) -> None:
    # What a mkdir by the user manager would have produced: directory and
    # interface files owned by the user.
    os.chown(path, uid, gid)
    for entry in os.listdir(path):
        full = os.path.join(path, entry)
        if os.path.isfile(full):
            os.chown(full, uid, gid)


def _anchor(path: str, *, gid: int) -> list:
    changes = []
    status = os.stat(path)
    if (status.st_uid, status.st_gid) != (0, gid):
        os.chown(path, 0, gid)
        changes.append(f"gave {path} to root:{gid}")
    if status.st_mode & 0o7777 != _TARGET_MODE:
        os.chmod(path, _TARGET_MODE)
        changes.append(f"made {path} sticky and group-writable")
    if _make_cgroup(os.path.join(path, ANCHOR)):
        changes.append(f"anchored {path}")
    return changes


def release_target(target: Target) -> list:
    """Undo ``prepare_target``'s anchor; the directory goes back to the user.

    The directory itself stays: the user manager may be using it, and it
    removes it itself once the anchor is gone.
    """
    if target.owner_uid is None or not target.exists:
        return []
    changes = []
    anchor = os.path.join(target.path, ANCHOR)
    try:
        os.rmdir(anchor)
        changes.append(f"removed {anchor}")
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise HostError(anchor, f"cannot be removed: {exc.strerror}",
                            "Move any process out of it and run again") \
                from exc

    status = os.stat(target.path)
    uid, gid = target.owner_uid, _primary_gid(target.owner_uid)
    if (status.st_uid, status.st_gid) != (uid, gid) or \
            status.st_mode & 0o7777 != 0o755:
        os.chown(target.path, uid, gid)
        os.chmod(target.path, 0o755)
        changes.append(f"gave {target.path} back to uid {uid}")
    return changes


def _primary_gid(uid: int) -> int:
    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError as exc:
        raise HostError(f"uid {uid}", "is not in the passwd database",
                        "Create the user first") from exc
