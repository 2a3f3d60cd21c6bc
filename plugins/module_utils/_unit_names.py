# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Names of the systemd units gaming-box manages in a user's manager.

The rules follow systemd's own (unit-name.c) and add a few of ours: a name
also becomes a file name under ``~/.config/systemd/user`` and a word in an
``ExecStart=`` line, so anything that could escape either is refused too.
"""

from __future__ import annotations

import string

from ._errors import InvalidInput

__all__ = [
    "NAME_MAX",
    "validate_unit_name",
    "slice_cgroup_path",
    "placeholder_service_name",
]

# systemd refuses names of 256 characters or more.
NAME_MAX = 255

# The characters systemd allows before the suffix, minus two it allows but
# we do not: "\\" starts an escape in unit files and ExecStart= lines, and
# "@" makes a template or an instance, which a slice or a scope never is.
_ALLOWED = frozenset(string.ascii_letters + string.digits + ":-_.")

_PLACEHOLDER_PREFIX = "gaming-box-scope-"


def validate_unit_name(name: object, *, suffix: str, option: str) -> str:
    """Return ``name`` when it is a plain unit name ending in ``suffix``.

    ``option`` names the module option in the error, so the user knows
    which value to fix.
    """
    if not isinstance(name, str) or not name:
        raise InvalidInput(
            f"{option} {name!r}", "is not a unit name",
            f"Give a name such as games{suffix}")

    stem, dot, given_suffix = name.rpartition(".")
    problem = _name_problem(name, stem, f"{dot}{given_suffix}", suffix)
    if problem:
        raise InvalidInput(f"{option} {name!r}", problem,
                           f"Give a name such as games{suffix}: letters, "
                           f"digits and ':-_.', ending in {suffix}")

    if suffix == ".slice":
        _check_slice_stem(name, stem, option)
    return name


def _name_problem(name: str, stem: str, given: str, wanted: str) -> str:
    if len(name) > NAME_MAX:
        return (f"is {len(name)} characters long and systemd allows at most "
                f"{NAME_MAX}")
    if "/" in name:
        return "contains '/', which systemd never allows in a unit name"
    if ".." in name:
        return "contains '..'"
    if given != wanted:
        return f"does not end in {wanted}"
    if not stem:
        return f"has nothing before {wanted}"
    if stem.startswith("."):
        return "starts with '.', which would make a hidden unit file"
    bad = sorted(set(stem) - _ALLOWED)
    if bad:
        shown = " ".join(repr(char) for char in bad)
        return f"contains characters gaming-box does not accept: {shown}"
    return ""


def _check_slice_stem(name: str, stem: str, option: str) -> None:
    # A dash in a slice name nests it: games-steam.slice lives inside
    # games.slice.  Empty levels ("-games", "games-", "a--b") have no
    # parent systemd can build, and "-.slice" is the root slice itself.
    if stem.startswith("-") or stem.endswith("-") or "--" in stem:
        raise InvalidInput(
            f"{option} {name!r}",
            "has an empty level: a slice name may not start or end with "
            "'-' or contain '--'",
            "Name nested slices like games-steam.slice, which lives inside "
            "games.slice")


def slice_cgroup_path(name: str) -> str:
    """Return the cgroup path of slice ``name`` relative to its manager.

    games-steam.slice lives in games.slice, so its path is
    ``games.slice/games-steam.slice``.
    """
    stem = name[:-len(".slice")]
    parts = stem.split("-")
    levels = ["-".join(parts[:depth]) + ".slice"
              for depth in range(1, len(parts) + 1)]
    return "/".join(levels)


def placeholder_service_name(scope: str) -> str:
    """Return the name of the service that keeps ``scope`` alive."""
    service = f"{_PLACEHOLDER_PREFIX}{scope[:-len('.scope')]}.service"
    if len(service) > NAME_MAX:
        raise InvalidInput(
            f"scope {scope!r}",
            f"is too long: its placeholder service {service!r} would pass "
            f"systemd's limit of {NAME_MAX} characters",
            f"Use a scope name of at most "
            f"{NAME_MAX - len(_PLACEHOLDER_PREFIX) - len('.service') + 6} "
            f"characters")
    return service
