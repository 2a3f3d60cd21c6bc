# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The on-disk spec of a cgroup filter, and where its pieces live.

One root-owned JSON file per filter holds everything the boot-time loader
needs: the target cgroup, the allow-list as the task gave it (for diffs),
the relocatable bytecode of each hook and the maps with their entries
already encoded.  The loader reads it with json and ctypes alone.

A *generation* is the digest of what ends up in the kernel (bytecode, map
contents, cgroup, hooks).  Its objects are pinned under
``PIN_ROOT/NAME/GENERATION/``; the counters, shared by all generations of a
filter, under ``PIN_ROOT/NAME/counters``.  An allow-list change makes a new
generation, attached before the old one is detached.

Imported by the boot-time loader: stdlib json and os only, no dataclasses.
"""

from __future__ import annotations

import collections
import json
import os

from ._errors import HostError, InvalidInput

__all__ = [
    "FORMAT",
    "FilterSpec",
    "MapSpec",
    "PIN_ROOT",
    "ProgramSpec",
    "SPEC_DIR",
    "check_name",
    "list_specs",
    "read_spec",
    "spec_path",
]

FORMAT = 1
SPEC_DIR = "/var/lib/gaming-box/netfilter"
PIN_ROOT = "/sys/fs/bpf/gaming-box"
COUNTERS_PIN = "counters"

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_-")


def check_name(name: object) -> str:
    """Return ``name`` if it can be a file, unit and bpffs name."""
    if not isinstance(name, str) or not 1 <= len(name) <= 40 or \
            not set(name) <= _NAME_CHARS or name[0] in "-_":
        raise InvalidInput(
            f"name {name!r}",
            "must be 1 to 40 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit",
            "Pick a name such as games")
    return name


def spec_path(name: str, *, spec_dir: str = SPEC_DIR) -> str:
    return os.path.join(spec_dir, f"{name}.json")


class ProgramSpec(collections.namedtuple(
        "ProgramSpec", "hook function prog_type attach_type ingress insns "
                       "relocations")):
    """Bytecode of one hook with its map relocations."""

    __slots__ = ()

    def as_dict(self) -> dict:
        data = self._asdict()
        data["insns"] = self.insns.hex()
        data["relocations"] = [list(pair) for pair in self.relocations]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "ProgramSpec":
        return cls(hook=str(data["hook"]), function=str(data["function"]),
                   prog_type=int(data["prog_type"]),
                   attach_type=int(data["attach_type"]),
                   ingress=bool(data["ingress"]),
                   insns=bytes.fromhex(data["insns"]),
                   relocations=[[int(index), str(name)]
                                for index, name in data["relocations"]])


class MapSpec(collections.namedtuple(
        "MapSpec", "name map_type key_size value_size max_entries flags "
                   "per_filter entries")):
    """Shape of one map and, for allow-list maps, its encoded entries."""

    __slots__ = ()

    def as_dict(self) -> dict:
        data = self._asdict()
        data["entries"] = [[key.hex(), value.hex()]
                           for key, value in self.entries]
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "MapSpec":
        numbers = {field: int(data[field]) for field in
                   ("map_type", "key_size", "value_size", "max_entries",
                    "flags")}
        return cls(name=str(data["name"]), per_filter=bool(data["per_filter"]),
                   entries=[(bytes.fromhex(key), bytes.fromhex(value))
                            for key, value in data["entries"]], **numbers)


class FilterSpec:
    """Everything needed to put one filter on its cgroup again."""

    __slots__ = ("name", "cgroup", "ingress", "allow", "owner_uid",
                 "programs", "maps", "counter_names", "license", "build",
                 "generation")

    def __init__(self, *, name: str, cgroup: str, ingress: bool,
                 allow: list, owner_uid: int | None, programs: list,
                 maps: list, counter_names: list, license: str,
                 build: dict, generation: str = "") -> None:
        self.name = name
        self.cgroup = cgroup
        self.ingress = ingress
        self.allow = allow
        self.owner_uid = owner_uid
        self.programs = programs
        self.maps = maps
        self.counter_names = counter_names
        self.license = license
        self.build = build
        self.generation = generation or self.compute_generation()

    @property
    def pin_dir(self) -> str:
        return os.path.join(PIN_ROOT, self.name)

    @property
    def generation_dir(self) -> str:
        return os.path.join(PIN_ROOT, self.name, self.generation)

    @property
    def counters_pin(self) -> str:
        return os.path.join(PIN_ROOT, self.name, COUNTERS_PIN)

    def attached_programs(self) -> list:
        """The hooks this filter attaches: ingress only when asked."""
        return [program for program in self.programs
                if self.ingress or not program.ingress]

    def compute_generation(self) -> str:
        import hashlib  # only the task side renders specs

        kernel_side = {
            "cgroup": self.cgroup,
            "programs": [program.as_dict()
                         for program in self.attached_programs()],
            "maps": [shape.as_dict() for shape in self.maps],
            "license": self.license,
        }
        text = json.dumps(kernel_side, sort_keys=True)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]

    def as_dict(self) -> dict:
        return {
            "format": FORMAT,
            "name": self.name,
            "cgroup": self.cgroup,
            "ingress": self.ingress,
            "allow": self.allow,
            "owner_uid": self.owner_uid,
            "generation": self.generation,
            "counter_names": list(self.counter_names),
            "license": self.license,
            "build": dict(self.build),
            "maps": [shape.as_dict() for shape in self.maps],
            "programs": [program.as_dict() for program in self.programs],
        }

    def render(self) -> str:
        """The file text; the same spec always renders the same bytes."""
        return json.dumps(self.as_dict(), indent=1, sort_keys=True) + "\n"

    def summary(self) -> dict:
        """What a diff or a result shows about this spec."""
        return {"cgroup": self.cgroup, "allow": self.allow,
                "ingress": self.ingress, "generation": self.generation}

    @classmethod
    def parse(cls, text: str, *, path: str) -> "FilterSpec":
        fix = ("Run the cgroup_bpf_netfilter task again to rewrite it, or "
               "remove the file")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise HostError(path, f"is not JSON ({exc})", fix) from exc
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise HostError(path, f"is not a gaming-box filter spec of "
                                  f"format {FORMAT}", fix)
        try:
            return cls(
                name=check_name(data["name"]), cgroup=str(data["cgroup"]),
                ingress=bool(data["ingress"]), allow=list(data["allow"]),
                owner_uid=None if data["owner_uid"] is None
                else int(data["owner_uid"]),
                programs=[ProgramSpec.from_dict(item)
                          for item in data["programs"]],
                maps=[MapSpec.from_dict(item) for item in data["maps"]],
                counter_names=[str(item) for item in data["counter_names"]],
                license=str(data["license"]), build=dict(data["build"]),
                generation=str(data["generation"]))
        except (KeyError, TypeError, ValueError, InvalidInput) as exc:
            raise HostError(path, f"is incomplete or damaged ({exc!r})",
                            fix) from exc


def read_spec(name: str, *, spec_dir: str = SPEC_DIR) -> FilterSpec | None:
    """The spec of ``name``, or None when the filter was never set up."""
    path = spec_path(name, spec_dir=spec_dir)
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise HostError(path, f"cannot be read: {exc.strerror}",
                        "Check its permissions; the loader runs as root")\
            from exc
    return FilterSpec.parse(text, path=path)


def list_specs(*, spec_dir: str = SPEC_DIR) -> list:
    """Names of every stored filter, sorted."""
    try:
        files = os.listdir(spec_dir)
    except FileNotFoundError:
        return []
    return sorted(entry[:-len(".json")] for entry in files
                  if entry.endswith(".json") and not entry.startswith("."))
