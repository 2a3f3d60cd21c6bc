# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The text of the unit files and drop-ins gaming-box writes for a user.

Every file starts with a marker line.  gaming-box only ever rewrites or
removes a file that carries it, so a unit the user wrote by hand under the
same name is never touched.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from typing import Iterable

from ._unit_properties import Setting

__all__ = [
    "MARKER",
    "UnitPaths",
    "is_ours",
    "render_slice",
    "render_placeholder",
    "render_scope_dropin",
    "scope_description",
    "written_properties",
]

MARKER = "# Managed by gaming-box (gamingbox.sandbox.systemd_user_scope)."
_HEADER = (
    f"{MARKER}\n"
    "# Local edits are overwritten on the next run; state=absent removes "
    "this file.\n")
DROPIN_NAME = "50-gaming-box.conf"

# The placeholder restarts quickly so the scope is back before a launcher
# looks for it.  Rate limiting is off because a restart also fails while
# the old scope still holds a process (a game that outlived the
# placeholder); it must keep trying until that process is gone.
_RESTART_SEC = 2


@dataclass(frozen=True)
class UnitPaths:
    """Where a user's unit files live."""

    unit_dir: str

    @classmethod
    def for_home(cls, home: str) -> "UnitPaths":
        return cls(os.path.join(home, ".config", "systemd", "user"))

    def unit_file(self, name: str) -> str:
        return os.path.join(self.unit_dir, name)

    def dropin(self, name: str) -> str:
        return os.path.join(self.unit_dir, f"{name}.d", DROPIN_NAME)


def is_ours(text: str | None) -> bool:
    """Tell whether gaming-box wrote this file."""
    return text is not None and text.startswith(MARKER + "\n")


def render_slice(name: str, settings: Iterable[Setting]) -> str:
    """A persistent slice, started with the user manager."""
    return "".join([
        _HEADER,
        "\n[Unit]\n",
        f"Description=gaming-box slice {name}\n",
        "\n[Slice]\n",
        *_lines(settings),
        # default.target pulls the slice in, so it is active, and therefore
        # never garbage-collected, even while no scope lives in it.
        "\n[Install]\n",
        "WantedBy=default.target\n",
    ])


def render_placeholder(*, scope: str, slice_name: str, systemd_run: str,
                       sleep: str) -> str:
    """A service whose only process lives in ``scope`` and keeps it alive.

    systemd-run asks the manager for the scope with its own pid in it and
    then becomes ``sleep``; the service keeps that pid as its main pid, so
    when it dies the service restarts and the scope is created again.
    """
    command = [systemd_run, "--user", "--scope", "--quiet", "--collect",
               f"--slice={slice_name}", f"--unit={scope}",
               f"--description={scope_description(scope)}",
               "--", sleep, "infinity"]
    return "".join([
        _HEADER,
        "\n[Unit]\n",
        f"Description=gaming-box placeholder keeping {scope} alive\n",
        "StartLimitIntervalSec=0\n",
        "\n[Service]\n",
        "Type=exec\n",
        f"ExecStart={shlex.join(command)}\n",
        "Restart=always\n",
        f"RestartSec={_RESTART_SEC}\n",
        "\n[Install]\n",
        "WantedBy=default.target\n",
    ])


def scope_description(scope: str) -> str:
    """The description a placeholder gives its scope.

    It tells a scope gaming-box created from someone else's even when no
    file of ours is left, e.g. while a game still holds a removed scope.
    """
    return f"gaming-box placeholder scope {scope}"


def render_scope_dropin(settings: Iterable[Setting]) -> str:
    """Properties systemd applies to the scope from the moment it exists."""
    return "".join([_HEADER, "\n[Scope]\n", *_lines(settings)])


def written_properties(text: str | None) -> dict[str, str]:
    """Read back the properties a gaming-box file sets, by name."""
    if not is_ours(text):
        return {}
    found = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("["):
            section = line
        elif section in ("[Slice]", "[Scope]") and "=" in line:
            key, value = line.split("=", 1)
            found[key] = value
    return found


def _lines(settings: Iterable[Setting]) -> list[str]:
    return [f"{setting.name}={setting.text}\n" for setting in settings]
