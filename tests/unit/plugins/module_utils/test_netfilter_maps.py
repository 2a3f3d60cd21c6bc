"""Map key and value encoding of the cgroup network filter."""

from __future__ import annotations

import re
import struct

import pytest

from ansible_collections.gamingbox.sandbox.plugins.module_utils import (
    _bpf_program,
    _netfilter_maps as maps,
    _netpolicy,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    InvalidInput,
)

TCP, UDP, OTHER = maps.PROTO_TCP, maps.PROTO_UDP, maps.PROTO_OTHER


def encode(*entries):
    return maps.encode_allow_list(_netpolicy.parse_allow_list(list(entries)))


def decoded(pairs):
    return {(struct.unpack_from("=I", key)[0], key[4:]):
            maps.decode_rule_set(value) for key, value in pairs}


def test_default_list_encodes_loopback_in_both_tries():
    entries = encode({"cidr": "127.0.0.0/8"}, {"cidr": "::1/128"})
    assert decoded(entries["allow_v4"]) == {
        (8, bytes([127, 0, 0, 0])): [(0, 65535, TCP | UDP | OTHER)]}
    assert decoded(entries["allow_v6"]) == {
        (128, bytes(15) + b"\x01"): [(0, 65535, TCP | UDP | OTHER)]}


def test_key_and_value_sizes_match_the_map_shapes():
    entries = encode({"cidr": "10.0.0.0/8"}, {"cidr": "fd00::/8"})
    shapes = {shape.name: shape for shape in maps.MAP_SHAPES}
    for name in ("allow_v4", "allow_v6"):
        for key, value in entries[name]:
            assert len(key) == shapes[name].key_size
            assert len(value) == shapes[name].value_size


def test_narrow_network_inherits_the_rules_of_wider_ones():
    entries = encode(
        {"cidr": "10.0.0.0/8", "ports": [443], "protocols": ["tcp"]},
        {"cidr": "10.1.0.0/16", "ports": [7000], "protocols": ["udp"]},
        {"cidr": "192.0.2.0/24"})
    rules = decoded(entries["allow_v4"])
    assert rules[(8, bytes([10, 0, 0, 0]))] == [(443, 443, TCP)]
    assert rules[(16, bytes([10, 1, 0, 0]))] == [(443, 443, TCP),
                                                 (7000, 7000, UDP)]
    assert rules[(24, bytes([192, 0, 2, 0]))] == [
        (0, 65535, TCP | UDP | OTHER)]


def test_same_range_for_two_entries_merges_protocol_bits():
    entries = encode(
        {"cidr": "10.0.0.0/8", "ports": [53], "protocols": ["udp"]},
        {"cidr": "10.0.0.0/8", "ports": [53], "protocols": ["tcp"]})
    assert decoded(entries["allow_v4"]) == {
        (8, bytes([10, 0, 0, 0])): [(53, 53, TCP | UDP)]}


def test_rule_set_is_padded_to_the_fixed_size():
    value = maps.encode_rule_set([(1, 2, TCP)])
    assert len(value) == maps.RULE_SET_SIZE == 8 + 16 * 8
    assert struct.unpack_from("=II", value) == (1, 0)
    assert value[16:] == bytes(len(value) - 16)


def test_too_many_port_rules_for_one_network_is_refused():
    ports = [str(port) for port in range(1000, 1017)]
    with pytest.raises(InvalidInput) as caught:
        encode({"cidr": "10.0.0.0/8", "ports": ports})
    assert "10.0.0.0/8" in caught.value.obj
    assert "more than the 16" in caught.value.cause


def test_too_many_networks_is_refused():
    networks = [{"cidr": f"10.{n // 256}.{n % 256}.0/24"} for n in range(1025)]
    with pytest.raises(InvalidInput) as caught:
        encode(*networks)
    assert "1025 IPv4 networks" in caught.value.cause


def _c_defines() -> dict:
    return {name: int(value) for name, value in re.findall(
        r"^#define (\w+) (\d+)$", _bpf_program.PROGRAM_SOURCE, re.M)}


def test_c_program_constants_match_the_encoder():
    defines = _c_defines()
    assert defines["MAX_RULES"] == maps.MAX_RULES
    assert defines["MAX_PREFIXES"] == maps.MAX_PREFIXES
    assert (defines["PROTO_TCP"], defines["PROTO_UDP"],
            defines["PROTO_OTHER"]) == (TCP, UDP, OTHER)
    assert defines["COUNTERS"] == len(maps.COUNTER_NAMES)
    for index, name in enumerate(maps.COUNTER_NAMES):
        assert defines[f"COUNT_{name.upper()}"] == index


def test_c_program_declares_every_map_and_hook():
    source = _bpf_program.PROGRAM_SOURCE
    for shape in maps.MAP_SHAPES:
        assert re.search(rf"BPF_\w+\({shape.name},", source), shape.name
    for hook in _bpf_program.HOOKS:
        assert f"int {hook.function}(" in source
