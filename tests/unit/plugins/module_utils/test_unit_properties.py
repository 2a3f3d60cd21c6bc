"""Resource properties: parsing, unit-file text and D-Bus read-back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    InvalidInput,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._unit_properties import (
    INFINITY,
    SUPPORTED,
    format_cpus,
    from_bus,
    parse_properties,
    required_controllers,
)


def parse_one(name, value):
    return parse_properties({name: value}, unit="games.slice")[name]


@pytest.mark.parametrize("value, text, expected", [
    ("6G", "6G", 6 << 30),
    ("512M", "512M", 512 << 20),
    ("1T", "1T", 1 << 40),
    (1073741824, "1073741824", 1 << 30),
    ("08K", "8K", 8 << 10),
    # A fraction is written out in bytes, so systemd cannot round it.
    ("1.5G", "1610612736", 3 << 29),
    ("infinity", "infinity", "infinity"),
    ("50%", "50%", None),
    ("12.50%", "12.5%", None),
    ("100%", "100%", None),
])
def test_memory_sizes(value, text, expected):
    setting = parse_one("MemoryHigh", value)

    assert (setting.text, setting.expected) == (text, expected)


@pytest.mark.parametrize("value", ["lots", "4g", "4 GiB", "-1", "0", "0%",
                                   "101%", "1.234%", "", "16E", True, 1.5,
                                   None, ["1G"]])
def test_memory_high_refuses_what_systemd_would(value):
    with pytest.raises(InvalidInput) as caught:
        parse_one("MemoryHigh", value)

    assert caught.value.obj == f"property MemoryHigh={value!r}"
    assert "512M" in caught.value.fix


@pytest.mark.parametrize("name", ["MemorySwapMax", "MemoryLow", "MemoryMin"])
def test_zero_is_a_valid_floor_or_swap_limit(name):
    assert parse_one(name, 0).expected == 0
    assert parse_one(name, "0%").text == "0%"


def test_error_names_the_unit_and_lists_supported_properties():
    with pytest.raises(InvalidInput) as caught:
        parse_properties({"MemoryLimit": "1G"}, unit="game.scope")

    assert caught.value.obj == "game.scope property 'MemoryLimit'"
    for name in SUPPORTED:
        assert name in caught.value.fix


def test_names_are_case_sensitive():
    with pytest.raises(InvalidInput):
        parse_properties({"memoryhigh": "1G"}, unit="games.slice")


@pytest.mark.parametrize("name", ["CPUWeight", "IOWeight"])
def test_weights(name):
    assert parse_one(name, 50).expected == 50
    assert parse_one(name, "10000").text == "10000"
    for bad in (0, 10001, "idle", "5%", -3):
        with pytest.raises(InvalidInput, match="1 to 10000"):
            parse_one(name, bad)


@pytest.mark.parametrize("value, text", [("50%", "50%"), ("200%", "200%"),
                                         ("12.50%", "12.5%"),
                                         ("0.5%", "0.5%")])
def test_cpu_quota(value, text):
    setting = parse_one("CPUQuota", value)

    assert setting.text == setting.expected == text


@pytest.mark.parametrize("value", [50, "50", "0%", "half"])
def test_cpu_quota_needs_a_percentage(value):
    with pytest.raises(InvalidInput, match="percentage"):
        parse_one("CPUQuota", value)


@pytest.mark.parametrize("value, text", [("0-3,6", "0-3,6"),
                                         ("3 2 1 0", "0-3"),
                                         ("0,1, 2", "0-2"), (5, "5"),
                                         ("0-1,1-2", "0-2")])
def test_cpu_lists_are_normalised(value, text):
    assert parse_one("AllowedCPUs", value).text == text


@pytest.mark.parametrize("value", ["", "3-1", "0-", "a", "0-99999", "1;2"])
def test_bad_cpu_lists(value):
    with pytest.raises(InvalidInput):
        parse_one("AllowedCPUs", value)


@pytest.mark.parametrize("value, text, expected", [
    (4096, "4096", 4096), ("infinity", "infinity", "infinity"),
    ("10%", "10%", None)])
def test_tasks(value, text, expected):
    setting = parse_one("TasksMax", value)

    assert (setting.text, setting.expected) == (text, expected)


@pytest.mark.parametrize("value", [0, "0%", "many", "101%"])
def test_bad_tasks(value):
    with pytest.raises(InvalidInput, match="tasks"):
        parse_one("TasksMax", value)


def test_settings_come_out_in_unit_file_order():
    settings = parse_properties({"TasksMax": 10, "MemoryHigh": "1G",
                                 "CPUWeight": 5}, unit="games.slice")

    assert list(settings) == ["MemoryHigh", "CPUWeight", "TasksMax"]


def test_each_property_needs_its_controller():
    settings = parse_properties({"MemoryHigh": "1G", "CPUQuota": "50%",
                                 "AllowedCPUs": "0", "TasksMax": 5,
                                 "IOWeight": 10}, unit="games.slice")

    assert required_controllers(settings) == {
        "MemoryHigh": "memory", "CPUQuota": "cpu", "AllowedCPUs": "cpuset",
        "TasksMax": "pids", "IOWeight": "io"}


def test_bus_values_are_shown_like_expected_values():
    bus = {"MemoryHigh": 6 << 30, "MemoryMax": INFINITY, "MemoryLow": 0,
           "CPUWeight": INFINITY, "IOWeight": 200,
           "CPUQuotaPerSecUSec": 125_000, "AllowedCPUs": [0b1001_1111, 0],
           "TasksMax": 4096, "Unrelated": "x"}

    assert from_bus(bus) == {
        "MemoryLow": 0, "MemoryHigh": 6 << 30, "MemoryMax": "infinity",
        "CPUWeight": None, "CPUQuota": "12.5%", "AllowedCPUs": "0-4,7",
        "TasksMax": 4096, "IOWeight": 200}


def test_unset_quota_and_empty_cpu_set():
    assert from_bus({"CPUQuotaPerSecUSec": INFINITY, "AllowedCPUs": []}) == \
        {"CPUQuota": None, "AllowedCPUs": ""}


@given(st.sets(st.integers(0, 200), min_size=1))
def test_cpu_sets_survive_text_and_bit_mask(cpus):
    text = format_cpus(cpus)
    mask = bytearray(max(cpus) // 8 + 1)
    for cpu in cpus:
        mask[cpu // 8] |= 1 << cpu % 8

    assert parse_one("AllowedCPUs", text).expected == text
    assert from_bus({"AllowedCPUs": list(mask)})["AllowedCPUs"] == text


@given(st.integers(1, 10_000_00).map(lambda n: n / 100))
def test_quota_text_matches_what_dbus_reports(percent):
    text = f"{percent:.2f}%"
    setting = parse_one("CPUQuota", text)
    usec = round(percent * 100) * 100

    assert from_bus({"CPUQuotaPerSecUSec": usec})["CPUQuota"] == \
        setting.expected


@given(st.integers(1, 1 << 30), st.sampled_from(["", "K", "M", "G"]))
def test_whole_sizes_keep_their_suffix(number, suffix):
    setting = parse_one("MemoryMax", f"{number}{suffix}")
    factor = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}[suffix]

    assert setting.text == f"{number}{suffix}"
    assert setting.expected == number * factor
