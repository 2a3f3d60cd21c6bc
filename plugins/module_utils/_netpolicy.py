# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The network allow-list of a cgroup filter: parse, validate, normalise.

Input comes from a task as a list of mappings with ``cidr``, ``ports`` and
``protocols``.  The result is an ``AllowList`` in canonical order, so two
lists that allow the same rules compare equal however they were written.
Turning it into map entries is the job of ``_netfilter_maps``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ._errors import InvalidInput

__all__ = [
    "AllowList",
    "AllowRule",
    "DEFAULT_ALLOW",
    "PortRange",
    "PROTOCOLS",
    "parse_allow_list",
    "self_check_targets",
]

# tcp and udp are what ports apply to; "any" also lets every other IP
# protocol through (ICMP echo, for one), so it takes no port list.
PROTOCOLS = ("tcp", "udp", "any")
PORT_PROTOCOLS = ("tcp", "udp")

DEFAULT_ALLOW = (
    {"cidr": "127.0.0.0/8"},
    {"cidr": "::1/128"},
)

_V4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")

# Where a process inside a filtered cgroup can connect() a UDP socket to
# see that the filter is in place: the discard-only prefix (RFC 6666) and
# TEST-NET-1 (RFC 5737).  A UDP connect() sends nothing, and no allow-list
# a game needs covers these.
SELF_CHECK_PORT = 9
SELF_CHECK_ADDRESSES = {"ipv6": "100::1", "ipv4": "192.0.2.1"}


@dataclass(frozen=True, order=True)
class PortRange:
    """Ports ``first`` to ``last``, both included."""

    first: int
    last: int

    def __str__(self) -> str:
        if self.first == self.last:
            return str(self.first)
        return f"{self.first}-{self.last}"


ALL_PORTS = PortRange(1, 65535)


@dataclass(frozen=True)
class AllowRule:
    """One allowed network, for some protocols and ports.

    ``ports`` empty means every port.  ``protocols`` holds ``tcp``/``udp``,
    or ``any`` alone for every IP protocol.
    """

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    protocols: tuple[str, ...]
    ports: tuple[PortRange, ...]

    @property
    def sort_key(self) -> tuple:
        return (self.network.version, int(self.network.network_address),
                self.network.prefixlen, self.protocols, self.ports)

    def as_dict(self) -> dict:
        return {
            "cidr": str(self.network),
            "protocols": list(self.protocols),
            "ports": [str(port) for port in self.ports],
        }


@dataclass(frozen=True)
class AllowList:
    """The whole allow-list, deduplicated and in canonical order."""

    rules: tuple[AllowRule, ...]

    def for_version(self, version: int) -> tuple[AllowRule, ...]:
        return tuple(rule for rule in self.rules
                     if rule.network.version == version)

    def as_list(self) -> list[dict]:
        return [rule.as_dict() for rule in self.rules]

    def allows(self, address: str, *, protocol: str, port: int) -> bool:
        """Whether the filter lets a connection to ADDRESS:PORT through."""
        ip = ipaddress.ip_address(address)
        if ip.version == 6 and ip in _V4_MAPPED:
            ip = ip.ipv4_mapped
        for rule in self.for_version(ip.version):
            if ip not in rule.network:
                continue
            if "any" in rule.protocols:
                return True
            if protocol in rule.protocols and (
                    not rule.ports or any(r.first <= port <= r.last
                                          for r in rule.ports)):
                return True
        return False


def self_check_targets(allow: AllowList) -> dict:
    """The UDP targets the filter refuses, by address family.

    A family whose candidate the allow-list lets through maps to None:
    there, a refused connect() cannot prove anything.
    """
    targets = {family: (None if allow.allows(address, protocol="udp",
                                             port=SELF_CHECK_PORT)
                        else address)
               for family, address in SELF_CHECK_ADDRESSES.items()}
    return {**targets, "port": SELF_CHECK_PORT, "protocol": "udp"}


def parse_allow_list(entries: list | tuple | None) -> AllowList:
    """Validate the ``allow`` option and return it in canonical form.

    Raises InvalidInput naming the entry, what is wrong with it and how to
    write it instead.
    """
    if entries is None:
        entries = DEFAULT_ALLOW
    if not isinstance(entries, (list, tuple)):
        raise InvalidInput("allow", f"must be a list, not {entries!r}",
                           "Give a list of mappings with a cidr key")

    rules = []
    for index, entry in enumerate(entries):
        rules.append(_parse_rule(entry, where=f"allow[{index}]"))

    unique = {rule.sort_key: rule for rule in rules}
    return AllowList(rules=tuple(unique[key] for key in sorted(unique)))


def _parse_rule(entry: object, *, where: str) -> AllowRule:
    if isinstance(entry, str):
        entry = {"cidr": entry}
    if not isinstance(entry, dict):
        raise InvalidInput(where, f"must be a mapping, not {entry!r}",
                           "Write it as {cidr: 10.0.0.0/8, ports: [443]}")
    unknown = sorted(set(entry) - {"cidr", "ports", "protocols"})
    if unknown:
        raise InvalidInput(where, f"has unknown keys {', '.join(unknown)}",
                           "Use only cidr, ports and protocols")

    network = _parse_network(entry.get("cidr"), where=where)
    ports = _parse_ports(entry.get("ports"), where=where)
    protocols = _parse_protocols(entry.get("protocols"), has_ports=bool(ports),
                                 where=where)

    if network.prefixlen == 0 and not ports:
        raise InvalidInput(
            f"{where} ({network})",
            "allows every address on every port, which is no filter at all",
            "List the networks the game needs, or add ports to restrict "
            "this entry, or remove the filter with state=absent")

    return AllowRule(network=network, protocols=protocols, ports=ports)


def _parse_network(value: object, *, where: str):
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(where, f"cidr must be a non-empty string, not "
                                  f"{value!r}",
                           "Write a network such as 10.0.0.0/8 or fd00::/8")
    text = value.strip()
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        fix = "Write a network such as 10.0.0.0/8, fd00::/8 or one address"
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise InvalidInput(f"{where} cidr {text!r}",
                               f"is not an IP network ({exc})", fix) from exc
        raise InvalidInput(f"{where} cidr {text!r}", "has host bits set",
                           f"Write the network as {loose}") from exc

    if network.version == 6 and network.subnet_of(_V4_MAPPED):
        mapped = ipaddress.IPv4Network(
            (int(network.network_address) & 0xFFFFFFFF,
             max(network.prefixlen - 96, 0)))
        raise InvalidInput(
            f"{where} cidr {text!r}",
            "is an IPv4-mapped IPv6 network; mapped addresses are always "
            "judged by the IPv4 entries",
            f"Write it as the IPv4 network {mapped}")
    return network


def _parse_ports(value: object, *, where: str) -> tuple[PortRange, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise InvalidInput(f"{where} ports", f"must be a list, not {value!r}",
                           "Write ports as a list such as [443, '27015-27030']")

    ranges = set()
    for item in value:
        port_range = _parse_port_range(item, where=where)
        if port_range == ALL_PORTS:
            return ()
        ranges.add(port_range)
    return tuple(sorted(ranges))


def _parse_port_range(item: object, *, where: str) -> PortRange:
    fix = ("Write a port as a number from 1 to 65535 or a range such as "
           "'27015-27030'")
    if isinstance(item, bool):
        raise InvalidInput(f"{where} port {item!r}", "is not a port", fix)
    if isinstance(item, int):
        first = last = item
    elif isinstance(item, str) and item.strip():
        low, dash, high = item.strip().partition("-")
        try:
            first = int(low)
            last = int(high) if dash else first
        except ValueError as exc:
            raise InvalidInput(f"{where} port {item!r}", "is not a port",
                               fix) from exc
    else:
        raise InvalidInput(f"{where} port {item!r}", "is not a port", fix)

    if not 1 <= first <= 65535 or not 1 <= last <= 65535:
        raise InvalidInput(f"{where} port {item!r}",
                           "is outside 1 to 65535", fix)
    if first > last:
        raise InvalidInput(f"{where} port {item!r}",
                           "starts after it ends",
                           f"Write it as '{last}-{first}'")
    return PortRange(first, last)


def _parse_protocols(value: object, *, has_ports: bool,
                     where: str) -> tuple[str, ...]:
    if value is None:
        # Ports only mean something to tcp and udp; without ports the entry
        # opens the network to everything, ping included.
        return PORT_PROTOCOLS if has_ports else ("any",)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not value:
        raise InvalidInput(f"{where} protocols",
                           f"must be a non-empty list, not {value!r}",
                           "Choose from tcp, udp and any")

    chosen = set()
    for item in value:
        name = str(item).strip().lower()
        if name not in PROTOCOLS:
            raise InvalidInput(f"{where} protocol {item!r}",
                               "is not a protocol this filter knows",
                               "Choose from tcp, udp and any")
        chosen.add(name)

    if "any" in chosen:
        if has_ports:
            raise InvalidInput(f"{where} protocols",
                               "any cannot be limited to ports",
                               "Use tcp and/or udp with ports, or drop the "
                               "ports to allow every protocol")
        return ("any",)
    return tuple(name for name in PORT_PROTOCOLS if name in chosen)
