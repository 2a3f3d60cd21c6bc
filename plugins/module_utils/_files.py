# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Atomic file writes that keep ownership right when root writes for a user."""

from __future__ import annotations

import errno
import os
import tempfile

from ._errors import HostError

__all__ = ["read_text", "write_atomic", "make_dirs", "remove_file"]


def read_text(path: str) -> str | None:
    """Return the file's text, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise HostError(path, f"is not UTF-8 text ({exc.reason})",
                        "Fix or move the file by hand, then run again") from exc
    except OSError as exc:
        raise HostError(path, f"cannot be read: {exc.strerror}",
                        "Check its permissions") from exc


def make_dirs(path: str, *, uid: int = -1, gid: int = -1,
              mode: int = 0o755) -> list[str]:
    """Create ``path`` and missing parents, owned by uid:gid.

    Returns the directories created, outermost first, so a caller can report
    them.  Existing directories are left exactly as they are.
    """
    missing = []
    current = os.path.abspath(path)
    while not os.path.isdir(current):
        missing.append(current)
        current = os.path.dirname(current)

    created = []
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            continue
        except OSError as exc:
            raise HostError(directory, f"cannot be created: {exc.strerror}",
                            "Check the permissions of its parent") from exc
        os.chmod(directory, mode)
        if uid != -1 or gid != -1:
            os.chown(directory, uid, gid)
        created.append(directory)
    return created


def write_atomic(path: str, text: str, *, uid: int = -1, gid: int = -1,
                 mode: int | None = None) -> None:
    """Replace ``path`` with ``text`` so readers see the old or the new file.

    The temporary file lives in the same directory, so the final rename never
    crosses a file system.  An existing file keeps its mode unless ``mode``
    is given; a new one gets ``mode`` or 0644.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        current = os.stat(path)
    except FileNotFoundError:
        current = None
    if mode is None:
        mode = current.st_mode & 0o7777 if current else 0o644

    try:
        handle, tmp_path = tempfile.mkstemp(
            prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise HostError(path, f"cannot be written: {exc.strerror}",
                        "Check the permissions of its directory") from exc

    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp_path, mode)
        if uid != -1 or gid != -1:
            os.chown(tmp_path, uid, gid)
        os.rename(tmp_path, path)
    except OSError as exc:
        _discard(tmp_path)
        fix = ("Free some space and run again; the old file is intact"
               if exc.errno in (errno.ENOSPC, errno.EDQUOT)
               else "Check the file system and run again; the old file is "
                    "intact")
        raise HostError(path, f"cannot be written: {exc.strerror}",
                        fix) from exc
    except BaseException:
        _discard(tmp_path)
        raise

    _sync_directory(directory)


def remove_file(path: str) -> bool:
    """Remove ``path``; return whether it existed."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise HostError(path, f"cannot be removed: {exc.strerror}",
                        "Check the permissions of its directory") from exc
    return True


def _discard(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _sync_directory(directory: str) -> None:
    # The rename is only durable once the directory entry is on disk.
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
