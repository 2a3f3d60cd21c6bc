# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resource properties of slices and scopes: parse, normalise, read back.

A value has three faces: what the user wrote, the text that goes into the
unit file, and what systemd reports over D-Bus once it is in effect.  This
module converts between them for the properties gaming-box supports and
knows which cgroup controller each one needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Callable, Mapping

from ._errors import InvalidInput

__all__ = [
    "INFINITY",
    "SUPPORTED",
    "Setting",
    "parse_properties",
    "required_controllers",
    "from_bus",
    "format_cpus",
]

# systemd reports "no limit" and "not set" as the largest 64-bit value.
INFINITY = 2 ** 64 - 1

_SIZE_FACTORS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30,
                 "T": 1 << 40, "P": 1 << 50, "E": 1 << 60}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)([KMGTPE]?)")
_PERCENT = re.compile(r"(\d+(?:\.\d{1,2})?)%")
_CPU_ITEM = re.compile(r"(\d+)(?:-(\d+))?")
# A CPU list names CPUs by number; the kernel's own limit is far below this.
_CPU_LIMIT = 8192
_USEC_PER_PERCENT = 10_000


@dataclass(frozen=True)
class Setting:
    """One property as gaming-box writes it and expects to read it back.

    ``text`` goes into the unit file.  ``expected`` is the value D-Bus
    should report, in the form ``from_bus`` returns, or None when systemd
    derives it from the host (a percentage of memory or of tasks).
    """

    name: str
    text: str
    expected: object


@dataclass(frozen=True)
class _Kind:
    controller: str
    parse: Callable[[str, object], Setting]
    # The D-Bus property that holds the value, and how to show it.
    bus_name: str
    show: Callable[[object], object]


def parse_properties(values: Mapping[str, object] | None, *,
                     unit: str) -> dict[str, Setting]:
    """Validate the ``properties`` option of ``unit``.

    Returns the settings by name, in the order of SUPPORTED, so rendering
    is stable whatever order the user wrote them in.
    """
    values = values or {}
    unknown = sorted(set(values) - set(SUPPORTED))
    if unknown:
        raise InvalidInput(
            f"{unit} property {unknown[0]!r}",
            "is not a property gaming-box manages",
            f"Use one of {', '.join(SUPPORTED)} (names are case-sensitive)")

    return {name: SUPPORTED[name].parse(name, values[name])
            for name in SUPPORTED if name in values}


def required_controllers(settings: Mapping[str, Setting]) -> dict[str, str]:
    """Map each setting's name to the cgroup controller it needs."""
    return {name: SUPPORTED[name].controller for name in settings}


def from_bus(bus_properties: Mapping[str, object]) -> dict[str, object]:
    """Show the supported properties of a unit as read over D-Bus.

    Values come out in the same form as ``Setting.expected``, so the two
    compare directly.  Properties the unit does not report are left out.
    """
    shown = {}
    for name, kind in SUPPORTED.items():
        if kind.bus_name in bus_properties:
            shown[name] = kind.show(bus_properties[kind.bus_name])
    return shown


def format_cpus(cpus: frozenset[int] | set[int]) -> str:
    """Write a CPU set the way systemd and the kernel do: ``0-3,6``."""
    ranges = []
    for cpu in sorted(cpus):
        if ranges and cpu == ranges[-1][1] + 1:
            ranges[-1][1] = cpu
        else:
            ranges.append([cpu, cpu])
    return ",".join(str(first) if first == last else f"{first}-{last}"
                    for first, last in ranges)


def _bad_value(name: str, value: object, cause: str, fix: str) -> InvalidInput:
    return InvalidInput(f"property {name}={value!r}", cause, fix)


def _as_text(name: str, value: object, fix: str) -> str:
    # YAML turns "yes" into True and 1.5 into a float; neither is a value
    # systemd takes, and guessing what was meant would hide a typo.
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise _bad_value(name, value,
                         f"is a {type(value).__name__}, not a number or text",
                         fix)
    return str(value).strip()


def _percent_text(match: re.Match) -> str:
    # "50.0%" and "50%" are the same share; write the short form.
    return f"{Decimal(match.group(1)).normalize():f}%"


def _memory(*, zero_ok: bool) -> Callable[[str, object], Setting]:
    fix = "Write a size like 512M, 4G or 1073741824, a share like 50%, " \
          "or infinity"

    def parse(name: str, value: object) -> Setting:
        text = _as_text(name, value, fix)
        if text == "infinity":
            return Setting(name, text, "infinity")

        percent = _PERCENT.fullmatch(text)
        if percent:
            share = Decimal(percent.group(1))
            if share > 100 or (share == 0 and not zero_ok):
                raise _bad_value(name, value,
                                 "is not a share between 0% and 100%"
                                 if zero_ok else
                                 "is not a share above 0% and up to 100%",
                                 fix)
            return Setting(name, _percent_text(percent), None)

        size = _SIZE.fullmatch(text)
        if not size:
            raise _bad_value(name, value, "is not a size", fix)
        number, unit = size.groups()
        exact = Decimal(number) * _SIZE_FACTORS[unit]
        size_bytes = int(exact)
        if size_bytes >= INFINITY or (size_bytes == 0 and not zero_ok):
            raise _bad_value(name, value, "is out of range", fix)
        # A fraction is written out in bytes so systemd's own rounding
        # cannot make the value differ from what we expect to read back.
        rendered = str(size_bytes) if "." in number else \
            f"{int(number)}{unit}"
        return Setting(name, rendered, size_bytes)

    return parse


def _weight(name: str, value: object) -> Setting:
    fix = "Write a whole number from 1 to 10000 (100 is the default)"
    text = _as_text(name, value, fix)
    if not text.isdigit() or not 1 <= int(text) <= 10000:
        raise _bad_value(name, value, "is not a weight from 1 to 10000", fix)
    return Setting(name, str(int(text)), int(text))


def _cpu_quota(name: str, value: object) -> Setting:
    fix = "Write a share of one CPU like 50% or 200% (two full CPUs)"
    text = _as_text(name, value, fix)
    percent = _PERCENT.fullmatch(text)
    if not percent or Decimal(percent.group(1)) == 0:
        raise _bad_value(name, value, "is not a percentage above 0%", fix)
    text = _percent_text(percent)
    return Setting(name, text, text)


def _cpu_set(name: str, value: object) -> Setting:
    fix = "Write CPU numbers and ranges like 0-3,6"
    text = _as_text(name, value, fix)
    cpus = set()
    for item in re.split(r"[\s,]+", text):
        match = _CPU_ITEM.fullmatch(item)
        if not match:
            raise _bad_value(name, value, f"has {item!r}, not a CPU number "
                             "or range", fix)
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if last < first or last >= _CPU_LIMIT:
            raise _bad_value(name, value, f"has the range {item!r}, which "
                             "runs backwards or too far", fix)
        cpus.update(range(first, last + 1))
    canonical = format_cpus(cpus)
    return Setting(name, canonical, canonical)


def _tasks(name: str, value: object) -> Setting:
    fix = "Write a number of tasks like 4096, a share like 10%, or infinity"
    text = _as_text(name, value, fix)
    if text == "infinity":
        return Setting(name, text, "infinity")
    percent = _PERCENT.fullmatch(text)
    if percent and 0 < Decimal(percent.group(1)) <= 100:
        return Setting(name, _percent_text(percent), None)
    if text.isdigit() and 0 < int(text) < INFINITY:
        return Setting(name, str(int(text)), int(text))
    raise _bad_value(name, value, "is not a number of tasks", fix)


def _show_limit(value: object) -> object:
    return "infinity" if int(value) == INFINITY else int(value)


def _show_weight(value: object) -> object:
    # Unset weights read back as the largest value; the kernel then uses
    # its default of 100.
    return None if int(value) == INFINITY else int(value)


def _show_quota(value: object) -> object:
    if int(value) == INFINITY:
        return None
    percent = Decimal(int(value)) / _USEC_PER_PERCENT
    return f"{percent.normalize():f}%"


def _show_cpus(value: object) -> object:
    # D-Bus sends the set as a bit mask, lowest CPU first.
    cpus = {index * 8 + bit
            for index, byte in enumerate(bytes(int(b) for b in value))
            for bit in range(8) if byte >> bit & 1}
    return format_cpus(cpus)


# The order here is the order properties appear in unit files.
SUPPORTED: dict[str, _Kind] = {
    "MemoryMin": _Kind("memory", _memory(zero_ok=True), "MemoryMin",
                       _show_limit),
    "MemoryLow": _Kind("memory", _memory(zero_ok=True), "MemoryLow",
                       _show_limit),
    "MemoryHigh": _Kind("memory", _memory(zero_ok=False), "MemoryHigh",
                        _show_limit),
    "MemoryMax": _Kind("memory", _memory(zero_ok=False), "MemoryMax",
                       _show_limit),
    "MemorySwapMax": _Kind("memory", _memory(zero_ok=True), "MemorySwapMax",
                           _show_limit),
    "CPUWeight": _Kind("cpu", _weight, "CPUWeight", _show_weight),
    "CPUQuota": _Kind("cpu", _cpu_quota, "CPUQuotaPerSecUSec", _show_quota),
    "AllowedCPUs": _Kind("cpuset", _cpu_set, "AllowedCPUs", _show_cpus),
    "TasksMax": _Kind("pids", _tasks, "TasksMax", _show_limit),
    "IOWeight": _Kind("io", _weight, "IOWeight", _show_weight),
}
