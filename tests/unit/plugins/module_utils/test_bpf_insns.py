"""Relocation of map references in stored eBPF bytecode."""

from __future__ import annotations

import struct
import sys

import pytest

from ansible_collections.gamingbox.sandbox.plugins.module_utils import (
    _bpf_insns,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    HostError,
)


def insn(code, dst=0, src=0, off=0, imm=0):
    registers = (src << 4 | dst) if sys.byteorder == "little" \
        else (dst << 4 | src)
    return struct.pack("=BBhi", code, registers, off, imm)


def ld_map(dst, fd):
    return insn(0x18, dst=dst, src=1, imm=fd) + insn(0, imm=0)


MOV = insn(0xB7, dst=0, imm=1)     # r0 = 1
EXIT = insn(0x95)
LD_CONST = insn(0x18, dst=2, imm=7) + insn(0, imm=0)  # 64-bit constant


def program(*parts):
    return b"".join(parts)


def imm_at(code: bytes, index: int) -> int:
    return struct.unpack_from("=BBhi", code, index * 8)[3]


def test_extract_blanks_fds_and_names_their_maps():
    raw = program(MOV, ld_map(1, 5), LD_CONST, ld_map(1, 9), EXIT)
    blanked, relocations = _bpf_insns.extract_relocations(
        raw, {5: "allow_v4", 9: "counters"}, program="p")
    assert relocations == [[1, "allow_v4"], [5, "counters"]]
    assert imm_at(blanked, 1) == 0 and imm_at(blanked, 5) == 0
    assert imm_at(blanked, 3) == 7  # a plain constant is left alone
    assert len(blanked) == len(raw)


def test_apply_writes_new_fds_and_round_trips():
    raw = program(MOV, ld_map(1, 5), ld_map(2, 9), EXIT)
    blanked, relocations = _bpf_insns.extract_relocations(
        raw, {5: "allow_v4", 9: "counters"}, program="p")
    patched = _bpf_insns.apply_relocations(
        blanked, relocations, {"allow_v4": 5, "counters": 9}, program="p")
    assert patched == raw
    moved = _bpf_insns.apply_relocations(
        blanked, relocations, {"allow_v4": 40, "counters": 41}, program="p")
    assert (imm_at(moved, 1), imm_at(moved, 3)) == (40, 41)


def test_unknown_fd_is_refused():
    with pytest.raises(HostError, match="none of the program's maps"):
        _bpf_insns.extract_relocations(program(ld_map(1, 12), EXIT),
                                       {5: "allow_v4"}, program="p")


def test_map_value_reference_is_refused():
    value_ref = insn(0x18, dst=1, src=2, imm=5) + insn(0)
    with pytest.raises(HostError, match="only map descriptors"):
        _bpf_insns.extract_relocations(program(value_ref, EXIT), {5: "m"},
                                       program="p")


def test_truncated_bytecode_is_refused():
    with pytest.raises(HostError, match="not whole instructions"):
        _bpf_insns.extract_relocations(MOV[:5], {}, program="p")
    with pytest.raises(HostError, match="ends inside"):
        _bpf_insns.extract_relocations(insn(0x18, src=1, imm=5), {5: "m"},
                                       program="p")


def test_relocation_that_points_elsewhere_is_refused():
    with pytest.raises(HostError, match="not a map reference"):
        _bpf_insns.apply_relocations(program(MOV, EXIT), [[0, "m"]],
                                     {"m": 3}, program="p")
    with pytest.raises(HostError, match="does not fit"):
        _bpf_insns.apply_relocations(program(MOV, EXIT), [[9, "m"]],
                                     {"m": 3}, program="p")
