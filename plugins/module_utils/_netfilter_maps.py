# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Binary layout of the filter's maps, shared by the C program and Python.

The BPF program looks a peer address up in a longest-prefix-match trie per
address family.  The value of a prefix is the set of (protocol, port range)
rules that apply to it.  A trie returns only the most specific prefix, so a
prefix's value also carries the rules of every wider prefix on the list:
otherwise 10.1.0.0/16 port 80 would hide an entry 10.0.0.0/8 on all ports.

The constants here must match the ``#define``s of ``_bpf_program``; a unit
test compares them and the compiler step compares the map shapes bcc made.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from . import _bpf_sys as bpf
from ._errors import InvalidInput
from ._netpolicy import AllowList, AllowRule

__all__ = [
    "COUNTER_NAMES",
    "MAP_SHAPES",
    "MAX_PREFIXES",
    "MAX_RULES",
    "MapShape",
    "PROTO_BITS",
    "encode_allow_list",
    "rule_sets",
]

MAX_RULES = 16
MAX_PREFIXES = 1024

PROTO_TCP = 1
PROTO_UDP = 2
PROTO_OTHER = 4
PROTO_BITS = {
    "tcp": PROTO_TCP,
    "udp": PROTO_UDP,
    "any": PROTO_TCP | PROTO_UDP | PROTO_OTHER,
}

COUNTER_NAMES = (
    "connect_allowed",
    "connect_blocked",
    "sendmsg_allowed",
    "sendmsg_blocked",
    "egress_allowed",
    "egress_blocked",
    "ingress_allowed",
    "ingress_blocked",
)

# struct port_rule { u16 first_port; u16 last_port; u16 protocols; u16 pad; }
_RULE = struct.Struct("=HHHH")
# struct rule_set { u32 count; u32 pad; struct port_rule rules[MAX_RULES]; }
_RULE_SET_HEAD = struct.Struct("=II")
RULE_SET_SIZE = _RULE_SET_HEAD.size + MAX_RULES * _RULE.size
# struct key_v4/key_v6 { u32 prefixlen; u8 addr[4 or 16]; }
_PREFIXLEN = struct.Struct("=I")


@dataclass(frozen=True)
class MapShape:
    """What the loader must create for one map of the program.

    ``per_filter`` maps outlive a change of allow-list (the counters); the
    others belong to one generation of the filter.
    """

    name: str
    map_type: int
    key_size: int
    value_size: int
    max_entries: int
    flags: int = 0
    per_filter: bool = False


MAP_SHAPES = (
    MapShape(name="allow_v4", map_type=bpf.MAP_TYPE_LPM_TRIE,
             key_size=_PREFIXLEN.size + 4, value_size=RULE_SET_SIZE,
             max_entries=MAX_PREFIXES, flags=bpf.F_NO_PREALLOC),
    MapShape(name="allow_v6", map_type=bpf.MAP_TYPE_LPM_TRIE,
             key_size=_PREFIXLEN.size + 16, value_size=RULE_SET_SIZE,
             max_entries=MAX_PREFIXES, flags=bpf.F_NO_PREALLOC),
    MapShape(name="counters", map_type=bpf.MAP_TYPE_PERCPU_ARRAY,
             key_size=4, value_size=8, max_entries=len(COUNTER_NAMES),
             per_filter=True),
)


def rule_sets(rules: tuple[AllowRule, ...]) -> dict:
    """Map each listed network to the sorted (first, last, bits) it allows.

    Every network inherits the rules of the wider networks that contain it,
    which is what makes a longest-prefix lookup give the union.
    """
    result = {}
    for rule in rules:
        merged = {}
        for other in rules:
            if rule.network.subnet_of(other.network):
                for first, last, bits in _port_rules(other):
                    merged[(first, last)] = merged.get((first, last), 0) | bits
        result[rule.network] = sorted(
            (first, last, bits) for (first, last), bits in merged.items())
    return result


def encode_allow_list(allow: AllowList) -> dict[str, list[tuple[bytes, bytes]]]:
    """Return the (key, value) byte pairs of ``allow_v4`` and ``allow_v6``.

    Raises InvalidInput when a family has more networks, or a network more
    rules, than the maps hold.
    """
    entries = {}
    for version, map_name in ((4, "allow_v4"), (6, "allow_v6")):
        rules = allow.for_version(version)
        networks = rule_sets(rules)
        if len(networks) > MAX_PREFIXES:
            raise InvalidInput(
                "allow", f"lists {len(networks)} IPv{version} networks, more "
                         f"than the {MAX_PREFIXES} the filter holds",
                "Merge neighbouring networks into wider ones")
        pairs = []
        for network, port_rules in networks.items():
            if len(port_rules) > MAX_RULES:
                raise InvalidInput(
                    f"allow entry {network}",
                    f"needs {len(port_rules)} port rules (its own and those "
                    f"of wider networks), more than the {MAX_RULES} a "
                    f"network holds",
                    "Merge port ranges or list fewer ranges for it")
            pairs.append((encode_key(network), encode_rule_set(port_rules)))
        entries[map_name] = sorted(pairs)
    return entries


def encode_key(network) -> bytes:
    """LPM trie key: host-order prefix length, then the address bytes."""
    return _PREFIXLEN.pack(network.prefixlen) + network.network_address.packed


def encode_rule_set(port_rules: list[tuple[int, int, int]]) -> bytes:
    padding = [(0, 0, 0)] * (MAX_RULES - len(port_rules))
    body = b"".join(_RULE.pack(first, last, bits, 0)
                    for first, last, bits in list(port_rules) + padding)
    return _RULE_SET_HEAD.pack(len(port_rules), 0) + body


def decode_rule_set(value: bytes) -> list[tuple[int, int, int]]:
    """The inverse of ``encode_rule_set``, for tests and status output."""
    count, _pad = _RULE_SET_HEAD.unpack_from(value)
    return [_RULE.unpack_from(value, _RULE_SET_HEAD.size + index *
                              _RULE.size)[:3] for index in range(count)]


def _port_rules(rule: AllowRule) -> list[tuple[int, int, int]]:
    bits = 0
    for name in rule.protocols:
        bits |= PROTO_BITS[name]
    if not rule.ports:
        # Port 0 is included: a datagram or ICMP socket can carry it.
        return [(0, 65535, bits)]
    return [(port.first, port.last, bits) for port in rule.ports]
