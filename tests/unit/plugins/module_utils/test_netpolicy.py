"""Allow-list parsing and validation of the cgroup network filter."""

from __future__ import annotations

import ipaddress

import pytest

from ansible_collections.gamingbox.sandbox.plugins.module_utils import (
    _netpolicy,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    InvalidInput,
)


def parse(*entries):
    return _netpolicy.parse_allow_list(list(entries)).as_list()


def test_default_is_loopback_only():
    assert _netpolicy.parse_allow_list(None).as_list() == [
        {"cidr": "127.0.0.0/8", "protocols": ["any"], "ports": []},
        {"cidr": "::1/128", "protocols": ["any"], "ports": []},
    ]


def test_ports_imply_tcp_and_udp_and_are_normalised():
    assert parse({"cidr": "10.201.0.2", "ports": [7000, "27015-27030",
                                                  "7000"]}) == [
        {"cidr": "10.201.0.2/32", "protocols": ["tcp", "udp"],
         "ports": ["7000", "27015-27030"]}]


def test_protocols_keep_canonical_order():
    assert parse({"cidr": "fd42:201::/64", "protocols": ["UDP", "tcp"],
                  "ports": [53]})[0]["protocols"] == ["tcp", "udp"]


def test_order_and_duplicates_do_not_matter():
    first = parse({"cidr": "::1/128"}, {"cidr": "10.0.0.0/8"},
                  {"cidr": "127.0.0.0/8"}, {"cidr": "10.0.0.0/8"})
    second = parse({"cidr": "127.0.0.0/8"}, {"cidr": "10.0.0.0/8"},
                   {"cidr": "::1/128"})
    assert first == second
    assert [entry["cidr"] for entry in first] == [
        "10.0.0.0/8", "127.0.0.0/8", "::1/128"]


def test_all_ports_range_means_no_port_list():
    assert parse({"cidr": "10.0.0.0/8", "ports": ["1-65535"],
                  "protocols": ["tcp"]})[0]["ports"] == []


def test_bare_string_entry_is_a_cidr():
    assert parse("192.0.2.0/24")[0]["cidr"] == "192.0.2.0/24"


@pytest.mark.parametrize("entry, words", [
    ({"cidr": "10.0.0.1/8"}, "Write the network as 10.0.0.0/8"),
    ({"cidr": "300.1.1.1"}, "is not an IP network"),
    ({"cidr": ""}, "non-empty string"),
    ({"cidr": "::ffff:10.201.0.2"}, "IPv4 network 10.201.0.2/32"),
    ({"cidr": "::ffff:0:0/96"}, "IPv4 network 0.0.0.0/0"),
    ({"cidr": "0.0.0.0/0"}, "no filter at all"),
    ({"cidr": "::/0", "protocols": ["tcp"]}, "no filter at all"),
    ({"cidr": "10.0.0.0/8", "ports": [0]}, "outside 1 to 65535"),
    ({"cidr": "10.0.0.0/8", "ports": ["70000"]}, "outside 1 to 65535"),
    ({"cidr": "10.0.0.0/8", "ports": ["30-20"]}, "Write it as '20-30'"),
    ({"cidr": "10.0.0.0/8", "ports": ["http"]}, "is not a port"),
    ({"cidr": "10.0.0.0/8", "ports": [True]}, "is not a port"),
    ({"cidr": "10.0.0.0/8", "protocols": ["icmp"]}, "Choose from tcp"),
    ({"cidr": "10.0.0.0/8", "protocols": []}, "non-empty list"),
    ({"cidr": "10.0.0.0/8", "protocols": ["any"], "ports": [80]},
     "cannot be limited to ports"),
    ({"cidr": "10.0.0.0/8", "port": 80}, "unknown keys port"),
    (42, "must be a mapping"),
])
def test_bad_entries_name_the_entry_the_cause_and_the_fix(entry, words):
    with pytest.raises(InvalidInput) as caught:
        _netpolicy.parse_allow_list([{"cidr": "::1/128"}, entry])
    assert "allow[1]" in caught.value.obj
    assert words in caught.value.message


def test_whole_internet_with_ports_is_allowed():
    rules = parse({"cidr": "0.0.0.0/0", "ports": [53], "protocols": ["udp"]})
    assert rules == [{"cidr": "0.0.0.0/0", "protocols": ["udp"],
                      "ports": ["53"]}]


def test_for_version_splits_families():
    allow = _netpolicy.parse_allow_list(None)
    assert [rule.network for rule in allow.for_version(6)] == [
        ipaddress.ip_network("::1/128")]


def test_the_self_check_targets_are_refused_by_the_default_list():
    targets = _netpolicy.self_check_targets(_netpolicy.parse_allow_list(None))

    assert targets == {"ipv6": "100::1", "ipv4": "192.0.2.1", "port": 9,
                       "protocol": "udp"}


@pytest.mark.parametrize("entries, expected", [
    ([{"cidr": "::/0", "ports": ["9"], "protocols": ["udp"]}],
     {"ipv6": None, "ipv4": "192.0.2.1"}),
    ([{"cidr": "192.0.2.0/24", "protocols": ["any"]}],
     {"ipv6": "100::1", "ipv4": None}),
    # Mapped addresses are IPv4: ::ffff:192.0.2.0/120 covers 192.0.2.1.
    ([{"cidr": "192.0.0.0/8", "ports": ["1-100"]}],
     {"ipv6": "100::1", "ipv4": None}),
    ([{"cidr": "0.0.0.0/0", "ports": ["443"], "protocols": ["tcp"]},
      {"cidr": "100::/64", "ports": ["10-20"], "protocols": ["udp"]}],
     {"ipv6": "100::1", "ipv4": "192.0.2.1"}),
])
def test_a_target_the_list_lets_through_is_not_offered(entries, expected):
    targets = _netpolicy.self_check_targets(_netpolicy.parse_allow_list(entries))

    assert {k: targets[k] for k in ("ipv6", "ipv4")} == expected


def test_allows_reads_mapped_addresses_as_ipv4():
    allow = _netpolicy.parse_allow_list(
        [{"cidr": "10.0.0.0/8", "ports": ["53"], "protocols": ["udp"]}])

    assert allow.allows("::ffff:10.1.2.3", protocol="udp", port=53)
    assert not allow.allows("::ffff:10.1.2.3", protocol="tcp", port=53)
    assert not allow.allows("10.1.2.3", protocol="udp", port=54)
