# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Command line of the boot-time loader that re-attaches stored filters.

The task installs this package as ``/usr/local/libexec/gaming-box/
netfilter-loader`` (a zip application built from these very files), so
the task and the loader run one copy of the code.  Commands:

``prepare NAME``
    ``ExecStartPre=+`` of ``user@UID.service``: before the user manager
    runs, create the filter's cgroup, anchor it and attach the filter.  If
    that fails the directory is left to root alone, so the manager cannot
    start anything in it: games do not start rather than start unfiltered.
``ensure [NAME...]``
    Attach every stored filter whose cgroup exists.
``watch``
    Stay running; re-attach as soon as a target cgroup appears again
    (inotify on its ancestors) or a spec changes.
``status [NAME...]``
    Print the attachment state and counters as JSON.

Only stdlib modules are imported, and only cheap ones: the loader sits in
the start path of the user manager.
"""

from __future__ import annotations

import ctypes
import json
import os
import select
import struct
import sys

from ._errors import GamingBoxError
from ._netfilter_attach import (ensure_attached, filter_lock, inspect,
                                read_counters)
from ._netfilter_cgroup import (Target, cgroup2_mount, open_cgroup,
                                prepare_target, resolve_target)
from ._netfilter_state import (SPEC_DIR, FilterSpec, check_name, list_specs,
                               read_spec)

__all__ = ["main"]

USAGE = ("usage: netfilter-loader prepare NAME | ensure [NAME...] | watch "
         "| status [NAME...]")

_IN_CLOSE_WRITE = 0x00000008
_IN_MOVED_FROM = 0x00000040
_IN_MOVED_TO = 0x00000080
_IN_CREATE = 0x00000100
_IN_DELETE = 0x00000200
_IN_DELETE_SELF = 0x00000400
_IN_ONLYDIR = 0x01000000
_IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("=iIII")

# A safety net besides inotify: look again every few minutes.
_RESCAN_SECONDS = 300


def main(argv: list) -> int:
    if not argv or argv[0] not in _COMMANDS:
        sys.stderr.write(USAGE + "\n")
        return 2
    command, names = argv[0], argv[1:]
    try:
        for name in names:
            check_name(name)
        return _COMMANDS[command](names)
    except GamingBoxError as err:
        _say(f"error: {err.message}")
        return 1


def prepare(names: list) -> int:
    if len(names) != 1:
        sys.stderr.write(USAGE + "\n")
        return 2
    spec = read_spec(names[0])
    if spec is None:
        _say(f"{names[0]}: no stored filter, nothing to prepare")
        return 0
    target = resolve_target(spec.cgroup, mount=cgroup2_mount())
    with filter_lock(spec.name):
        try:
            for change in prepare_target(target):
                _say(f"{spec.name}: {change}")
            _attach_now(spec, target)
        except GamingBoxError as err:
            _say(f"{spec.name}: error: {err.message}")
            _lock_out(target)
            return 1
    return 0


def ensure(names: list) -> int:
    failures = 0
    mount = cgroup2_mount()
    for name in names or list_specs():
        try:
            spec = read_spec(name)
            if spec is None:
                _say(f"{name}: no stored filter")
                failures += 1
                continue
            target = resolve_target(spec.cgroup, mount=mount)
            if not target.exists:
                continue
            with filter_lock(spec.name):
                _attach_now(spec, target)
        except GamingBoxError as err:
            _say(f"{name}: error: {err.message}")
            failures += 1
    return 1 if failures else 0


def status(names: list) -> int:
    mount = cgroup2_mount()
    report = {}
    for name in names or list_specs():
        spec = read_spec(name)
        if spec is None:
            report[name] = None
            continue
        target = resolve_target(spec.cgroup, mount=mount)
        fd = open_cgroup(target.path) if target.exists else None
        try:
            state = inspect(spec, cgroup_fd=fd)
        finally:
            if fd is not None:
                os.close(fd)
        state["cgroup"] = spec.cgroup
        state["counters"] = read_counters(spec)
        report[name] = state
    sys.stdout.write(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return 0


def watch(names: list) -> int:
    watcher = _Inotify()
    while True:
        paths = {SPEC_DIR}
        for name in names or list_specs():
            paths.update(_watch_paths_of(name))
        ensure(names)
        watcher.watch_only(paths)
        watcher.wait(_RESCAN_SECONDS)


def _watch_paths_of(name: str) -> set:
    try:
        spec = read_spec(name)
        if spec is None:
            return set()
        target = resolve_target(spec.cgroup, mount=cgroup2_mount())
    except GamingBoxError as err:
        _say(f"{name}: error: {err.message}")
        return set()
    # Every existing ancestor: whichever level is re-created, the event
    # comes from the level above it.
    paths = set()
    current = target.mount
    for part in target.parts:
        if os.path.isdir(current):
            paths.add(current)
        current = os.path.join(current, part)
    return paths


def _attach_now(spec: FilterSpec, target: Target) -> None:
    fd = open_cgroup(target.path)
    try:
        for change in ensure_attached(spec, cgroup_fd=fd):
            _say(f"{spec.name}: {change} on {target.path}")
    finally:
        os.close(fd)


def _lock_out(target: Target) -> None:
    # Fail closed: a root-only directory makes the user manager fail to
    # start units in it, so no game runs there without the filter.
    try:
        if not target.exists:
            os.mkdir(target.path, 0o755)
        os.chown(target.path, 0, 0)
        os.chmod(target.path, 0o755)
        _say(f"locked {target.path}: nothing can start in it until the "
             f"filter loads")
    except OSError as exc:
        _say(f"could not lock {target.path}: {exc.strerror}")


def _say(text: str) -> None:
    # One line per event, flushed: journald files it under the unit.
    sys.stdout.write(f"gaming-box netfilter {text}\n")
    sys.stdout.flush()


class _Inotify:
    """Just enough of inotify(7) through libc."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p,
                                                ctypes.c_uint32]
        self.fd = self.libc.inotify_init1(_IN_CLOEXEC)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.watches = {}

    def watch_only(self, paths: set) -> None:
        for wd, path in list(self.watches.items()):
            if path not in paths or not os.path.isdir(path):
                self.libc.inotify_rm_watch(self.fd, wd)
                del self.watches[wd]
        # No IN_MODIFY: cgroup.events changes with every scope that starts
        # or stops, and would wake the watcher for nothing.
        mask = (_IN_CREATE | _IN_DELETE | _IN_DELETE_SELF | _IN_MOVED_TO |
                _IN_MOVED_FROM | _IN_CLOSE_WRITE | _IN_ONLYDIR)
        for path in sorted(paths - set(self.watches.values())):
            wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), mask)
            if wd >= 0:
                self.watches[wd] = path

    def wait(self, timeout: float) -> None:
        ready, _w, _x = select.select([self.fd], [], [], timeout)
        if not ready:
            return
        data = os.read(self.fd, 65536)
        offset = 0
        while offset < len(data):
            wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
            offset += _EVENT.size + length
            if _mask & 0x8000:  # IN_IGNORED: the watched directory is gone
                self.watches.pop(wd, None)


_COMMANDS = {"prepare": prepare, "ensure": ensure, "watch": watch,
             "status": status}
