# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Install the boot-time loader and the systemd units that run it.

The loader is these module_utils files themselves, copied as a package
into a directory named after the digest of their sources, with a small
executable stub that imports it.  A changed collection gives a new
directory and one atomic rewrite of the stub, so a starting loader never
sees half an update.  Units:

- ``gaming-box-netfilter.service`` runs ``netfilter-loader watch``;
- ``user@UID.service.d/gaming-box-netfilter-NAME.conf`` runs
  ``netfilter-loader prepare NAME`` before each start of the user manager.
"""

from __future__ import annotations

import glob
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field

# The loader's own modules, imported here so that Ansible ships them with
# the task and their sources can be copied out.
from . import (_bpf_insns, _bpf_sys, _errors, _files, _netfilter_attach,
               _netfilter_cgroup, _netfilter_loader, _netfilter_state)
from ._errors import HostError

__all__ = [
    "InstallPlan",
    "LOADER_PATH",
    "WATCH_UNIT",
    "apply_plan",
    "dropin_path",
    "plan_install",
    "plan_uninstall",
]

LOADER_PATH = "/usr/local/libexec/gaming-box/netfilter-loader"
LIBRARY_DIR = "/usr/local/lib/gaming-box/netfilter-loader"
UNIT_DIR = "/etc/systemd/system"
WATCH_UNIT = "gaming-box-netfilter.service"
PACKAGE = "gbox_netfilter"
INTERPRETER = "/usr/bin/python3"

# Everything the loader imports, and nothing that needs Ansible.
LOADER_MODULES = (_errors, _bpf_sys, _bpf_insns, _netfilter_state,
                  _netfilter_cgroup, _netfilter_attach, _netfilter_loader)

MANAGED = "# Managed by gamingbox.sandbox.cgroup_bpf_netfilter; edits are lost."


@dataclass
class InstallPlan:
    """Files to write or remove, and what systemd must do afterwards."""

    writes: dict = field(default_factory=dict)
    removes: list = field(default_factory=list)
    remove_dirs: list = field(default_factory=list)
    loader_changed: bool = False
    start_watcher: bool = False
    stop_watcher: bool = False

    @property
    def changed(self) -> bool:
        return bool(self.writes or self.removes or self.remove_dirs or
                    self.start_watcher or self.stop_watcher)


def dropin_path(name: str, uid: int) -> str:
    return os.path.join(UNIT_DIR, f"user@{uid}.service.d",
                        f"gaming-box-netfilter-{name}.conf")


def plan_install(*, name: str, uid: int | None) -> InstallPlan:
    """What it takes for the loader, the watcher and NAME's drop-in."""
    plan = InstallPlan()
    library, files = _loader_library()
    for path, text in files.items():
        if _files.read_text(path) != text:
            plan.writes[path] = text
            plan.loader_changed = True

    stub = _render_stub(library)
    if _files.read_text(LOADER_PATH) != stub:
        plan.writes[LOADER_PATH] = stub
        plan.loader_changed = True
        plan.remove_dirs.extend(_old_libraries(keep=library))

    unit_path = os.path.join(UNIT_DIR, WATCH_UNIT)
    unit_changed = _files.read_text(unit_path) != _render_watch_unit()
    if unit_changed:
        plan.writes[unit_path] = _render_watch_unit()

    wanted_dropin = dropin_path(name, uid) if uid is not None else None
    for path in _dropins_of(name):
        if path != wanted_dropin:
            plan.removes.append(path)
    if wanted_dropin and _files.read_text(wanted_dropin) != \
            _render_dropin(name):
        plan.writes[wanted_dropin] = _render_dropin(name)

    plan.start_watcher = (plan.loader_changed or unit_changed or
                          not _watcher_running())
    return plan


def plan_uninstall(*, name: str, last: bool) -> InstallPlan:
    """What to remove for NAME; the shared pieces go with the last filter."""
    plan = InstallPlan(removes=_dropins_of(name))
    if not last:
        return plan
    unit_path = os.path.join(UNIT_DIR, WATCH_UNIT)
    plan.removes.extend(path for path in (unit_path, LOADER_PATH)
                        if os.path.exists(path))
    if os.path.isdir(LIBRARY_DIR):
        plan.remove_dirs.append(LIBRARY_DIR)
    plan.stop_watcher = os.path.exists(unit_path)
    return plan


def apply_plan(plan: InstallPlan) -> None:
    """Carry the plan out; systemd is reloaded once, if units changed."""
    if plan.stop_watcher:
        _systemctl("disable", "--now", WATCH_UNIT)

    for path, text in sorted(plan.writes.items()):
        _files.make_dirs(os.path.dirname(path))
        mode = 0o755 if path == LOADER_PATH else 0o644
        _files.write_atomic(path, text, mode=mode)
    for path in plan.removes:
        _files.remove_file(path)
        _remove_empty_dir(os.path.dirname(path))
    for path in plan.remove_dirs:
        shutil.rmtree(path, ignore_errors=True)
    if plan.loader_changed:
        _precompile()

    if any(path.startswith(UNIT_DIR) for path in
           list(plan.writes) + plan.removes):
        _systemctl("daemon-reload")
    if plan.start_watcher:
        _systemctl("enable", WATCH_UNIT)
        # restart, not start: a running watcher must pick up new code.
        _systemctl("restart", WATCH_UNIT)


def _loader_library() -> tuple:
    sources = {}
    for module in LOADER_MODULES:
        name = module.__name__.rpartition(".")[2]
        source = module.__loader__.get_source(module.__name__)
        if source is None:
            raise HostError(f"module_utils {name}",
                            "has no source to install as the loader",
                            "Install the collection from source files")
        sources[f"{name}.py"] = source
    sources["__init__.py"] = (
        "# The gaming-box netfilter loader: a copy of the collection's\n"
        "# module_utils, installed by cgroup_bpf_netfilter.\n")

    digest = hashlib.sha256()
    for file_name in sorted(sources):
        digest.update(file_name.encode() + b"\0" +
                      sources[file_name].encode() + b"\0")
    library = os.path.join(LIBRARY_DIR, digest.hexdigest()[:16])
    files = {os.path.join(library, PACKAGE, file_name): text
             for file_name, text in sources.items()}
    return library, files


def _render_stub(library: str) -> str:
    return "\n".join([
        f"#!{INTERPRETER} -IS",
        MANAGED,
        "# Re-attaches gaming-box cgroup network filters; see",
        "# 'netfilter-loader' without arguments for the commands.",
        "import sys",
        "",
        f"sys.path.insert(0, {library!r})",
        f"from {PACKAGE}._netfilter_loader import main",
        "",
        "sys.exit(main(sys.argv[1:]))",
        "",
    ])


def _render_watch_unit() -> str:
    return "\n".join([
        MANAGED,
        "[Unit]",
        "Description=gaming-box cgroup network filters (re-attach watcher)",
        "After=local-fs.target",
        "",
        "[Service]",
        "Type=simple",
        f"ExecStart={LOADER_PATH} watch",
        "Restart=always",
        "RestartSec=1",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
        "",
    ])


def _render_dropin(name: str) -> str:
    # '+' runs it as root before the manager exists; '-' keeps the manager
    # starting when it fails, as prepare then locks the cgroup instead.
    return "\n".join([
        MANAGED,
        f"# Create and filter the cgroup of filter {name} before the user",
        "# manager can start anything in it.",
        "[Service]",
        f"ExecStartPre=-+{LOADER_PATH} prepare {name}",
        "",
    ])


def _dropins_of(name: str) -> list:
    pattern = os.path.join(UNIT_DIR, "user@*.service.d",
                           f"gaming-box-netfilter-{name}.conf")
    return sorted(glob.glob(pattern))


def _old_libraries(*, keep: str) -> list:
    # The library the current stub imports stays until the next update, so
    # a loader starting right now still finds its files.
    current = _files.read_text(LOADER_PATH) or ""
    return [path for path in sorted(glob.glob(os.path.join(LIBRARY_DIR, "*")))
            if path != keep and repr(path) not in current]


def _remove_empty_dir(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass


def _watcher_running() -> bool:
    result = _run(["systemctl", "is-active", "--quiet", WATCH_UNIT],
                  check=False)
    return result.returncode == 0


def _precompile() -> None:
    # Cached bytecode makes every later start of the loader faster; the
    # interpreter of the stub writes the cache its own version reads.
    if os.path.exists(INTERPRETER):
        _run([INTERPRETER, "-I", "-m", "compileall", "-q", LIBRARY_DIR],
             check=False)


def _systemctl(*args: str) -> None:
    _run(["systemctl", *args])


def _run(argv: list, *, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, LC_ALL="C")
    try:
        result = subprocess.run(argv, env=env, capture_output=True,
                                text=True, check=False)
    except OSError as exc:
        raise HostError(f"command {argv[0]}", f"cannot run: {exc.strerror}",
                        "Install systemd on the managed host") from exc
    if check and result.returncode != 0:
        raise HostError(f"command {' '.join(argv)}",
                        f"failed with exit code {result.returncode}: "
                        f"{result.stderr.strip() or result.stdout.strip()}",
                        "See 'journalctl -xe' on the managed host")
    return result
