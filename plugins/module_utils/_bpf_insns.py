# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Map references inside eBPF bytecode: find them, blank them, patch them.

A program refers to a map with a 16-byte ``ld_imm64`` instruction whose
source register is BPF_PSEUDO_MAP_FD and whose immediate is a file
descriptor of the loading process.  bcc leaves its own descriptors there.
To store bytecode and load it later in another process, the compiler side
records (instruction index, map name) and zeroes the immediate; the loader
writes its own descriptors back before BPF_PROG_LOAD.
"""

from __future__ import annotations

import struct
import sys

from ._errors import HostError

__all__ = ["INSN_SIZE", "apply_relocations", "extract_relocations"]

INSN_SIZE = 8
_LD_IMM64 = 0x18  # BPF_LD | BPF_IMM | BPF_DW
_PSEUDO_MAP_FD = 1
# code, registers, offset, immediate
_INSN = struct.Struct("=BBhi")


def _source_register(registers: int) -> int:
    # The two 4-bit register fields follow the byte order of the host.
    if sys.byteorder == "little":
        return registers >> 4
    return registers & 0x0F


def extract_relocations(insns: bytes, map_names_by_fd: dict[int, str],
                        *, program: str) -> tuple[bytes, list]:
    """Return the bytecode with map fds zeroed and its relocation list.

    The list holds ``[instruction index, map name]`` pairs.  Raises
    HostError on bytecode this loader cannot relocate (a map value
    reference, an unknown descriptor, a truncated instruction).
    """
    if len(insns) % INSN_SIZE:
        raise HostError(f"BPF program {program}",
                        f"has {len(insns)} bytes, not whole instructions",
                        "Report this as a bug in gaming-box")

    out = bytearray(insns)
    relocations = []
    index = 0
    count = len(insns) // INSN_SIZE
    while index < count:
        code, registers, offset, immediate = _INSN.unpack_from(
            insns, index * INSN_SIZE)
        if code != _LD_IMM64:
            index += 1
            continue
        if index + 1 >= count:
            raise HostError(f"BPF program {program}",
                            "ends inside a 16-byte load instruction",
                            "Report this as a bug in gaming-box")
        source = _source_register(registers)
        if source == _PSEUDO_MAP_FD:
            name = map_names_by_fd.get(immediate)
            if name is None:
                raise HostError(
                    f"BPF program {program}",
                    f"instruction {index} refers to map fd {immediate}, "
                    f"which is none of the program's maps",
                    "Report this as a bug in gaming-box")
            _INSN.pack_into(out, index * INSN_SIZE, code, registers, offset,
                            0)
            relocations.append([index, name])
        elif source != 0:
            raise HostError(
                f"BPF program {program}",
                f"instruction {index} is a 64-bit load of kind {source} "
                f"(only map descriptors can be relocated)",
                "Keep global variables and map values out of the C program")
        index += 2
    return bytes(out), relocations


def apply_relocations(insns: bytes, relocations: list,
                      map_fds: dict[str, int], *, program: str) -> bytes:
    """Write this process's map fds into the blanked instructions."""
    out = bytearray(insns)
    count = len(insns) // INSN_SIZE
    for index, name in relocations:
        if not 0 <= index < count - 1 or name not in map_fds:
            raise HostError(
                f"BPF program {program}",
                f"has a relocation ({index}, {name}) that does not fit it",
                "Run the cgroup_bpf_netfilter task again to rebuild the "
                "stored program")
        code, registers, offset, _old = _INSN.unpack_from(
            out, index * INSN_SIZE)
        if code != _LD_IMM64 or _source_register(registers) != \
                _PSEUDO_MAP_FD:
            raise HostError(
                f"BPF program {program}",
                f"instruction {index} is not a map reference",
                "Run the cgroup_bpf_netfilter task again to rebuild the "
                "stored program")
        _INSN.pack_into(out, index * INSN_SIZE, code, registers, offset,
                        map_fds[name])
    return bytes(out)
