# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""D-Bus connections to systemd managers and logind, with dbus-python.

The user's bus is found from the uid alone (``/run/user/UID/bus``): the
environment of an Ansible connection belongs to whoever logged in, not to
the user the task acts for.  The bus daemon authenticates a client by the
uid of its socket, so the connection must be opened by a process running
as that user (see _as_user).
"""

from __future__ import annotations

import os
import time
from typing import Any

from ._errors import HostError
from ._respawn import import_or_respawn
from ._users import Account

__all__ = [
    "BusCallFailed",
    "Bus",
    "Manager",
    "load_dbus",
    "user_bus_path",
    "connect_user_bus",
    "connect_system_bus",
    "plain",
]

SYSTEMD = "org.freedesktop.systemd1"
SYSTEMD_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
UNIT = "org.freedesktop.systemd1.Unit"
JOB = "org.freedesktop.systemd1.Job"
PROPERTIES = "org.freedesktop.DBus.Properties"
SYSTEM_BUS = "/run/dbus/system_bus_socket"

_TYPE_INTERFACES = {
    "slice": "org.freedesktop.systemd1.Slice",
    "scope": "org.freedesktop.systemd1.Scope",
    "service": "org.freedesktop.systemd1.Service",
}
_POLL_SECONDS = 0.1


class BusCallFailed(HostError):
    """A D-Bus call returned an error; ``dbus_name`` says which."""

    def __init__(self, obj: str, cause: str, fix: str, *,
                 dbus_name: str = "") -> None:
        self.dbus_name = dbus_name
        super().__init__(obj, cause, fix)


def load_dbus() -> Any:
    """Import dbus-python, respawning under the system Python if needed."""
    return import_or_respawn("dbus", package="python3-dbus")


def user_bus_path(account: Account) -> str:
    return os.path.join(account.runtime_dir, "bus")


def connect_user_bus(dbus: Any, account: Account) -> "Bus":
    """Open a private connection to ``account``'s session bus.

    Must run as that user.  Raises HostError when the socket is missing.
    """
    path = user_bus_path(account)
    return _connect(dbus, path, label=f"the user bus of {account.name}",
                    fix=f"Start the user manager of {account.name} "
                        f"(lingering or a login) and check that "
                        f"dbus-user-session is installed")


def connect_system_bus(dbus: Any) -> "Bus":
    return _connect(dbus, SYSTEM_BUS, label="the system bus",
                    fix="Check that dbus is installed and running")


def _connect(dbus: Any, path: str, *, label: str, fix: str) -> "Bus":
    try:
        connection = dbus.bus.BusConnection(f"unix:path={path}")
    except dbus.exceptions.DBusException as exc:
        raise HostError(f"{label} at {path}",
                        f"cannot be reached: {exc.get_dbus_message()}",
                        fix) from exc
    return Bus(dbus, connection, label=label)


class Bus:
    """One connection, and calls that raise BusCallFailed on errors."""

    def __init__(self, dbus: Any, connection: Any, *, label: str) -> None:
        self._dbus = dbus
        self._connection = connection
        self.label = label

    def call(self, destination: str, path: str, interface: str, method: str,
             signature: str = "", *args: object, timeout: float = 60.0
             ) -> Any:
        try:
            return self._connection.call_blocking(
                destination, path, interface, method, signature, args,
                timeout=timeout)
        except self._dbus.exceptions.DBusException as exc:
            raise BusCallFailed(
                f"{method} on {self.label}", exc.get_dbus_message() or
                exc.get_dbus_name(),
                "Check the manager's journal (journalctl --user as the "
                "user, or journalctl -u user@UID.service as root)",
                dbus_name=exc.get_dbus_name() or "") from exc

    def get(self, destination: str, path: str, interface: str,
            name: str) -> Any:
        return self.call(destination, path, PROPERTIES, "Get", "ss",
                         interface, name)

    def get_all(self, destination: str, path: str,
                interface: str) -> dict[str, Any]:
        return dict(self.call(destination, path, PROPERTIES, "GetAll", "s",
                              interface))

    def close(self) -> None:
        self._connection.close()


class Manager:
    """The calls gaming-box makes to one systemd manager."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus

    def _call(self, method: str, signature: str = "", *args: object) -> Any:
        return self.bus.call(SYSTEMD, SYSTEMD_PATH, MANAGER, method,
                             signature, *args)

    def property(self, name: str) -> Any:
        return self.bus.get(SYSTEMD, SYSTEMD_PATH, MANAGER, name)

    def unit(self, name: str) -> dict[str, Any] | None:
        """Properties of a loaded unit (generic and per type), or None.

        GetUnit rather than LoadUnit: loading a scope that does not exist
        would leave a stub the manager then reports as not found.
        """
        try:
            path = self._call("GetUnit", "s", name)
        except BusCallFailed as exc:
            if exc.dbus_name.endswith(".NoSuchUnit"):
                return None
            raise
        properties = self.bus.get_all(SYSTEMD, path, UNIT)
        interface = _TYPE_INTERFACES.get(name.rpartition(".")[2])
        if interface:
            properties.update(self.bus.get_all(SYSTEMD, path, interface))
        return plain(properties)

    def load_unit(self, name: str, interface: str) -> dict[str, Any]:
        path = self._call("LoadUnit", "s", name)
        return plain(self.bus.get_all(SYSTEMD, path, interface))

    def unit_files(self, names: list[str]) -> dict[str, tuple[str, str]]:
        """Unit file path and state ("enabled", ...) by unit name."""
        found = self._call("ListUnitFilesByPatterns", "asas", [], names)
        return {os.path.basename(str(path)): (str(path), str(state))
                for path, state in found}

    def reload(self) -> None:
        self._call("Reload")

    def enable(self, names: list[str]) -> None:
        self._call("EnableUnitFiles", "asbb", names, False, False)

    def disable(self, names: list[str]) -> None:
        self._call("DisableUnitFiles", "asb", names, False)

    def run_job(self, method: str, name: str, *, timeout: float) -> None:
        """Queue StartUnit/StopUnit/RestartUnit and wait for the job."""
        job = self._call(method, "ss", name, "replace")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.bus.get(SYSTEMD, job, JOB, "State")
            except BusCallFailed:
                # The job object goes away once the job has finished.
                return
            time.sleep(_POLL_SECONDS)
        raise HostError(f"{method} {name}",
                        f"did not finish within {timeout:.0f} s",
                        "Check the unit with systemctl --user status, or "
                        "raise timeout")


def plain(value: Any) -> Any:
    """Turn dbus-python values into plain Python values JSON can carry."""
    type_name = type(value).__name__
    if type_name == "Boolean":
        return bool(value)
    if isinstance(value, dict):
        return {plain(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, bytes):
        return list(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value
