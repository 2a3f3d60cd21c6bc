# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The cgroup_bpf_netfilter task: read the host, plan, apply, report.

The module hands its parameters here and gets the result back; every
failure is a GamingBoxError for the module to report.  Nothing on the host
changes before the plan is complete, and nothing at all in check mode.
"""

from __future__ import annotations

import errno
import os

from . import _bpf_sys as bpf
from . import _files
from ._bpf_program import HOOKS, compile_filter, source_digest
from ._errors import GamingBoxError, HostError
from ._netfilter_attach import (LOCK_DIR, ensure_attached, filter_lock,
                                inspect, read_counters, remove_filter)
from ._netfilter_cgroup import (ANCHOR, Target, cgroup2_mount, mounts,
                                open_cgroup, prepare_target, release_target,
                                resolve_target)
from ._netfilter_install import (LOADER_PATH, apply_plan, plan_install,
                                 plan_uninstall)
from ._netfilter_maps import COUNTER_NAMES, MAP_SHAPES, encode_allow_list
from ._netfilter_state import (PIN_ROOT, SPEC_DIR, FilterSpec, MapSpec,
                               ProgramSpec, check_name, list_specs,
                               read_spec, spec_path)
from ._netpolicy import parse_allow_list, self_check_targets

__all__ = ["run_task"]

BPFFS = "/sys/fs/bpf"
ATTACH_TYPES = {hook.name: hook.attach_type for hook in HOOKS}


def run_task(params: dict, *, check_mode: bool) -> dict:
    """Bring the filter NAME to ``params['state']``; return the result."""
    name = check_name(params["name"])
    if os.geteuid() != 0:
        raise HostError(
            "cgroup_bpf_netfilter",
            f"runs as uid {os.geteuid()}, but loading BPF programs and "
            f"writing systemd units needs root",
            "Run the task with become: true")
    mount = cgroup2_mount()

    if params["state"] == "absent":
        return _absent(name, params, mount=mount, check_mode=check_mode)
    return _present(name, params, mount=mount, check_mode=check_mode)


def _present(name: str, params: dict, *, mount: str,
             check_mode: bool) -> dict:
    allow = parse_allow_list(params["allow"])
    entries = encode_allow_list(allow)
    target = resolve_target(params["cgroup"], mount=mount)
    _require_bpffs()
    _require_reachable(target)
    _require_cgroup_bpf(target)

    old = read_spec(name)
    programs, license = _reusable_programs(old)
    compiled = programs is None and not check_mode
    if compiled:
        result = compile_filter()
        programs = [_program_spec(item) for item in result.programs]
        license = result.license
    new = None
    if programs is not None:
        new = _build_spec(name, target=target, allow=allow, entries=entries,
                          ingress=params["ingress"], programs=programs,
                          license=license)

    before = _observe(old, mount=mount)
    install = plan_install(name=name, uid=target.owner_uid)
    spec_changed = new is None or old is None or old.render() != new.render()
    attach_needed = new is None or not _observe(new, mount=mount)["attached"]
    changed = (spec_changed or attach_needed or install.changed or
               _anchor_needed(target))

    if changed and not check_mode:
        _apply_present(new, old=old, target=target, mount=mount,
                       install=install)

    if new is not None and not check_mode:
        after = _observe(new, mount=mount)
    else:
        after = _predicted(new, target=target, allow=allow,
                           ingress=params["ingress"])
    result = _result(changed=changed, before=before, after=after,
                     spec=new or old, compiled=compiled, name=name)
    result["filter"]["self_check"] = self_check_targets(allow)
    return result


def _apply_present(new: FilterSpec, *, old: FilterSpec | None,
                   target: Target, mount: str, install) -> None:
    apply_plan(install)
    _files.make_dirs(SPEC_DIR, mode=0o755)
    _files.write_atomic(spec_path(new.name), new.render(), mode=0o644)

    with filter_lock(new.name, lock_dir=LOCK_DIR):
        if old is not None and old.cgroup != new.cgroup:
            _leave_cgroup(old, mount=mount)
        if target.owner_uid is not None:
            prepare_target(target)
        fd = open_cgroup(target.path)
        try:
            ensure_attached(new, cgroup_fd=fd)
        finally:
            os.close(fd)


def _leave_cgroup(old: FilterSpec, *, mount: str) -> None:
    # The filter moves: clear the old cgroup of it before the new one gets
    # it, and hand the old directory back to its user.
    old_target = resolve_target(old.cgroup, mount=mount)
    if not old_target.exists:
        return
    fd = open_cgroup(old_target.path)
    try:
        remove_filter(name=old.name, cgroup_fd=fd, attach_types=ATTACH_TYPES,
                      unpin=False)
    finally:
        os.close(fd)
    release_target(old_target)


def _absent(name: str, params: dict, *, mount: str, check_mode: bool) -> dict:
    old = read_spec(name)
    cgroup = old.cgroup if old is not None else params.get("cgroup")
    target = resolve_target(cgroup, mount=mount) if cgroup else None
    pin_dir = os.path.join(PIN_ROOT, name)
    last = not [other for other in list_specs() if other != name]
    install = plan_uninstall(name=name, last=last)
    anchored = bool(target and target.owner_uid is not None and
                    os.path.isdir(os.path.join(target.path, ANCHOR)))
    changed = bool(old is not None or os.path.isdir(pin_dir) or
                   install.changed or anchored)

    before = _observe(old, mount=mount)
    counters = read_counters(old) if old is not None else {}
    if changed and not check_mode:
        with filter_lock(name, lock_dir=LOCK_DIR):
            fd = open_cgroup(target.path) if target and target.exists \
                else None
            try:
                remove_filter(name=name, cgroup_fd=fd,
                              attach_types=ATTACH_TYPES)
            finally:
                if fd is not None:
                    os.close(fd)
            if target is not None:
                release_target(target)
            _files.remove_file(spec_path(name))
        apply_plan(install)

    return {
        "changed": changed,
        "filter": {"name": name, "attached": False,
                   "cgroup": cgroup, "spec_path": spec_path(name),
                   "pin_dir": pin_dir},
        "counters": counters,
        "compiled": False,
        "diff": {"before": before, "after": {}},
    }


def _require_bpffs() -> None:
    if any(point == BPFFS and fstype == "bpf" for point, fstype in mounts()):
        return
    raise HostError(BPFFS, "is not a mounted BPF file system, so the filter "
                           "cannot be pinned",
                    "Mount it (mount -t bpf bpf /sys/fs/bpf); systemd does "
                    "this at boot unless told not to")


def _require_reachable(target: Target) -> None:
    if target.exists:
        return
    if target.owner_uid is None:
        raise HostError(f"cgroup {target.path}", "does not exist",
                        "Start the slice, scope or service that owns it "
                        "first, then run the task again")
    if not os.path.isdir(target.manager_dir):
        raise HostError(
            f"cgroup {target.path}",
            f"does not exist and user@{target.owner_uid}.service, which "
            f"would hold it, is not running",
            "Enable lingering (loginctl enable-linger) or log the user "
            "in, then run the task again")


def _require_cgroup_bpf(target: Target) -> None:
    probe = target.path if target.exists else target.manager_dir
    fd = open_cgroup(probe)
    try:
        for hook in HOOKS:
            bpf.prog_query(cgroup_fd=fd, attach_type=hook.attach_type)
    except bpf.BpfSyscallError as exc:
        if exc.errno in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise HostError(
                f"kernel {os.uname().release}",
                f"has no cgroup BPF support for the filter's hooks "
                f"({exc.cause})",
                "Boot a kernel with CONFIG_CGROUP_BPF and "
                "CONFIG_BPF_SYSCALL (Linux 4.17 or newer)") from exc
        raise
    finally:
        os.close(fd)


def _reusable_programs(old: FilterSpec | None) -> tuple:
    # The bytecode depends only on the C text and the kernel it was built
    # for, never on the allow-list; skip bcc when both are unchanged.
    if old is None or old.build.get("source_sha256") != source_digest() or \
            old.build.get("kernel") != os.uname().release or \
            sorted(program.hook for program in old.programs) != \
            sorted(ATTACH_TYPES):
        return None, None
    return old.programs, old.license


def _program_spec(compiled) -> ProgramSpec:
    hook = compiled.hook
    return ProgramSpec(hook=hook.name, function=hook.function,
                       prog_type=hook.prog_type, attach_type=hook.attach_type,
                       ingress=hook.ingress, insns=compiled.insns,
                       relocations=compiled.relocations)


def _build_spec(name: str, *, target: Target, allow, entries: dict,
                ingress: bool, programs: list, license: str) -> FilterSpec:
    maps = [MapSpec(name=shape.name, map_type=shape.map_type,
                    key_size=shape.key_size, value_size=shape.value_size,
                    max_entries=shape.max_entries, flags=shape.flags,
                    per_filter=shape.per_filter,
                    entries=entries.get(shape.name, []))
            for shape in MAP_SHAPES]
    return FilterSpec(
        name=name, cgroup=target.path, ingress=bool(ingress),
        allow=allow.as_list(), owner_uid=target.owner_uid,
        programs=programs, maps=maps, counter_names=list(COUNTER_NAMES),
        license=license,
        build={"kernel": os.uname().release,
               "source_sha256": source_digest()})


def _anchor_needed(target: Target) -> bool:
    if target.owner_uid is None:
        return False
    if not target.exists:
        return True
    status = os.stat(target.path)
    return (status.st_uid != 0 or status.st_mode & 0o7777 != 0o1775 or
            not os.path.isdir(os.path.join(target.path, ANCHOR)))


def _observe(spec: FilterSpec | None, *, mount: str) -> dict:
    """The filter as the kernel has it now; empty when there is none."""
    if spec is None:
        return {}
    try:
        target = resolve_target(spec.cgroup, mount=mount)
        fd = open_cgroup(target.path) if target.exists else None
    except GamingBoxError:
        fd = None
    try:
        state = inspect(spec, cgroup_fd=fd)
    finally:
        if fd is not None:
            os.close(fd)
    summary = spec.summary()
    summary["attached"] = state["attached"]
    summary["programs"] = state["programs"]
    return summary


def _predicted(new: FilterSpec | None, *, target: Target, allow,
               ingress: bool) -> dict:
    # Check mode, or a first run in check mode where nothing is compiled
    # yet: say what applying would leave behind.
    summary = new.summary() if new is not None else {
        "cgroup": target.path, "allow": allow.as_list(),
        "ingress": bool(ingress), "generation": None}
    summary["attached"] = True
    summary["programs"] = []
    return summary


def _result(*, changed: bool, before: dict, after: dict,
            spec: FilterSpec | None, compiled: bool, name: str) -> dict:
    counters = read_counters(spec) if spec is not None else \
        {counter: 0 for counter in COUNTER_NAMES}
    shown = ("cgroup", "allow", "ingress", "attached", "generation",
             "programs")
    info = {key: after.get(key) for key in shown}
    info.update(name=name, spec_path=spec_path(name),
                pin_dir=os.path.join(PIN_ROOT, name), loader=LOADER_PATH)
    return {
        "changed": changed,
        "filter": info,
        "counters": counters,
        "compiled": compiled,
        "diff": {"before": _diffable(before), "after": _diffable(after)},
    }


def _diffable(summary: dict) -> dict:
    # Program ids change with every load; the diff shows what the user set.
    return {key: value for key, value in summary.items()
            if key != "programs"}
