# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The words flatpak 1.14 accepts in an override, and how it spells them.

Each check here answers the question flatpak asks itself when it reads
`flatpak override` arguments or an override file: is this an app id, a bus
name, a filesystem location, a path without control characters?  A
problem comes back as a short reason in flatpak's own terms, so the module
can refuse what flatpak would refuse, before anything is written.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "BUS_POLICIES",
    "DEVICES",
    "FEATURES",
    "FILESYSTEM_MODES",
    "HOST_RESET",
    "SHARES",
    "SOCKETS",
    "BadFilesystem",
    "app_id_problem",
    "bus_name_problem",
    "format_filesystem",
    "parse_filesystem",
    "path_problem",
]

SHARES = ("network", "ipc")
SOCKETS = ("x11", "wayland", "pulseaudio", "session-bus", "system-bus",
           "fallback-x11", "ssh-auth", "pcsc", "cups", "gpg-agent")
DEVICES = ("dri", "all", "kvm", "shm")
FEATURES = ("devel", "multiarch", "bluetooth", "canbus", "per-app-dev-shm")
BUS_POLICIES = ("none", "see", "talk", "own")
# "none" is a negated entry (--nofilesystem); the others are suffixes.
FILESYSTEM_MODES = ("none", "ro", "rw", "create")

# flatpak keeps "!host:reset" internally under this name.
HOST_RESET = "host-reset"
_SPECIAL = ("home", "host", "host-etc", "host-os", HOST_RESET)
_XDG_DIRS = ("xdg-desktop", "xdg-documents", "xdg-download", "xdg-music",
             "xdg-pictures", "xdg-public-share", "xdg-templates",
             "xdg-videos", "xdg-data", "xdg-cache", "xdg-config")
_SUFFIX_MODES = {"ro": "ro", "rw": "rw", "create": "create"}

_APP_ELEMENT = r"[A-Za-z_][A-Za-z0-9_]*"
_APP_ID = re.compile(
    rf"{_APP_ELEMENT}(\.{_APP_ELEMENT})+\.[A-Za-z_-][A-Za-z0-9_-]*")
_BUS_ELEMENT = r"[A-Za-z_-][A-Za-z0-9_-]*"
_BUS_NAME = re.compile(rf"{_BUS_ELEMENT}(\.{_BUS_ELEMENT})+")
# What g_unichar_isgraph() calls not printable; a plain space is allowed.
_UNSAFE_CATEGORIES = ("Cc", "Cf", "Cn", "Cs", "Zs")


class BadFilesystem(ValueError):
    """A filesystem value flatpak rejects.

    ``fatal`` marks the ones (bad characters) that make flatpak refuse a
    whole override file instead of skipping the entry.
    """

    def __init__(self, reason: str, *, fatal: bool = False) -> None:
        super().__init__(reason)
        self.fatal = fatal


def app_id_problem(app_id: str) -> str | None:
    """Why flatpak would refuse ``app_id`` as an application name."""
    if not app_id:
        return "it is empty"
    if len(app_id) > 255:
        return "it is longer than 255 characters"
    if not _APP_ID.fullmatch(app_id):
        return ("an application id has three or more dot-separated parts of "
                "letters, digits and _, none starting with a digit, and - "
                "only in the last part")
    return None


def bus_name_problem(name: str) -> str | None:
    """Why flatpak would refuse ``name`` as a D-Bus name in a policy."""
    well_known = name[:-2] if name.endswith(".*") else name
    if not 0 < len(well_known) <= 255 or not _BUS_NAME.fullmatch(well_known):
        return ("a bus name has two or more dot-separated parts of letters, "
                "digits, _ and -, none starting with a digit, optionally "
                "followed by .* for a whole subtree")
    return None


def path_problem(path: str) -> str | None:
    """Why flatpak would refuse ``path`` for its characters."""
    for char in path:
        if char != " " and unicodedata.category(char) in _UNSAFE_CATEGORIES:
            return (f"it contains the non-graphical character "
                    f"U+{ord(char):04X}")
    return None


def parse_filesystem(value: str, *, negated: bool) -> tuple[str, str]:
    """Read one filesystem entry as flatpak does; return (location, mode).

    ``value`` is what follows the ``!`` of a negated entry.  The location
    comes back normalised the way flatpak stores it ("~" is "home",
    doubled slashes and trailing "/." are gone, "!host:reset" is
    ``HOST_RESET``).
    """
    problem = path_problem(value)
    if problem:
        raise BadFilesystem(problem, fatal=True)

    location, suffix = _split_suffix(value)
    mode = _mode_from_suffix(location, suffix, negated=negated)
    if suffix == "reset" or location == HOST_RESET:
        location = HOST_RESET

    if "/" in location:
        location = _normalise_path(location)
    return _canonical_location(location), mode


def format_filesystem(location: str, mode: str) -> str:
    """The list entry that makes flatpak read back (location, mode)."""
    if location == HOST_RESET:
        return "!host:reset"
    escaped = location.replace("\\", "\\\\").replace(":", "\\:")
    if mode == "none":
        return f"!{escaped}"
    return escaped if mode == "rw" else f"{escaped}:{mode}"


def _split_suffix(value: str) -> tuple[str, str | None]:
    # A backslash escapes the next character, so a path may hold ":".
    location = []
    chars = iter(enumerate(value))
    for index, char in chars:
        if char == ":":
            return "".join(location), value[index + 1:]
        if char == "\\":
            char = next(chars, (None, ""))[1]
        location.append(char)
    return "".join(location), None


def _mode_from_suffix(location: str, suffix: str | None, *,
                      negated: bool) -> str:
    if location == HOST_RESET:
        if not negated:
            raise BadFilesystem(
                "host-reset is only meaningful in a negated entry")
        if suffix is not None:
            raise BadFilesystem("host-reset cannot take a suffix")

    # flatpak warns about an unknown suffix or a mode on a negated entry
    # and carries on without it, so they are no errors here either.
    mode = "none" if negated else _SUFFIX_MODES.get(suffix or "", "rw")

    if suffix == "reset":
        if not negated:
            raise BadFilesystem("the suffix :reset needs a negated entry")
        if location != "host":
            raise BadFilesystem("the suffix :reset applies to host only")
    return mode


def _normalise_path(location: str) -> str:
    first = location.index("/")
    tail = location[first + 1:]
    if (tail.startswith("../") or tail.endswith("/..")
            or "/../" in tail):
        raise BadFilesystem(f'the location "{location}" contains ".."')

    location = _join_collapsed(location, first)

    while True:
        slash = location.rfind("/")
        if slash == -1:
            break
        if (slash != 0 and slash == len(location) - 1) or \
                location[slash + 1:] == ".":
            location = location[:slash]
        else:
            break

    if location == "/":
        raise BadFilesystem(
            "the location / is not available; host gives a similar result")
    return location


def _join_collapsed(location: str, first: int) -> str:
    # After every slash flatpak drops further slashes and "./" pairs; a
    # final "." stays for the trailing clean-up.
    out = location[:first]
    rest = location[first:]
    while rest:
        if rest[0] != "/":
            out += rest[0]
            rest = rest[1:]
            continue
        out += "/"
        rest = rest[1:]
        while True:
            if rest.startswith("/"):
                rest = rest[1:]
            elif rest.startswith("./"):
                rest = rest[2:]
            else:
                break
    return out


def _canonical_location(location: str) -> str:
    if (location in _SPECIAL or _is_xdg_location(location)
            or location.startswith(("~/", "/"))):
        return location
    if location == "~":
        return "home"
    if location.startswith("home/"):
        return "~/" + location[len("home/"):]
    raise BadFilesystem(
        f"unknown filesystem location {location!r}; valid locations are "
        f"host, host-os, host-etc, home, xdg-*[/...], ~/dir and /dir")


def _is_xdg_location(location: str) -> bool:
    prefix, _slash, rest = location.partition("/")
    if prefix in _XDG_DIRS:
        return True
    # xdg-run alone would expose the whole runtime directory: flatpak
    # refuses it and wants a subdirectory.
    return prefix == "xdg-run" and rest.lstrip("/") != ""
