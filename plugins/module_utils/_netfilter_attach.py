# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Put a stored filter into the kernel, find it there, take it out again.

Shared by the task and the boot-time loader, so both recognise the same
objects: programs and maps of a generation are pinned under
``PIN_ROOT/NAME/GENERATION/`` and identified by the ids the kernel gives
them; a program counts as attached when its id is in the cgroup's
BPF_PROG_QUERY answer for its hook.  Programs are attached with
BPF_F_ALLOW_MULTI, so other programs on the cgroup are left alone and a new
generation can run beside the old one until the old one is detached.

Imported by the boot-time loader: stdlib only, no dataclasses.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import struct

from . import _bpf_sys as bpf
from ._bpf_insns import apply_relocations
from ._errors import HostError
from ._netfilter_state import COUNTERS_PIN, PIN_ROOT, FilterSpec

__all__ = [
    "LOCK_DIR",
    "attached_ids",
    "ensure_attached",
    "filter_lock",
    "inspect",
    "read_counters",
    "remove_filter",
]

LOCK_DIR = "/run/gaming-box/netfilter"


@contextlib.contextmanager
def filter_lock(name: str, *, lock_dir: str = LOCK_DIR):
    """Serialise the task, ``prepare`` and the watcher on one filter."""
    os.makedirs(lock_dir, mode=0o755, exist_ok=True)
    fd = os.open(os.path.join(lock_dir, f"{name}.lock"),
                 os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def attached_ids(cgroup_fd: int, attach_type: int) -> list:
    _flags, ids = bpf.prog_query(cgroup_fd=cgroup_fd, attach_type=attach_type)
    return ids


def inspect(spec: FilterSpec, *, cgroup_fd: int | None) -> dict:
    """What of ``spec`` is pinned and attached right now.

    ``attached`` is true only when every hook of the spec's generation is
    attached to the cgroup.
    """
    pinned = _open_generation(spec)
    programs = []
    try:
        for program in spec.attached_programs():
            entry = pinned.get(program.hook)
            prog_id = bpf.prog_info(entry).id if entry is not None else None
            attached = bool(
                prog_id is not None and cgroup_fd is not None and
                prog_id in attached_ids(cgroup_fd, program.attach_type))
            programs.append({"hook": program.hook, "id": prog_id,
                             "attached": attached})
    finally:
        _close_all(pinned)
    return {
        "generation": spec.generation,
        "attached": bool(programs) and all(item["attached"]
                                           for item in programs),
        "programs": programs,
        "stale_generations": _stale_generations(spec),
    }


def ensure_attached(spec: FilterSpec, *, cgroup_fd: int) -> list:
    """Attach the spec's generation, then detach and unpin older ones.

    Loads from the pins when they are complete, else from the spec (after a
    reboot the bpffs is empty).  Returns the changes made, as text.
    """
    changes = []
    programs = _open_generation(spec)
    try:
        if len(programs) != len(spec.attached_programs()):
            _close_all(programs)
            programs = _load_generation(spec)
            changes.append(f"loaded generation {spec.generation}")

        for program in spec.attached_programs():
            fd = programs[program.hook]
            attached = attached_ids(cgroup_fd, program.attach_type)
            if bpf.prog_info(fd).id in attached:
                continue
            _attach(spec, program, fd=fd, cgroup_fd=cgroup_fd)
            changes.append(f"attached {program.hook}")
    finally:
        _close_all(programs)

    # Only now that the new programs run may the old ones go.
    for generation in _stale_generations(spec):
        changes.extend(_retire_generation(spec, generation,
                                          cgroup_fd=cgroup_fd))
    return changes


def remove_filter(*, name: str, cgroup_fd: int | None, attach_types: dict,
                  unpin: bool = True) -> list:
    """Detach every program pinned for ``name``; unpin all of it if asked.

    ``attach_types`` maps a hook name to its attach type.  Programs of
    other owners on the same cgroup are never touched.  ``unpin=False``
    serves a filter that moves to another cgroup: the old one is cleared
    and the pins are reused or retired by ``ensure_attached``.
    """
    changes = []
    pin_dir = os.path.join(PIN_ROOT, name)
    for generation in _generation_dirs(pin_dir):
        changes.extend(_detach_pinned(os.path.join(pin_dir, generation),
                                      cgroup_fd=cgroup_fd,
                                      attach_types=attach_types))
    if unpin and os.path.isdir(pin_dir):
        _unpin_tree(pin_dir)
        changes.append(f"unpinned {pin_dir}")
    return changes


def read_counters(spec: FilterSpec) -> dict:
    """Sum the per-CPU counters; all zero when nothing is pinned."""
    counters = {name: 0 for name in spec.counter_names}
    try:
        fd = bpf.obj_get(spec.counters_pin)
    except bpf.BpfSyscallError as exc:
        if exc.errno == errno.ENOENT:
            return counters
        raise
    try:
        cpus = possible_cpus()
        for index, name in enumerate(spec.counter_names):
            raw = bpf.map_lookup(fd, struct.pack("=I", index), 8 * cpus)
            if raw is not None:
                counters[name] = sum(struct.unpack(f"={cpus}Q", raw))
    finally:
        os.close(fd)
    return counters


def possible_cpus(*, path: str = "/sys/devices/system/cpu/possible") -> int:
    """How many values a per-CPU map returns: one per possible CPU."""
    with open(path, encoding="ascii") as handle:
        text = handle.read().strip()
    highest = 0
    for span in text.split(","):
        highest = max(highest, int(span.rpartition("-")[2]))
    return highest + 1


def _attach(spec: FilterSpec, program, *, fd: int, cgroup_fd: int) -> None:
    try:
        bpf.prog_attach(cgroup_fd=cgroup_fd, prog_fd=fd,
                        attach_type=program.attach_type,
                        flags=bpf.F_ALLOW_MULTI)
    except bpf.BpfSyscallError as exc:
        if exc.errno != errno.EPERM or os.geteuid() != 0:
            raise
        raise HostError(
            f"cgroup {spec.cgroup}",
            f"refused the {program.hook} program: another program is "
            f"attached to it (or an ancestor) without BPF_F_ALLOW_MULTI",
            "Find it with 'bpftool cgroup tree' and detach it, or attach it "
            "with the multi flag") from exc


def _open_generation(spec: FilterSpec) -> dict:
    """fds of the generation's pinned programs, by hook; partial if so."""
    opened = {}
    for program in spec.attached_programs():
        path = os.path.join(spec.generation_dir, program.hook)
        try:
            opened[program.hook] = bpf.obj_get(path)
        except bpf.BpfSyscallError as exc:
            if exc.errno != errno.ENOENT:
                _close_all(opened)
                raise
    return opened


def _load_generation(spec: FilterSpec) -> dict:
    # Leftovers of an interrupted load are thrown away and redone.
    if os.path.isdir(spec.generation_dir):
        _unpin_tree(spec.generation_dir)
    _make_pin_dirs(spec.generation_dir)

    map_fds = {}
    programs = {}
    try:
        for shape in spec.maps:
            map_fds[shape.name] = _map_for(spec, shape)
        for program in spec.attached_programs():
            insns = apply_relocations(program.insns, program.relocations,
                                      map_fds, program=program.function)
            fd = bpf.prog_load(prog_type=program.prog_type, insns=insns,
                               license=spec.license, name=program.function,
                               expected_attach_type=program.attach_type)
            programs[program.hook] = fd
            bpf.obj_pin(fd, os.path.join(spec.generation_dir, program.hook))
    except BaseException:
        _close_all(programs)
        raise
    finally:
        _close_all(map_fds)
    return programs


def _map_for(spec: FilterSpec, shape) -> int:
    if shape.per_filter:
        path = os.path.join(spec.pin_dir, shape.name)
        fd = _reuse_map(path, shape)
        if fd is not None:
            return fd
    else:
        path = os.path.join(spec.generation_dir, shape.name)

    fd = bpf.map_create(map_type=shape.map_type, key_size=shape.key_size,
                        value_size=shape.value_size,
                        max_entries=shape.max_entries, flags=shape.flags,
                        name=f"gbox_{shape.name}")
    try:
        for key, value in shape.entries:
            bpf.map_update(fd, key, value)
        bpf.obj_pin(fd, path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _reuse_map(path: str, shape) -> int | None:
    # The counters survive an allow-list change; a map of another shape
    # (an older program) is replaced instead.
    try:
        fd = bpf.obj_get(path)
    except bpf.BpfSyscallError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise
    info = bpf.map_info(fd)
    if (info.map_type, info.key_size, info.value_size, info.max_entries) == \
            (shape.map_type, shape.key_size, shape.value_size,
             shape.max_entries):
        return fd
    os.close(fd)
    os.unlink(path)
    return None


def _retire_generation(spec: FilterSpec, generation: str, *,
                       cgroup_fd: int) -> list:
    attach_types = {program.hook: program.attach_type
                    for program in spec.programs}
    path = os.path.join(spec.pin_dir, generation)
    changes = _detach_pinned(path, cgroup_fd=cgroup_fd,
                             attach_types=attach_types)
    _unpin_tree(path)
    changes.append(f"unpinned generation {generation}")
    return changes


def _detach_pinned(generation_dir: str, *, cgroup_fd: int | None,
                   attach_types: dict) -> list:
    changes = []
    if cgroup_fd is None:
        return changes
    for hook, attach_type in sorted(attach_types.items()):
        try:
            fd = bpf.obj_get(os.path.join(generation_dir, hook))
        except bpf.BpfSyscallError as exc:
            if exc.errno == errno.ENOENT:
                continue
            raise
        try:
            if bpf.prog_info(fd).id in attached_ids(cgroup_fd, attach_type):
                bpf.prog_detach(cgroup_fd=cgroup_fd, prog_fd=fd,
                                attach_type=attach_type)
                changes.append(
                    f"detached {hook} of {os.path.basename(generation_dir)}")
        finally:
            os.close(fd)
    return changes


def _stale_generations(spec: FilterSpec) -> list:
    return [generation for generation in _generation_dirs(spec.pin_dir)
            if generation != spec.generation]


def _generation_dirs(pin_dir: str) -> list:
    try:
        entries = os.listdir(pin_dir)
    except FileNotFoundError:
        return []
    return sorted(entry for entry in entries if entry != COUNTERS_PIN and
                  os.path.isdir(os.path.join(pin_dir, entry)))


def _make_pin_dirs(path: str) -> None:
    if not os.path.isdir(os.path.dirname(PIN_ROOT)):
        raise HostError(os.path.dirname(PIN_ROOT), "does not exist",
                        "Mount the BPF file system: mount -t bpf bpf "
                        "/sys/fs/bpf (systemd does this at boot)")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as exc:
        raise HostError(path, f"cannot be created: {exc.strerror}",
                        "Check that a BPF file system is mounted on "
                        "/sys/fs/bpf") from exc


def _unpin_tree(path: str) -> None:
    for root, dirs, files in os.walk(path, topdown=False):
        for entry in files:
            os.unlink(os.path.join(root, entry))
        for entry in dirs:
            os.rmdir(os.path.join(root, entry))
    os.rmdir(path)


def _close_all(fds: dict) -> None:
    for fd in fds.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()
