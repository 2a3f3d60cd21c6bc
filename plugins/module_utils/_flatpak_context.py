# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a flatpak override file means, read and written in process.

``Overrides`` holds what flatpak 1.14 takes from an override file: the
permissions of the [Context] group, the environment, the bus policies and
the generic [Policy ...] groups.  ``load`` reads a key file the way flatpak
does (the last of two contradicting entries wins, unknown words are
skipped, bad characters fail the whole file); ``store`` writes a changed
model back and touches only the keys whose meaning changed.  Entries this
flatpak does not know are kept as they were, for a newer flatpak to read.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

from ._errors import HostError
from ._flatpak_syntax import (
    BUS_POLICIES,
    DEVICES,
    FEATURES,
    HOST_RESET,
    SHARES,
    SOCKETS,
    BadFilesystem,
    bus_name_problem,
    format_filesystem,
    parse_filesystem,
    path_problem,
)
from ._keyfile import (
    KeyFile,
    KeyFileValueError,
    decode_list,
    decode_string,
    encode_list,
    encode_string,
    is_key_name,
)

__all__ = ["BUS_GROUPS", "FLAG_KEYS", "Overrides", "load", "store"]

CONTEXT = "Context"
ENVIRONMENT = "Environment"
UNSET_ENVIRONMENT = "unset-environment"
POLICY_PREFIX = "Policy "
# Option name -> the words flatpak 1.14 knows for that [Context] key.
FLAG_KEYS = {"shared": SHARES, "sockets": SOCKETS, "devices": DEVICES,
             "features": FEATURES}
BUS_GROUPS = {"session_bus": "Session Bus Policy",
              "system_bus": "System Bus Policy"}
_LIST_KEYS = (*FLAG_KEYS, "filesystems", "persistent", UNSET_ENVIRONMENT)


@dataclass
class Overrides:
    """One override file's meaning; dicts keep the order entries came in."""

    shared: dict[str, bool] = field(default_factory=dict)
    sockets: dict[str, bool] = field(default_factory=dict)
    devices: dict[str, bool] = field(default_factory=dict)
    features: dict[str, bool] = field(default_factory=dict)
    filesystems: dict[str, str] = field(default_factory=dict)
    persistent: dict[str, None] = field(default_factory=dict)
    environment: dict[str, str | None] = field(default_factory=dict)
    session_bus: dict[str, str] = field(default_factory=dict)
    system_bus: dict[str, str] = field(default_factory=dict)
    # (subsystem, key) -> values, "!value" for a removed one.
    policies: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # [Context] key -> list entries, or bus group -> names, that flatpak
    # 1.14 skips; kept so a newer flatpak still finds them.
    unknown: dict[str, list[str]] = field(default_factory=dict)

    def meaning(self) -> dict:
        """A comparable form: entry order means nothing to flatpak."""
        plain = {name: dict(getattr(self, name)) for name in (
            *FLAG_KEYS, "filesystems", "persistent", "environment",
            *BUS_GROUPS)}
        plain["policies"] = {key: sorted(values)
                             for key, values in self.policies.items()
                             if values}
        plain["unknown"] = {key: sorted(values)
                            for key, values in self.unknown.items() if values}
        return plain

    def copy(self) -> "Overrides":
        return copy.deepcopy(self)

    def apply_policy(self, subsystem: str, key: str, value: str) -> None:
        """Add ``value`` (or "!value") as flatpak does: once, at the end."""
        bare = _split_negation(value)[0]
        kept = [old for old in self.policies.get((subsystem, key), [])
                if _split_negation(old)[0] != bare]
        self.policies[(subsystem, key)] = [*kept, value]

    def report(self) -> dict:
        """The model in the words `flatpak override` uses, for the result."""
        result = {name: [word if allowed else f"!{word}"
                         for word, allowed in getattr(self, name).items()]
                  for name in FLAG_KEYS}
        result["filesystems"] = _filesystem_entries(self.filesystems)
        result["persistent"] = list(self.persistent)
        result["environment"] = {name: value for name, value
                                 in self.environment.items()
                                 if value is not None}
        result["unset_environment"] = [name for name, value
                                       in self.environment.items()
                                       if value is None]
        for name in BUS_GROUPS:
            result[name] = dict(getattr(self, name))
        result["policies"] = {f"{subsystem}.{key}": list(values)
                              for (subsystem, key), values
                              in self.policies.items() if values}
        return result


def load(keyfile: KeyFile, *, origin: str) -> Overrides:
    """Read the overrides flatpak 1.14 would take from ``keyfile``."""
    model = Overrides()

    for name, words in FLAG_KEYS.items():
        for entry in _context_list(keyfile, name, origin):
            word, negated = _split_negation(entry)
            if word in words:
                getattr(model, name)[word] = not negated
            else:
                model.unknown.setdefault(name, []).append(entry)

    for entry in _context_list(keyfile, "filesystems", origin):
        _load_filesystem(model, entry, origin)

    for path in _context_list(keyfile, "persistent", origin):
        problem = path_problem(path)
        if problem:
            raise _unreadable(origin, f"persistent path {path!r}: {problem}")
        model.persistent[path] = None

    for name, group in BUS_GROUPS.items():
        _load_bus_policy(model, keyfile, name, group, origin)

    _load_environment(model, keyfile, origin)
    _load_policies(model, keyfile)
    return model


def store(keyfile: KeyFile, before: Overrides, after: Overrides) -> None:
    """Write into ``keyfile`` what differs between ``before`` and ``after``.

    Keys whose meaning did not change keep their lines as they were.
    """
    for name in FLAG_KEYS:
        entries = [word if allowed else f"!{word}"
                   for word, allowed in getattr(after, name).items()]
        _store_list(keyfile, name, before, after, entries)

    _store_list(keyfile, "filesystems", before, after,
                _filesystem_entries(after.filesystems))
    _store_list(keyfile, "persistent", before, after, list(after.persistent))

    for name, group in BUS_GROUPS.items():
        _store_bus_policy(keyfile, name, group, before, after)

    _store_environment(keyfile, before, after)
    _store_policies(keyfile, before, after)

    keyfile.drop_group_if_empty(CONTEXT)


def _context_list(keyfile: KeyFile, key: str, origin: str) -> list[str]:
    raw = keyfile.get(CONTEXT, key)
    if raw is None:
        return []
    try:
        return decode_list(raw)
    except KeyFileValueError as exc:
        raise _unreadable(origin, f"[{CONTEXT}] {key}: {exc}") from exc


def _split_negation(entry: str) -> tuple[str, bool]:
    return (entry[1:], True) if entry.startswith("!") else (entry, False)


def _untranslated_keys(keyfile: KeyFile, group: str) -> list[str]:
    # flatpak loads without G_KEY_FILE_KEEP_TRANSLATIONS, so "KEY[xx]"
    # lines do not reach it outside that locale; they are left alone.
    return [key for key in keyfile.keys(group) if "[" not in key]


def _load_filesystem(model: Overrides, entry: str, origin: str) -> None:
    value, negated = _split_negation(entry)
    try:
        location, mode = parse_filesystem(value, negated=negated)
    except BadFilesystem as exc:
        if exc.fatal:
            raise _unreadable(origin,
                              f"filesystem entry {entry!r}: {exc}") from exc
        model.unknown.setdefault("filesystems", []).append(entry)
        return
    if location == HOST_RESET:
        # "!host:reset" also hides host itself.
        model.filesystems["host"] = "none"
    model.filesystems[location] = mode


def _load_bus_policy(model: Overrides, keyfile: KeyFile, name: str,
                     group: str, origin: str) -> None:
    policies = getattr(model, name)
    for bus_name in _untranslated_keys(keyfile, group):
        problem = bus_name_problem(bus_name)
        if problem:
            raise _unreadable(origin, f"[{group}] {bus_name}: {problem}")
        policy = decode_string(keyfile.get(group, bus_name))
        if policy in BUS_POLICIES:
            policies[bus_name] = policy
        else:
            model.unknown.setdefault(group, []).append(bus_name)


def _load_environment(model: Overrides, keyfile: KeyFile,
                      origin: str) -> None:
    for name in _untranslated_keys(keyfile, ENVIRONMENT):
        raw = keyfile.get(ENVIRONMENT, name)
        model.environment[name] = decode_string(raw)
    # The list wins over [Environment]: flatpak writes an unset variable
    # into both, as "NAME=" for flatpak versions older than the list.
    for name in _context_list(keyfile, UNSET_ENVIRONMENT, origin):
        model.environment[name] = None


def _load_policies(model: Overrides, keyfile: KeyFile) -> None:
    for group in keyfile.groups():
        if not group.startswith(POLICY_PREFIX):
            continue
        subsystem = group[len(POLICY_PREFIX):]
        for key in _untranslated_keys(keyfile, group):
            try:
                values = decode_list(keyfile.get(group, key))
            except KeyFileValueError:
                # flatpak skips an unreadable policy and loads the rest.
                continue
            for value in values:
                model.apply_policy(subsystem, key, value)


def _filesystem_entries(filesystems: dict[str, str]) -> list[str]:
    # "!host:reset" first: it hides host, and a later "host" entry may
    # grant it again.
    ordered = sorted(filesystems.items(), key=lambda item: item[0]
                     != HOST_RESET)
    return [format_filesystem(location, mode) for location, mode in ordered]


def _store_list(keyfile: KeyFile, key: str, before: Overrides,
                after: Overrides, entries: list[str]) -> None:
    old = before.meaning()
    new = after.meaning()
    if old[key] == new[key] and old["unknown"].get(key) == \
            new["unknown"].get(key):
        return
    entries = entries + after.unknown.get(key, [])
    if entries:
        keyfile.set(CONTEXT, key, encode_list(entries))
    else:
        keyfile.remove(CONTEXT, key)


def _store_bus_policy(keyfile: KeyFile, name: str, group: str,
                      before: Overrides, after: Overrides) -> None:
    old, new = getattr(before, name), getattr(after, name)
    unknown = set(after.unknown.get(group, []))
    for bus_name in [*old, *before.unknown.get(group, [])]:
        if bus_name not in new and bus_name not in unknown:
            keyfile.remove(group, bus_name)
    for bus_name, policy in new.items():
        if old.get(bus_name) != policy:
            keyfile.set(group, bus_name, encode_string(policy))
    keyfile.drop_group_if_empty(group)


def _store_environment(keyfile: KeyFile, before: Overrides,
                       after: Overrides) -> None:
    old, new = before.environment, after.environment
    for name in old:
        if name not in new:
            keyfile.remove(ENVIRONMENT, name)
    for name, value in new.items():
        if name in old and old[name] == value:
            continue
        if is_key_name(name):
            keyfile.set(ENVIRONMENT, name, encode_string(value or ""))
    keyfile.drop_group_if_empty(ENVIRONMENT)

    unset = [name for name, value in new.items() if value is None]
    if unset == [name for name, value in old.items() if value is None]:
        return
    if unset:
        keyfile.set(CONTEXT, UNSET_ENVIRONMENT, encode_list(unset))
    else:
        keyfile.remove(CONTEXT, UNSET_ENVIRONMENT)


def _store_policies(keyfile: KeyFile, before: Overrides,
                    after: Overrides) -> None:
    keys = [*before.policies, *(k for k in after.policies
                                if k not in before.policies)]
    for subsystem, key in keys:
        old = sorted(before.policies.get((subsystem, key), []))
        values = after.policies.get((subsystem, key), [])
        if old == sorted(values):
            continue
        group = POLICY_PREFIX + subsystem
        if values:
            keyfile.set(group, key, encode_list(values))
        else:
            keyfile.remove(group, key)
            keyfile.drop_group_if_empty(group)


def _unreadable(origin: str, cause: str) -> HostError:
    return HostError(
        origin, f"flatpak 1.14 cannot read this override file ({cause})",
        "Correct the entry by hand, or remove the file with state=absent "
        "and describe the overrides again")
