# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""systemd_user_scope's backend: from the task's options to its result.

The parent process (often root) validates the options, checks the cgroup
tree, sees to lingering and waits for the user's bus.  Everything that
touches the user's manager or home then runs as the user (see _as_user)
over one D-Bus connection: read, plan, apply, read back, report.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from typing import Any, Callable, Mapping, TypeVar

from ._as_user import run_as
from ._bus import Manager, connect_system_bus, connect_user_bus, load_dbus, \
    user_bus_path
from ._cgroup import cgroup_dir, cgroup_of_pid, is_populated, \
    read_controllers, unified_mount
from ._errors import HostError, MissingDependency
from ._files import make_dirs, read_text, remove_file, write_atomic
from ._linger import enable_lingering, is_lingering, planned_controllers
from ._scope_plan import Plan, Request, Snapshot, check_controllers, \
    desired_files, diff_files, managed_properties, parse_request, \
    plan_changes
from ._unit_files import is_ours, scope_description
from ._unit_names import slice_cgroup_path
from ._unit_properties import from_bus
from ._users import Account, resolve_account

__all__ = ["converge"]

_POLL_SECONDS = 0.25
T = TypeVar("T")
_TOOL_PATH = "/usr/bin:/bin:/usr/sbin:/sbin"


def converge(params: Mapping[str, Any], *, check_mode: bool) -> dict:
    """Run the task; return the module result (without ``failed``)."""
    account = resolve_account(params.get("user"))
    request = parse_request(params, account=account)
    mount = unified_mount()
    tools = _find_tools()
    dbus = load_dbus()
    deadline = time.monotonic() + params["timeout"]

    linger_changed, running, planned = _prepare_manager(
        dbus, request, linger=params["linger"], mount=mount,
        check_mode=check_mode, deadline=deadline)

    result = run_as(account, _converge_as_user, dbus=dbus, request=request,
                    mount=mount, tools=tools, running=running,
                    planned=planned, check_mode=check_mode,
                    deadline=deadline)
    result["changed"] = result["changed"] or linger_changed
    result["linger_changed"] = linger_changed
    return result


def _find_tools() -> dict[str, str]:
    tools = {}
    for name, package in (("systemd-run", "systemd"), ("sleep", "coreutils")):
        found = shutil.which(name, path=_TOOL_PATH)
        if not found:
            raise MissingDependency(
                f"the command {name}", "is not installed",
                f"Install the package {package}")
        tools[name.replace("-", "_")] = found
    return tools


def _prepare_manager(dbus: Any, request: Request, *, linger: bool,
                     mount: str, check_mode: bool, deadline: float
                     ) -> tuple[bool, bool, list[str] | None]:
    """See to lingering and wait for the user's bus.

    Returns whether lingering changed, whether the manager runs (it does
    not in check mode when only lingering would start it), and, when it
    did not run, the controllers it will get.
    """
    account = request.account
    lingering = is_lingering(account)
    enable = linger and not lingering and request.state == "present"
    running = os.path.exists(user_bus_path(account))
    if running and not enable:
        return False, True, None
    if not running and not lingering and not enable:
        raise HostError(
            f"the user manager of {account.name}",
            f"is not running (no {user_bus_path(account)}) and lingering "
            f"is off, so it would not survive a logout or a reboot",
            "Set linger: true, or log the user in first")

    planned = None
    system_bus = connect_system_bus(dbus)
    try:
        if not running:
            planned = planned_controllers(system_bus, account, mount=mount)
            if request.state == "present":
                check_controllers(request, planned)
        if enable and not check_mode:
            enable_lingering(system_bus, account)
    finally:
        system_bus.close()

    if not running and not check_mode:
        _wait_for(lambda: os.path.exists(user_bus_path(account)),
                  deadline=deadline, what=f"the bus of {account.name}",
                  fix=f"Check systemctl status user@{account.uid}.service")
        running = True
    return enable, running, planned


def _converge_as_user(*, dbus: Any, request: Request, mount: str,
                      tools: dict[str, str], running: bool,
                      planned: list[str] | None, check_mode: bool,
                      deadline: float) -> dict:
    manager = _ready_manager(dbus, request, deadline) if running else None

    snapshot = _read_snapshot(manager, request)
    manager_cgroup = (manager.property("ControlGroup") if manager else
                      f"/user.slice/user-{request.account.uid}.slice/"
                      f"user@{request.account.uid}.service")
    delegated = (read_controllers(cgroup_dir(mount, manager_cgroup))
                 if manager else planned or [])
    desired = (desired_files(request, **tools)
               if request.state == "present" else {})

    plan = plan_changes(request, snapshot, desired)
    if request.state == "present":
        check_controllers(request, delegated)

    after = snapshot
    if not check_mode:
        if request.state == "present":
            _apply_present(manager, request, plan, deadline)
        elif plan.changed:
            _apply_absent(manager, request, plan, mount, deadline)
        after = _read_snapshot(manager, request)

    return _report(request, plan, snapshot, after, mount=mount,
                   manager_cgroup=str(manager_cgroup), delegated=delegated,
                   check_mode=check_mode)


def _ready_manager(dbus: Any, request: Request, deadline: float) -> Manager:
    # Right after lingering starts it, the manager may not have taken its
    # name on the bus yet, or may still be starting its units.
    return _wait_for(lambda: _manager_if_ready(dbus, request.account),
                     deadline=deadline,
                     what=f"the user manager of {request.account.name}",
                     fix=f"Check systemctl status user@{request.account.uid}"
                         f".service, or raise timeout")


def _manager_if_ready(dbus: Any, account: Account) -> Manager | None:
    try:
        manager = Manager(connect_user_bus(dbus, account))
    except HostError:
        return None
    try:
        state = manager.property("SystemState")
    except HostError:
        state = None
    if state in ("running", "degraded"):
        return manager
    manager.bus.close()
    return None


def _read_snapshot(manager: Manager | None, request: Request) -> Snapshot:
    names = [request.slice_name]
    if request.scope_name:
        names += [request.service_name, request.scope_name]
    files = {path: read_text(path) for path in request.managed_paths}
    if manager is None:
        return Snapshot(files=files, units=dict.fromkeys(names),
                        unit_files={})
    return Snapshot(files=files,
                    units={name: manager.unit(name) for name in names},
                    unit_files=manager.unit_files(names[:2]))


def _apply_present(manager: Manager, request: Request, plan: Plan,
                   deadline: float) -> None:
    _write_files(plan)

    # Enabling before the reload lets the one reload also pick up the new
    # default.target.wants link.  The reload is what applies changed
    # properties to running units: no runtime drop-in is ever written.
    if plan.enable:
        manager.enable(plan.enable)
    if plan.reload:
        manager.reload()
    for name in plan.start:
        manager.run_job("StartUnit", name, timeout=_left(deadline))
    for name in plan.restart:
        manager.run_job("RestartUnit", name, timeout=_left(deadline))

    slice_unit = manager.unit(request.slice_name) or {}
    if slice_unit.get("ActiveState") != "active":
        raise HostError(request.slice_name,
                        f"is {slice_unit.get('ActiveState', 'not loaded')} "
                        f"after starting it",
                        f"Look at systemctl --user status "
                        f"{request.slice_name} as {request.account.name}")
    if request.scope_name:
        _wait_for_placeholder(manager, request, plan, deadline)


def _apply_absent(manager: Manager, request: Request, plan: Plan,
                  mount: str, deadline: float) -> None:
    for name in plan.stop:
        manager.run_job("StopUnit", name, timeout=_left(deadline))
    if plan.disable:
        manager.disable(plan.disable)
    _write_files(plan)
    if plan.reload:
        manager.reload()
    _settle_leftovers(manager, request, plan, mount, deadline)


def _settle_leftovers(manager: Manager, request: Request, plan: Plan,
                      mount: str, deadline: float) -> None:
    # Without their files the units fall back to no limits.  An empty
    # slice is stopped and then forgotten; a slice or a scope that still
    # holds a process (a game the launcher moved there) is not killed.
    if request.scope_name:
        # Populated rather than active: the scope may take a moment to
        # notice that the placeholder is gone.
        scope = manager.unit(request.scope_name) or {}
        if scope.get("ControlGroup") and \
                is_populated(cgroup_dir(mount, scope["ControlGroup"])):
            plan.warnings.append(
                f"{request.scope_name} still holds processes that gaming-box "
                f"did not start; it goes away when the last of them exits")
    slice_file = request.paths.unit_file(request.slice_name)
    if any(change.path == slice_file for change in plan.files):
        unit = manager.unit(request.slice_name) or {}
        group = unit.get("ControlGroup")
        if unit.get("ActiveState") != "active" or not group:
            return
        if is_populated(cgroup_dir(mount, group)):
            plan.warnings.append(
                f"{request.slice_name} still holds processes, so it stays "
                f"active, without limits, until the user manager stops")
        else:
            manager.run_job("StopUnit", request.slice_name,
                            timeout=_left(deadline))


def _write_files(plan: Plan) -> None:
    for change in plan.files:
        if change.after is None:
            remove_file(change.path)
            _remove_empty_dir(os.path.dirname(change.path))
        else:
            make_dirs(os.path.dirname(change.path), mode=0o755)
            write_atomic(change.path, change.after, mode=0o644)


def _remove_empty_dir(directory: str) -> None:
    # Only a drop-in directory ("NAME.d") is ours to remove, and only
    # when nothing else is in it.
    if not directory.endswith(".d"):
        return
    try:
        os.rmdir(directory)
    except OSError as exc:
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT):
            raise HostError(directory, f"cannot be removed: {exc.strerror}",
                            "Remove it by hand") from exc


def _wait_for_placeholder(manager: Manager, request: Request, plan: Plan,
                          deadline: float) -> None:
    """Wait until our scope runs in the right slice.

    Normally the placeholder's process is in it.  A game can still hold a
    scope whose placeholder died or was removed; then the placeholder
    keeps retrying and takes over once the game has exited.
    """
    seen = {}

    def scope_is_up() -> dict:
        service = manager.unit(request.service_name) or {}
        scope = manager.unit(request.scope_name) or {}
        seen.update(service=service.get("ActiveState", "not loaded"),
                    scope=scope.get("ActiveState", "not loaded"))
        up = (scope.get("ActiveState") == "active"
              and scope.get("Slice") == request.slice_name
              and scope.get("Description") ==
              scope_description(request.scope_name))
        return {"service": service, "scope": scope} if up else {}

    units = _wait_for(
        scope_is_up, deadline=deadline,
        what=f"{request.scope_name} in {request.slice_name} with its "
             f"placeholder {request.service_name}",
        fix=f"Look at journalctl --user -u {request.service_name} as "
            f"{request.account.name}; a process may still hold the "
            f"{request.scope_name} of another slice",
        detail=lambda: f"service {seen.get('service')}, scope "
                       f"{seen.get('scope')}")

    pid = units["service"].get("MainPID") or 0
    if not pid or cgroup_of_pid(pid) != units["scope"].get("ControlGroup"):
        plan.warnings.append(
            f"{request.scope_name} is held by processes gaming-box did not "
            f"start; its placeholder takes over when they have exited")


def _report(request: Request, plan: Plan, before: Snapshot, after: Snapshot,
            *, mount: str, manager_cgroup: str, delegated: list[str],
            check_mode: bool) -> dict:
    slice_group = _unit_group(after, request.slice_name, f"{manager_cgroup}/"
                              f"{slice_cgroup_path(request.slice_name)}")
    target_group = slice_group
    placeholder = None
    if request.scope_name:
        target_group = _unit_group(after, request.scope_name,
                                   f"{slice_group}/{request.scope_name}")
        placeholder = _placeholder(after, request)
    target_path = cgroup_dir(mount, target_group)

    properties = {name: from_bus(unit)
                  for name, unit in after.units.items()
                  if unit and name != request.service_name}
    return {
        "changed": plan.changed,
        "user": request.account.name,
        "uid": request.account.uid,
        "cgroup_path": target_path,
        "slice_cgroup_path": cgroup_dir(mount, slice_group),
        "controllers": read_controllers(target_path),
        "delegated_controllers": delegated,
        "properties": properties,
        "placeholder": placeholder,
        "files": [path for path, text in after.files.items()
                  if is_ours(text)],
        "diff": diff_files(plan) + [_property_diff(request, before, after,
                                                   check_mode)],
        "warnings": plan.warnings + _mismatches(request, after, check_mode),
    }


def _unit_group(snapshot: Snapshot, name: str, predicted: str) -> str:
    # An active unit says where its cgroup is; otherwise say where it will
    # be once the unit starts.
    unit = snapshot.units.get(name) or {}
    return unit.get("ControlGroup") or predicted


def _placeholder(snapshot: Snapshot, request: Request) -> dict:
    service = snapshot.units.get(request.service_name) or {}
    return {
        "unit": request.service_name,
        "pid": service.get("MainPID") or None,
        "active": service.get("ActiveState") == "active",
        "file": request.paths.unit_file(request.service_name),
    }


def _property_diff(request: Request, before: Snapshot, after: Snapshot,
                   check_mode: bool) -> dict:
    names = managed_properties(request, before.files)
    shown_before = {unit: _pick(before, unit, props)
                    for unit, props in names.items()}
    if not check_mode:
        shown_after = {unit: _pick(after, unit, props)
                       for unit, props in names.items()}
    else:
        shown_after = {unit: _predicted(request, unit, props)
                       for unit, props in names.items()}
    return {"before_header": "properties in effect",
            "after_header": "properties in effect",
            "before": shown_before, "after": shown_after}


def _pick(snapshot: Snapshot, unit: str, names: list[str]) -> dict:
    effective = from_bus(snapshot.units.get(unit) or {})
    return {name: effective.get(name) for name in names}


def _predicted(request: Request, unit: str, names: list[str]) -> dict:
    settings = (request.slice_settings if unit == request.slice_name
                else request.scope_settings)
    if request.state == "absent":
        settings = {}
    return {name: (settings[name].expected
                   if settings[name].expected is not None
                   else settings[name].text) if name in settings
            else "(systemd default)"
            for name in names}


def _mismatches(request: Request, after: Snapshot,
                check_mode: bool) -> list[str]:
    """Warn where a property in effect is not what the file says."""
    if check_mode or request.state == "absent":
        return []
    warnings = []
    for unit, settings in ((request.slice_name, request.slice_settings),
                           (request.scope_name, request.scope_settings)):
        effective = from_bus(after.units.get(unit) or {})
        for name, setting in settings.items():
            if setting.expected is None or name not in effective:
                continue
            if effective[name] != setting.expected:
                dropins = (after.units.get(unit) or {}).get("DropInPaths")
                warnings.append(
                    f"{unit}: {name} is {effective[name]!r} in effect, not "
                    f"{setting.expected!r}; another drop-in may override it "
                    f"({', '.join(dropins or []) or 'none found'})")
    return warnings


def _wait_for(condition: Callable[[], T], *, deadline: float, what: str,
              fix: str, detail: Callable[[], str] | None = None) -> T:
    """Poll ``condition`` until it returns something true, and return it."""
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            extra = f" ({detail()})" if detail else ""
            raise HostError(what, f"was not ready in time{extra}", fix)
        time.sleep(_POLL_SECONDS)


def _left(deadline: float) -> float:
    return max(deadline - time.monotonic(), 1.0)
