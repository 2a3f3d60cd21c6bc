# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bpf() system call through ctypes, with nothing outside the stdlib.

Only the commands a cgroup filter needs: create and fill maps, load a
program, pin and open pinned objects, attach, detach and query programs of a
cgroup, and read the info of a program or map.  The layouts follow
``union bpf_attr`` of the kernel's UAPI header; every command passes the
size of its own structure, and the kernel treats the missing tail as zero.

The boot-time loader imports this file, so it stays cheap to import: no
dataclasses, no typing, no re.
"""

from __future__ import annotations

import collections
import ctypes
import os
import platform

from ._errors import HostError

__all__ = [
    "BpfSyscallError",
    "MapInfo",
    "ProgInfo",
    "map_create",
    "map_info",
    "map_lookup",
    "map_update",
    "obj_get",
    "obj_pin",
    "prog_attach",
    "prog_detach",
    "prog_info",
    "prog_load",
    "prog_query",
]

# enum bpf_cmd
_MAP_CREATE = 0
_MAP_LOOKUP_ELEM = 1
_MAP_UPDATE_ELEM = 2
_PROG_LOAD = 5
_OBJ_PIN = 6
_OBJ_GET = 7
_PROG_ATTACH = 8
_PROG_DETACH = 9
_OBJ_GET_INFO_BY_FD = 15
_PROG_QUERY = 16

_COMMAND_NAMES = {
    _MAP_CREATE: "BPF_MAP_CREATE", _MAP_LOOKUP_ELEM: "BPF_MAP_LOOKUP_ELEM",
    _MAP_UPDATE_ELEM: "BPF_MAP_UPDATE_ELEM", _PROG_LOAD: "BPF_PROG_LOAD",
    _OBJ_PIN: "BPF_OBJ_PIN", _OBJ_GET: "BPF_OBJ_GET",
    _PROG_ATTACH: "BPF_PROG_ATTACH", _PROG_DETACH: "BPF_PROG_DETACH",
    _OBJ_GET_INFO_BY_FD: "BPF_OBJ_GET_INFO_BY_FD",
    _PROG_QUERY: "BPF_PROG_QUERY",
}

# enum bpf_map_type
MAP_TYPE_PERCPU_ARRAY = 6
MAP_TYPE_LPM_TRIE = 11

# enum bpf_prog_type
PROG_TYPE_CGROUP_SKB = 8
PROG_TYPE_CGROUP_SOCK_ADDR = 18

# enum bpf_attach_type
CGROUP_INET_INGRESS = 0
CGROUP_INET_EGRESS = 1
CGROUP_INET4_CONNECT = 10
CGROUP_INET6_CONNECT = 11
CGROUP_UDP4_SENDMSG = 14
CGROUP_UDP6_SENDMSG = 15

F_NO_PREALLOC = 1
F_ALLOW_OVERRIDE = 1
F_ALLOW_MULTI = 2

OBJ_NAME_LEN = 16

# System call numbers of bpf() per architecture (asm/unistd.h); 280 is the
# number of the generic table that newer architectures share.
_SYSCALL_NUMBERS = {
    "x86_64": 321, "i386": 357, "i686": 357, "aarch64": 280,
    "armv7l": 386, "armv6l": 386, "ppc64le": 361, "ppc64": 361,
    "s390x": 351, "riscv64": 280, "loongarch64": 280,
}


class BpfSyscallError(HostError):
    """A bpf() command failed; ``errno`` says how."""

    def __init__(self, command: int, err: int, *, subject: str = "",
                 detail: str = "") -> None:
        self.errno = err
        self.command = _COMMAND_NAMES.get(command, f"bpf command {command}")
        cause = f"{self.command} failed: {os.strerror(err)}"
        if detail:
            cause = f"{cause}; {detail}"
        super().__init__(subject or "bpf()", cause, _fix_for(err))


def _fix_for(err: int) -> str:
    if err == 1:  # EPERM
        return ("Run as root (become: true); a kernel locked down or with "
                "unprivileged BPF disabled still allows root")
    if err == 38:  # ENOSYS
        return "Use a kernel built with CONFIG_BPF_SYSCALL"
    if err == 22:  # EINVAL
        return ("Use a kernel with cgroup BPF (CONFIG_CGROUP_BPF, Linux 4.17 "
                "or newer)")
    return "See the kernel log (journalctl -k) for details"


class _MapCreateAttr(ctypes.Structure):
    _fields_ = [("map_type", ctypes.c_uint32), ("key_size", ctypes.c_uint32),
                ("value_size", ctypes.c_uint32),
                ("max_entries", ctypes.c_uint32),
                ("map_flags", ctypes.c_uint32),
                ("inner_map_fd", ctypes.c_uint32),
                ("numa_node", ctypes.c_uint32),
                ("map_name", ctypes.c_char * OBJ_NAME_LEN)]


class _MapElemAttr(ctypes.Structure):
    _fields_ = [("map_fd", ctypes.c_uint32), ("_pad", ctypes.c_uint32),
                ("key", ctypes.c_uint64), ("value", ctypes.c_uint64),
                ("flags", ctypes.c_uint64)]


class _ProgLoadAttr(ctypes.Structure):
    _fields_ = [("prog_type", ctypes.c_uint32),
                ("insn_cnt", ctypes.c_uint32),
                ("insns", ctypes.c_uint64), ("license", ctypes.c_uint64),
                ("log_level", ctypes.c_uint32),
                ("log_size", ctypes.c_uint32),
                ("log_buf", ctypes.c_uint64),
                ("kern_version", ctypes.c_uint32),
                ("prog_flags", ctypes.c_uint32),
                ("prog_name", ctypes.c_char * OBJ_NAME_LEN),
                ("prog_ifindex", ctypes.c_uint32),
                ("expected_attach_type", ctypes.c_uint32)]


class _ObjAttr(ctypes.Structure):
    _fields_ = [("pathname", ctypes.c_uint64), ("bpf_fd", ctypes.c_uint32),
                ("file_flags", ctypes.c_uint32)]


class _AttachAttr(ctypes.Structure):
    _fields_ = [("target_fd", ctypes.c_uint32),
                ("attach_bpf_fd", ctypes.c_uint32),
                ("attach_type", ctypes.c_uint32),
                ("attach_flags", ctypes.c_uint32)]


class _InfoAttr(ctypes.Structure):
    _fields_ = [("bpf_fd", ctypes.c_uint32), ("info_len", ctypes.c_uint32),
                ("info", ctypes.c_uint64)]


class _QueryAttr(ctypes.Structure):
    _fields_ = [("target_fd", ctypes.c_uint32),
                ("attach_type", ctypes.c_uint32),
                ("query_flags", ctypes.c_uint32),
                ("attach_flags", ctypes.c_uint32),
                ("prog_ids", ctypes.c_uint64), ("prog_cnt", ctypes.c_uint32)]


class _ProgInfoStruct(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("id", ctypes.c_uint32),
                ("tag", ctypes.c_uint8 * 8),
                ("jited_prog_len", ctypes.c_uint32),
                ("xlated_prog_len", ctypes.c_uint32),
                ("jited_prog_insns", ctypes.c_uint64),
                ("xlated_prog_insns", ctypes.c_uint64),
                ("load_time", ctypes.c_uint64),
                ("created_by_uid", ctypes.c_uint32),
                ("nr_map_ids", ctypes.c_uint32),
                ("map_ids", ctypes.c_uint64),
                ("name", ctypes.c_char * OBJ_NAME_LEN)]


class _MapInfoStruct(ctypes.Structure):
    _fields_ = [("type", ctypes.c_uint32), ("id", ctypes.c_uint32),
                ("key_size", ctypes.c_uint32),
                ("value_size", ctypes.c_uint32),
                ("max_entries", ctypes.c_uint32),
                ("map_flags", ctypes.c_uint32),
                ("name", ctypes.c_char * OBJ_NAME_LEN)]


# What the kernel says about a loaded program and about a map.
ProgInfo = collections.namedtuple("ProgInfo",
                                  "id prog_type tag name map_ids")
MapInfo = collections.namedtuple(
    "MapInfo", "id map_type key_size value_size max_entries flags name")


_syscall = None


def _bpf(command: int, attr: ctypes.Structure, *, subject: str = "",
         detail_on_error=None) -> int:
    global _syscall
    if _syscall is None:
        _syscall = _load_syscall()
    number, function = _syscall
    result = function(number, command, ctypes.byref(attr),
                      ctypes.sizeof(attr))
    if result < 0:
        err = ctypes.get_errno()
        detail = detail_on_error() if detail_on_error else ""
        raise BpfSyscallError(command, err, subject=subject, detail=detail)
    return result


def _load_syscall():
    machine = platform.machine()
    number = _SYSCALL_NUMBERS.get(machine)
    if number is None:
        raise HostError(f"architecture {machine}",
                        "has no known bpf() system call number",
                        "Run on x86_64, aarch64, ppc64le, s390x or riscv64")
    libc = ctypes.CDLL(None, use_errno=True)
    function = libc.syscall
    function.restype = ctypes.c_long
    function.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_void_p,
                         ctypes.c_uint]
    return number, function


def _address(buffer) -> int:
    return ctypes.addressof(buffer) if buffer is not None else 0


def _name(text: str) -> bytes:
    return text.encode("ascii")[:OBJ_NAME_LEN - 1]


def map_create(*, map_type: int, key_size: int, value_size: int,
               max_entries: int, flags: int = 0, name: str = "") -> int:
    """Create a map and return its file descriptor."""
    attr = _MapCreateAttr(map_type=map_type, key_size=key_size,
                          value_size=value_size, max_entries=max_entries,
                          map_flags=flags, map_name=_name(name))
    return _bpf(_MAP_CREATE, attr, subject=f"BPF map {name}")


def map_update(fd: int, key: bytes, value: bytes, *, flags: int = 0) -> None:
    key_buffer = ctypes.create_string_buffer(key, len(key))
    value_buffer = ctypes.create_string_buffer(value, len(value))
    attr = _MapElemAttr(map_fd=fd, key=_address(key_buffer),
                        value=_address(value_buffer), flags=flags)
    _bpf(_MAP_UPDATE_ELEM, attr, subject="BPF map element")


def map_lookup(fd: int, key: bytes, value_size: int) -> bytes | None:
    """Return the value stored under ``key``, or None when there is none."""
    key_buffer = ctypes.create_string_buffer(key, len(key))
    value_buffer = ctypes.create_string_buffer(value_size)
    attr = _MapElemAttr(map_fd=fd, key=_address(key_buffer),
                        value=_address(value_buffer))
    try:
        _bpf(_MAP_LOOKUP_ELEM, attr, subject="BPF map element")
    except BpfSyscallError as exc:
        if exc.errno == 2:  # ENOENT
            return None
        raise
    return value_buffer.raw


def prog_load(*, prog_type: int, insns: bytes, license: str, name: str,
              expected_attach_type: int = 0) -> int:
    """Load a program and return its file descriptor.

    When the verifier refuses it, the load is repeated with a log so the
    error carries the verifier's last words.
    """
    insn_buffer = ctypes.create_string_buffer(insns, len(insns))
    license_buffer = ctypes.create_string_buffer(license.encode("ascii"))

    def attr(log_buffer=None) -> _ProgLoadAttr:
        return _ProgLoadAttr(
            prog_type=prog_type, insn_cnt=len(insns) // 8,
            insns=_address(insn_buffer), license=_address(license_buffer),
            log_level=1 if log_buffer is not None else 0,
            log_size=len(log_buffer) if log_buffer is not None else 0,
            log_buf=_address(log_buffer), prog_name=_name(name),
            expected_attach_type=expected_attach_type)

    def verifier_log() -> str:
        log_buffer = ctypes.create_string_buffer(1 << 20)
        try:
            _bpf(_PROG_LOAD, attr(log_buffer))
        except BpfSyscallError:
            pass
        text = log_buffer.value.decode("utf-8", "replace").strip()
        return "verifier: " + " | ".join(text.splitlines()[-6:]) if text \
            else ""

    return _bpf(_PROG_LOAD, attr(), subject=f"BPF program {name}",
                detail_on_error=verifier_log)


def obj_pin(fd: int, path: str) -> None:
    path_buffer = ctypes.create_string_buffer(os.fsencode(path))
    _bpf(_OBJ_PIN, _ObjAttr(pathname=_address(path_buffer), bpf_fd=fd),
         subject=path)


def obj_get(path: str) -> int:
    """Open a pinned object; raises BpfSyscallError (ENOENT) when absent."""
    path_buffer = ctypes.create_string_buffer(os.fsencode(path))
    return _bpf(_OBJ_GET, _ObjAttr(pathname=_address(path_buffer)),
                subject=path)


def prog_attach(*, cgroup_fd: int, prog_fd: int, attach_type: int,
                flags: int = F_ALLOW_MULTI) -> None:
    _bpf(_PROG_ATTACH, _AttachAttr(target_fd=cgroup_fd,
                                   attach_bpf_fd=prog_fd,
                                   attach_type=attach_type,
                                   attach_flags=flags),
         subject="cgroup program attachment")


def prog_detach(*, cgroup_fd: int, prog_fd: int, attach_type: int) -> None:
    _bpf(_PROG_DETACH, _AttachAttr(target_fd=cgroup_fd,
                                   attach_bpf_fd=prog_fd,
                                   attach_type=attach_type),
         subject="cgroup program attachment")


def prog_query(*, cgroup_fd: int, attach_type: int) -> tuple[int, list]:
    """Return (attach flags, program ids) attached directly to a cgroup."""
    capacity = 64
    while True:
        ids = (ctypes.c_uint32 * capacity)()
        attr = _QueryAttr(target_fd=cgroup_fd, attach_type=attach_type,
                          prog_ids=_address(ids), prog_cnt=capacity)
        try:
            _bpf(_PROG_QUERY, attr, subject="cgroup program query")
        except BpfSyscallError as exc:
            if exc.errno == 28 and capacity < 65536:  # ENOSPC
                capacity *= 16
                continue
            raise
        return attr.attach_flags, list(ids[:attr.prog_cnt])


def prog_info(fd: int) -> ProgInfo:
    map_ids = (ctypes.c_uint32 * 16)()
    info = _ProgInfoStruct(nr_map_ids=16, map_ids=_address(map_ids))
    _bpf(_OBJ_GET_INFO_BY_FD,
         _InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info),
                   info=_address(info)), subject="BPF program info")
    return ProgInfo(id=info.id, prog_type=info.type,
                    tag=bytes(info.tag).hex(),
                    name=info.name.decode("ascii", "replace"),
                    map_ids=tuple(map_ids[:min(info.nr_map_ids, 16)]))


def map_info(fd: int) -> MapInfo:
    info = _MapInfoStruct()
    _bpf(_OBJ_GET_INFO_BY_FD,
         _InfoAttr(bpf_fd=fd, info_len=ctypes.sizeof(info),
                   info=_address(info)), subject="BPF map info")
    return MapInfo(id=info.id, map_type=info.type, key_size=info.key_size,
                   value_size=info.value_size, max_entries=info.max_entries,
                   flags=info.map_flags,
                   name=info.name.decode("ascii", "replace"))
