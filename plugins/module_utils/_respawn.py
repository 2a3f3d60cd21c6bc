# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find an interpreter that has a system-only binding, or say what to install.

python3-dbus and python3-bpfcc come from the distribution and exist only for
the system Python.  When Ansible runs the module under another interpreter
(a virtualenv, a newer Python), the module re-runs itself under one that can
import the binding.
"""

from __future__ import annotations

import importlib

from ansible.module_utils.common.respawn import (
    has_respawned,
    probe_interpreters_for_module,
    respawn_module,
)

from ._errors import MissingDependency

__all__ = ["import_or_respawn"]

SYSTEM_INTERPRETERS = ("/usr/bin/python3", "/usr/libexec/platform-python",
                       "/usr/bin/python")


def import_or_respawn(import_name: str, *, package: str):
    """Return the imported module, respawning under another Python if needed.

    Never returns when a respawn happens: the respawned process finishes the
    task and exits.  Raises MissingDependency when no interpreter has it.
    """
    try:
        return importlib.import_module(import_name)
    except ImportError:
        pass

    if not has_respawned():
        interpreter = probe_interpreters_for_module(
            list(SYSTEM_INTERPRETERS), import_name)
        if interpreter:
            respawn_module(interpreter)

    raise MissingDependency(
        f"Python module {import_name}",
        "is not importable by this interpreter nor by the system Python",
        f"Install the Debian package {package} (or your distribution's "
        f"equivalent) on the managed host")
