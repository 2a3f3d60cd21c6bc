# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What systemd_user_scope has to change, worked out before anything is.

Pure functions only: the task's options go in as a Request, what the host
looks like goes in as a Snapshot (file contents and unit properties read
over D-Bus), and a Plan comes out, so check mode, diff mode and ``changed``
all rest on the same decision and the unit tests need no host.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ._errors import HostError, InvalidInput
from ._unit_files import (
    UnitPaths,
    is_ours,
    render_placeholder,
    render_scope_dropin,
    render_slice,
    scope_description,
    written_properties,
)
from ._unit_names import (
    placeholder_service_name,
    validate_unit_name,
)
from ._unit_properties import (
    Setting,
    parse_properties,
    required_controllers,
)
from ._users import Account

__all__ = [
    "Request",
    "Snapshot",
    "FileChange",
    "Plan",
    "parse_request",
    "check_controllers",
    "desired_files",
    "plan_changes",
    "diff_files",
    "managed_properties",
]

# A unit is up, or on its way up, in these states; a placeholder waiting
# to be restarted is "activating".
_RUNNING = ("active", "activating", "reloading")


@dataclass(frozen=True)
class Request:
    """The task's options, validated."""

    account: Account
    state: str
    slice_name: str
    slice_settings: dict[str, Setting]
    scope_name: str | None = None
    scope_settings: dict[str, Setting] = field(default_factory=dict)

    @property
    def service_name(self) -> str | None:
        if self.scope_name is None:
            return None
        return placeholder_service_name(self.scope_name)

    @property
    def paths(self) -> UnitPaths:
        return UnitPaths.for_home(self.account.home)

    @property
    def managed_paths(self) -> list[str]:
        """Every file this task may write or remove."""
        paths = [self.paths.unit_file(self.slice_name)]
        if self.scope_name:
            paths.append(self.paths.unit_file(self.service_name))
            paths.append(self.paths.dropin(self.scope_name))
        return paths


@dataclass
class Snapshot:
    """What the user's manager and unit directory look like right now.

    ``units`` holds the D-Bus properties of each loaded unit (None when the
    manager does not know it); ``unit_files`` maps a unit name to the path
    and enablement state of the unit file systemd would use.
    """

    files: dict[str, str | None]
    units: dict[str, dict[str, Any] | None]
    unit_files: dict[str, tuple[str, str]]


@dataclass(frozen=True)
class FileChange:
    path: str
    before: str | None
    after: str | None


@dataclass
class Plan:
    """The steps to take, in the order they are taken."""

    files: list[FileChange] = field(default_factory=list)
    stop: list[str] = field(default_factory=list)
    enable: list[str] = field(default_factory=list)
    disable: list[str] = field(default_factory=list)
    reload: bool = False
    start: list[str] = field(default_factory=list)
    restart: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.files or self.stop or self.enable or self.disable
                    or self.reload or self.start or self.restart)


def parse_request(params: Mapping[str, Any], *, account: Account) -> Request:
    """Validate names and properties; nothing on the host is read."""
    slice_name = validate_unit_name(params["slice"], suffix=".slice",
                                    option="slice")
    scope_name = params.get("scope")
    if scope_name is not None:
        scope_name = validate_unit_name(scope_name, suffix=".scope",
                                        option="scope")
        placeholder_service_name(scope_name)
    elif params.get("scope_properties"):
        raise InvalidInput("scope_properties", "is set but scope is not",
                           "Name the scope, e.g. scope: game.scope")

    return Request(
        account=account,
        state=params["state"],
        slice_name=slice_name,
        slice_settings=parse_properties(params.get("slice_properties"),
                                        unit=slice_name),
        scope_name=scope_name,
        scope_settings=parse_properties(params.get("scope_properties"),
                                        unit=scope_name or "scope"),
    )


def check_controllers(request: Request, delegated: list[str]) -> None:
    """Refuse a property whose controller the user manager does not have.

    systemd accepts such a property and then silently does nothing with
    it, which is exactly what must not happen to a limit.
    """
    for unit, settings in ((request.slice_name, request.slice_settings),
                           (request.scope_name, request.scope_settings)):
        for name, controller in required_controllers(settings).items():
            if controller in delegated:
                continue
            raise HostError(
                f"{unit} property {name}",
                f"needs the cgroup controller {controller!r}, which is not "
                f"delegated to user@{request.account.uid}.service (it has: "
                f"{' '.join(delegated) or 'none'})",
                f"Remove {name}, or delegate {controller} with a drop-in "
                f"/etc/systemd/system/user@.service.d/delegate.conf holding "
                f"'[Service]' and 'Delegate={' '.join(delegated)} "
                f"{controller}', then restart "
                f"user@{request.account.uid}.service")


def desired_files(request: Request, *, systemd_run: str,
                  sleep: str) -> dict[str, str | None]:
    """The text every managed file should have; None means no file."""
    paths = request.paths
    files = {paths.unit_file(request.slice_name): render_slice(
        request.slice_name, request.slice_settings.values())}
    if request.scope_name:
        files[paths.unit_file(request.service_name)] = render_placeholder(
            scope=request.scope_name, slice_name=request.slice_name,
            systemd_run=systemd_run, sleep=sleep)
        files[paths.dropin(request.scope_name)] = (
            render_scope_dropin(request.scope_settings.values())
            if request.scope_settings else None)
    return files


def plan_changes(request: Request, snapshot: Snapshot,
                 desired: dict[str, str | None]) -> Plan:
    """Decide what to change; raise when a unit is someone else's."""
    _refuse_foreign(request, snapshot)
    if request.state == "absent":
        return _plan_absent(request, snapshot)
    return _plan_present(request, snapshot, desired)


def _refuse_foreign(request: Request, snapshot: Snapshot) -> None:
    if request.state == "absent":
        return
    for path in request.managed_paths:
        text = snapshot.files.get(path)
        if text is not None and not is_ours(text):
            raise HostError(
                path, "exists and was not written by gaming-box",
                "Move it away or choose another name; gaming-box changes "
                "only the files it created")

    names = [request.slice_name]
    if request.scope_name:
        names.append(request.service_name)
    for name in names:
        path = request.paths.unit_file(name)
        elsewhere = snapshot.unit_files.get(name, ("", ""))[0]
        if elsewhere and elsewhere != path:
            raise HostError(
                name, f"is already defined by {elsewhere}",
                "Choose another name; gaming-box manages only units it "
                "defines itself")

    if request.scope_name:
        scope = snapshot.units.get(request.scope_name)
        service_file = snapshot.files.get(
            request.paths.unit_file(request.service_name))
        if _is_running(scope) and service_file is None and \
                scope.get("Description") != \
                scope_description(request.scope_name):
            raise HostError(
                request.scope_name,
                "is already running and was not created by gaming-box",
                f"Stop it (systemctl --user stop {request.scope_name}) or "
                f"choose another scope name")


def _plan_present(request: Request, snapshot: Snapshot,
                  desired: dict[str, str | None]) -> Plan:
    plan = Plan()
    for path, text in desired.items():
        before = snapshot.files.get(path)
        if before != text:
            plan.files.append(FileChange(path, before, text))

    units = [request.slice_name]
    if request.scope_name:
        units.append(request.service_name)
    plan.reload = bool(plan.files) or any(
        (snapshot.units.get(name) or {}).get("NeedDaemonReload")
        for name in units + [request.scope_name] if name)
    plan.enable = [name for name in units
                   if snapshot.unit_files.get(name, ("", ""))[1] != "enabled"]
    plan.start = [name for name in units
                  if not _is_running(snapshot.units.get(name))]

    service = request.service_name
    service_changed = any(change.path == request.paths.unit_file(service)
                          for change in plan.files) if service else False
    if service_changed and service not in plan.start:
        # A scope cannot move to another slice: the placeholder has to
        # start over and create it again where it now belongs.
        plan.restart.append(service)
    return plan


def _plan_absent(request: Request, snapshot: Snapshot) -> Plan:
    plan = Plan()
    for path in request.managed_paths:
        before = snapshot.files.get(path)
        if is_ours(before):
            plan.files.append(FileChange(path, before, None))
        elif before is not None:
            plan.warnings.append(
                f"{path} was left in place: gaming-box did not write it")

    ours = {change.path for change in plan.files}
    units = [request.slice_name]
    if request.scope_name:
        units.insert(0, request.service_name)
    for name in units:
        if request.paths.unit_file(name) not in ours:
            continue
        if snapshot.unit_files.get(name, ("", ""))[1] == "enabled":
            plan.disable.append(name)
        # The slice is only stopped once nothing lives in it any more;
        # stopping it would kill whatever a launcher still runs there.
        if name != request.slice_name and \
                _is_running(snapshot.units.get(name)):
            plan.stop.append(name)
    plan.reload = bool(plan.files)
    return plan


def _is_running(unit: dict[str, Any] | None) -> bool:
    return bool(unit) and unit.get("ActiveState") in _RUNNING


def diff_files(plan: Plan) -> list[dict[str, str]]:
    """Ansible diff entries, one per file the plan writes or removes."""
    return [{"before_header": change.path, "after_header": change.path,
             "before": change.before or "", "after": change.after or ""}
            for change in plan.files]


def managed_properties(request: Request,
                       files: Mapping[str, str | None]) -> dict[str, list]:
    """Property names the task sets now or set before, by unit."""
    paths = request.paths
    units = {request.slice_name: (request.slice_settings,
                                  paths.unit_file(request.slice_name))}
    if request.scope_name:
        units[request.scope_name] = (request.scope_settings,
                                     paths.dropin(request.scope_name))
    return {unit: sorted(set(settings) |
                         set(written_properties(files.get(path))))
            for unit, (settings, path) in units.items()}
