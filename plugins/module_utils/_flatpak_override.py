# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The backend of the flatpak_override module: validate, plan, write, report.

A task's entries become ``Change`` objects, each checked the way the
`flatpak override` command checks its arguments.  The planner applies them
to the model of the current file with the command's merge rules, and the
file is written only when what flatpak reads from it changes.
"""

from __future__ import annotations

import os
import shutil
import stat
from dataclasses import dataclass, replace

from ._errors import HostError, InvalidInput
from ._files import make_dirs, read_text, remove_file, write_atomic
from ._flatpak_context import BUS_GROUPS, FLAG_KEYS, Overrides, load, store
from ._flatpak_syntax import (
    HOST_RESET,
    BadFilesystem,
    app_id_problem,
    bus_name_problem,
    parse_filesystem,
    path_problem,
)
from ._keyfile import KeyFile, is_group_name, is_key_name
from ._users import resolve_account

__all__ = ["Change", "Target", "locate", "manage_override", "parse_changes",
           "plan"]

GLOBAL = "global"
SYSTEM_OVERRIDES = "/var/lib/flatpak/overrides"
USER_OVERRIDES = ".local/share/flatpak/overrides"


@dataclass(frozen=True)
class Change:
    """One entry of the task: set (``present``) or drop one override."""

    option: str
    index: int
    identity: tuple
    value: object
    present: bool

    @property
    def label(self) -> str:
        return f"{self.option}[{self.index}]"


@dataclass(frozen=True)
class Target:
    """The override file and who must own it."""

    path: str
    uid: int = -1
    gid: int = -1
    # Root writing into a tree another user controls must not follow the
    # links that user may have planted there.
    guarded_below: str | None = None
    system: bool = False


def manage_override(params: dict, *, check_mode: bool, diff: bool) -> dict:
    """Bring one override file to the state the task describes."""
    changes = parse_changes(params)
    target = locate(app=params["app"], scope=params["scope"],
                    user=params.get("user"),
                    overrides_dir=params.get("overrides_dir"))

    _refuse_links(target)
    before_text = read_text(target.path)
    before_doc = KeyFile.parse(before_text or "", origin=target.path)
    before = load(before_doc, origin=target.path)

    if params["state"] == "absent":
        after, after_text = Overrides(), None
        changed = before_text is not None
    else:
        after = plan(before, changes, exclusive=params["exclusive"])
        after_text = _render(before_doc, before, after, target.path)
        if not after_text.strip():
            # Nothing is left for flatpak to read: remove the file, as
            # `flatpak override --reset` does, rather than leave it empty.
            after_text = None
        changed = after.meaning() != before.meaning()
        if not changed:
            after_text = before_text

    if changed and not check_mode:
        _apply(target, after_text)

    result = {"changed": changed, "path": target.path,
              "flatpak_installed": _flatpak_installed(),
              "overrides": after.report()}
    if diff:
        result["diff"] = {"before": before_text or "",
                          "after": after_text or "",
                          "before_header": target.path,
                          "after_header": target.path}
    return result


def parse_changes(params: dict) -> list[Change]:
    """Turn the task's entries into changes; refuse what flatpak would."""
    changes = []
    for option in FLAG_KEYS:
        for index, entry in enumerate(params.get(option) or []):
            changes.append(Change(option, index, (option, entry["name"]),
                                  bool(entry["allow"]),
                                  entry["state"] == "present"))
    for option, parse in _PARSERS.items():
        for index, entry in enumerate(params.get(option) or []):
            changes.append(parse(option, index, entry))

    # What an absent entry would have set does not matter.
    changes = [c if c.present else replace(c, value=None) for c in changes]
    _refuse_conflicts(changes)
    return changes


def plan(current: Overrides, changes: list[Change], *,
         exclusive: bool) -> Overrides:
    """The overrides after ``changes``, merged as `flatpak override` does."""
    model = Overrides() if exclusive else current.copy()

    resets = [c for c in changes if c.present
              and c.identity == ("filesystems", HOST_RESET)]
    if resets:
        # The command forgets every filesystem entry of the file when it
        # is given host:reset; entries of the same task still apply.
        model.filesystems.clear()

    for change in resets + [c for c in changes if c not in resets]:
        _APPLY[change.option](model, change)

    if HOST_RESET in model.filesystems:
        # flatpak reads "!host:reset" as hiding host too.
        model.filesystems.setdefault("host", "none")
    return model


def locate(*, app: str, scope: str, user: str | int | None,
           overrides_dir: str | None) -> Target:
    """Find the override file of ``app`` (or ``global``) for the scope."""
    problem = app_id_problem(app) if app != GLOBAL else None
    if problem:
        raise InvalidInput(
            f"app {app!r}", f"flatpak would refuse it: {problem}",
            f"Give the application id as flatpak lists it (flatpak list "
            f"--app --columns=application), or {GLOBAL} for every app")

    if scope == "system":
        if user not in (None, ""):
            raise InvalidInput(
                f"user {user!r}", "system-wide overrides belong to no user",
                "Leave user unset with scope=system, or use scope=user")
        directory = overrides_dir or SYSTEM_OVERRIDES
        # Only the real system directory needs the friendlier root check;
        # for another directory its permissions speak for themselves.
        return Target(path=os.path.join(directory, app),
                      system=overrides_dir is None)

    account = resolve_account(user)
    if overrides_dir is None and not os.path.isdir(account.home):
        raise HostError(
            f"home directory {account.home}",
            f"of user {account.name} does not exist",
            "Create the home directory first, or set overrides_dir")
    directory = overrides_dir or os.path.join(account.home, USER_OVERRIDES)
    if account.is_caller:
        return Target(path=os.path.join(directory, app))
    return Target(path=os.path.join(directory, app), uid=account.uid,
                  gid=account.gid, guarded_below=account.home)


def _flag_change(model: Overrides, change: Change) -> None:
    name = change.identity[1]
    words = getattr(model, change.option)
    # The command turns fallback-x11 on or off together with x11.
    affected = [name, "x11"] if name == "fallback-x11" and change.present \
        else [name]
    for word in affected:
        if change.present:
            words[word] = change.value
        else:
            words.pop(word, None)


def _keyed_change(model: Overrides, change: Change) -> None:
    entries = getattr(model, change.option)
    key = change.identity[1]
    if not change.present:
        entries.pop(key, None)
    elif change.identity == ("filesystems", HOST_RESET):
        entries[HOST_RESET] = "none"
        entries["host"] = "none"
    else:
        entries[key] = change.value


def _policy_change(model: Overrides, change: Change) -> None:
    subsystem, key, value = change.identity[1:]
    if change.present:
        model.apply_policy(subsystem, key,
                           value if change.value else f"!{value}")
        return
    values = model.policies.get((subsystem, key), [])
    model.policies[(subsystem, key)] = [
        old for old in values if old not in (value, f"!{value}")]


_APPLY = {**{option: _flag_change for option in FLAG_KEYS},
          "filesystems": _keyed_change, "persistent": _keyed_change,
          "environment": _keyed_change, "session_bus": _keyed_change,
          "system_bus": _keyed_change, "policies": _policy_change}


def _parse_filesystem(option: str, index: int, entry: dict) -> Change:
    path, mode = entry["path"], entry["mode"] or "rw"
    subject = f"{option}[{index}] path {path!r}"
    if mode == "reset" and path != "host":
        raise InvalidInput(subject, "mode=reset applies to host only",
                           "Use path=host with mode=reset, or mode=none "
                           "to hide this location")
    if ":" in path and path.rsplit(":", 1)[1] in ("ro", "rw", "create",
                                                  "reset"):
        raise InvalidInput(subject, "it ends in what flatpak writes as an "
                           "access suffix, and path is taken literally",
                           "Drop the suffix and set mode instead")

    # The path is literal: colons and backslashes are escaped the way the
    # command expects them, so only flatpak's location rules apply.
    literal = path.replace("\\", "\\\\").replace(":", "\\:")
    try:
        location = parse_filesystem(literal,
                                    negated=mode in ("none", "reset"))[0]
    except BadFilesystem as exc:
        raise InvalidInput(subject, f"flatpak would refuse it: {exc}",
                           "Give an absolute path, ~/path, host, host-os, "
                           "host-etc, home or xdg-*[/path]") from exc

    if mode == "reset":
        return Change(option, index, (option, HOST_RESET), "none",
                      entry["state"] == "present")
    return Change(option, index, (option, location), mode,
                  entry["state"] == "present")


def _parse_persistent(option: str, index: int, entry: dict) -> Change:
    path = entry["path"]
    problem = path_problem(path) or (None if path else "it is empty")
    if not problem and ".." in path.split("/"):
        # flatpak run fails on it ("'..' not supported in --persist paths"),
        # so the launcher would no longer start at all.
        problem = "it has a '..' component"
    if not problem and path.startswith("/"):
        problem = "it is absolute, and persistent paths are relative"
    if problem:
        raise InvalidInput(f"{option}[{index}] path {path!r}",
                           f"flatpak would refuse it: {problem}",
                           "Give a path relative to the home directory, "
                           "such as .steam")
    return Change(option, index, (option, path), None,
                  entry["state"] == "present")


def _parse_environment(option: str, index: int, entry: dict) -> Change:
    name, value = entry["name"], entry.get("value")
    unset, present = bool(entry.get("unset")), entry["state"] == "present"
    subject = f"{option}[{index}] name {name!r}"
    if not is_key_name(name) or any(ord(ch) < 0x20 for ch in name):
        raise InvalidInput(subject,
                           "an environment variable name must be non-empty "
                           "and hold no '=', '[', ']', control characters, "
                           "leading '#' or surrounding spaces",
                           "Correct the variable name")
    if value is not None and ("\0" in value or value[:1] in ("\v", "\f")):
        raise InvalidInput(subject, "the value holds a NUL character or "
                           "starts with a vertical tab or form feed, which "
                           "an override file cannot hold",
                           "Remove that character from the value")
    if present and unset == (value is not None):
        raise InvalidInput(subject, "give either value or unset=true",
                           "Set value to define the variable, or unset=true "
                           "to remove it inside the sandbox")
    return Change(option, index, (option, name),
                  None if unset else value, present)


def _parse_bus(option: str, index: int, entry: dict) -> Change:
    name = entry["name"]
    problem = bus_name_problem(name)
    if problem:
        raise InvalidInput(f"{option}[{index}] name {name!r}",
                           f"flatpak would refuse it: {problem}",
                           "Give a well-known name such as "
                           "org.freedesktop.Notifications or org.mpris.*")
    return Change(option, index, (option, name), entry["policy"],
                  entry["state"] == "present")


def _parse_policy(option: str, index: int, entry: dict) -> Change:
    subsystem, key, value = entry["subsystem"], entry["key"], entry["value"]
    subject = f"{option}[{index}] {subsystem}.{key}={value}"
    if (not subsystem or any(ch in ".=" for ch in subsystem)
            or not is_group_name(f"Policy {subsystem}")
            or not is_key_name(key) or "=" in key):
        raise InvalidInput(subject,
                           "the subsystem must be a word without '.', "
                           "'[' or ']', and the key a valid key name",
                           "Correct subsystem and key")
    if value.startswith("!") or "\0" in value:
        raise InvalidInput(subject, "a policy value cannot start with '!' "
                           "nor hold a NUL character",
                           "Set allow=false to remove a value instead")
    return Change(option, index, (option, subsystem, key, value),
                  bool(entry["allow"]), entry["state"] == "present")


_PARSERS = {"filesystems": _parse_filesystem,
            "persistent": _parse_persistent,
            "environment": _parse_environment,
            **{option: _parse_bus for option in BUS_GROUPS},
            "policies": _parse_policy}


def _refuse_conflicts(changes: list[Change]) -> None:
    seen: dict[tuple, Change] = {}
    for change in changes:
        first = seen.setdefault(change.identity, change)
        if (first.value, first.present) != (change.value, change.present):
            raise InvalidInput(
                f"{first.label} and {change.label}",
                f"both describe {change.identity[-1]!r} but disagree",
                "Keep one entry for it")

    fallback = seen.get(("sockets", "fallback-x11"))
    x11 = seen.get(("sockets", "x11"))
    if fallback and fallback.present and x11 and (
            not x11.present or x11.value != fallback.value):
        raise InvalidInput(
            f"{fallback.label} and {x11.label}",
            "fallback-x11 also sets x11, and the two entries disagree",
            "Drop the x11 entry or give it the same allow value")


def _render(document: KeyFile, before: Overrides, after: Overrides,
            path: str) -> str:
    store(document, before, after)
    text = document.render()

    # A writer bug must not reach a file flatpak reads.
    reread = load(KeyFile.parse(text, origin=path), origin=path)
    if reread.meaning() != after.meaning():
        raise HostError(path, "the edited file would not read back as "
                        "planned (a gaming-box bug); nothing was written",
                        "Report the task's arguments and the current file")
    return text


def _refuse_links(target: Target) -> None:
    if target.guarded_below is None:
        return
    top = os.path.abspath(target.guarded_below)
    current = os.path.abspath(target.path)
    while current.startswith(top + os.sep):
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            info = None
        if info is not None and stat.S_ISLNK(info.st_mode):
            raise HostError(
                current, "is a symbolic link inside another user's home, "
                "and root does not follow links that user controls",
                "Replace the link by the real directory or file, or set "
                "overrides_dir to the real location")
        current = os.path.dirname(current)


def _apply(target: Target, text: str | None) -> None:
    if target.system and os.geteuid() != 0:
        raise HostError(target.path,
                        "only root may change system-wide overrides",
                        "Use become: true, or scope=user")
    if text is None:
        remove_file(target.path)
        return
    make_dirs(os.path.dirname(target.path), uid=target.uid, gid=target.gid)
    write_atomic(target.path, text, uid=target.uid, gid=target.gid)


def _flatpak_installed() -> bool:
    # Ansible may run the module with a short PATH.
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin",
                              "/usr/local/bin", "/bin"])
    return shutil.which("flatpak", path=search) is not None
