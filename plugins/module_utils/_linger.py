# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lingering: a user manager that runs from boot on, without any login.

Enabling goes through logind rather than by writing the flag file:
logind then also starts the manager at once instead of at the next boot.
"""

from __future__ import annotations

import os

from ._bus import Bus, BusCallFailed, Manager
from ._cgroup import read_controllers
from ._errors import HostError
from ._users import Account

__all__ = ["LINGER_DIR", "is_lingering", "enable_lingering",
           "planned_controllers"]

LINGER_DIR = "/var/lib/systemd/linger"
_LOGIND = "org.freedesktop.login1"
_LOGIND_PATH = "/org/freedesktop/login1"
_LOGIND_MANAGER = "org.freedesktop.login1.Manager"
_SERVICE = "org.freedesktop.systemd1.Service"


def is_lingering(account: Account) -> bool:
    return os.path.exists(os.path.join(LINGER_DIR, account.name))


def enable_lingering(system_bus: Bus, account: Account) -> None:
    """Ask logind to keep ``account``'s manager running from boot on."""
    try:
        system_bus.call(_LOGIND, _LOGIND_PATH, _LOGIND_MANAGER,
                        "SetUserLinger", "ubb", account.uid, True, False)
    except BusCallFailed as exc:
        raise HostError(
            f"lingering for {account.name}",
            f"could not be enabled: {exc.cause}",
            f"Run the task as root (become: true), or have an administrator "
            f"run: loginctl enable-linger {account.name}") from exc


def planned_controllers(system_bus: Bus, account: Account, *,
                        mount: str) -> list[str]:
    """Controllers ``user@UID.service`` will get once it starts.

    Used to refuse a property before lingering starts a manager that
    could not apply it, so a bad task leaves the host as it was.
    """
    unit = Manager(system_bus).load_unit(f"user@{account.uid}.service",
                                         _SERVICE)
    wanted = set(unit.get("DelegateControllers") or [])
    return sorted(wanted & set(read_controllers(mount)))
