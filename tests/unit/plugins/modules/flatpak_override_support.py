"""Run the flatpak_override backend the way the module does, and real flatpak.

Shared by the module tests: ``run_task`` validates arguments with the
module's own argument spec before calling the backend, and ``Flatpak`` runs
the real `flatpak override` command with a private HOME, offline.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.gamingbox.sandbox.plugins.module_utils._flatpak_override import (
    manage_override,
)
from ansible_collections.gamingbox.sandbox.plugins.modules.flatpak_override import (
    ARGUMENT_SPEC,
)

APP = "org.gamingbox.Launcher"
FLATPAK = shutil.which("flatpak")


def run_task(overrides_dir: Path | None, *, check: bool = False,
             **options) -> dict:
    """The backend's result for one task, arguments checked as Ansible does.

    ``overrides_dir`` None leaves the option out: the scope's default.
    """
    arguments = {"app": APP, **options}
    if overrides_dir is not None:
        arguments["overrides_dir"] = str(overrides_dir)
    validated = ArgumentSpecValidator(ARGUMENT_SPEC).validate(arguments)
    assert not validated.error_messages, validated.error_messages
    return manage_override(validated.validated_parameters, check_mode=check,
                           diff=True)


class Flatpak:
    """`flatpak override --user` confined to one private HOME."""

    def __init__(self, home: Path, *, system_dir: Path | None = None) -> None:
        self.home = home
        self.overrides = home / ".local" / "share" / "flatpak" / "overrides"
        # FLATPAK_SYSTEM_DIR moves --system into a test directory.
        self.system_dir = system_dir

    def override(self, *args: str, app: str = APP) -> None:
        self._run("override", "--user", *args, app)

    def show(self, app: str | None = APP, *, scope: str = "--user") -> str:
        return self._run("override", scope, "--show", *([app] if app else []))

    def _run(self, *args: str) -> str:
        env = {"HOME": str(self.home), "LC_ALL": "C.UTF-8",
               "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
               "XDG_DATA_HOME": str(self.home / ".local" / "share"),
               "XDG_CONFIG_HOME": str(self.home / ".config"),
               "XDG_CACHE_HOME": str(self.home / ".cache")}
        if self.system_dir is not None:
            env["FLATPAK_SYSTEM_DIR"] = str(self.system_dir)
        done = subprocess.run([FLATPAK, *args], env=env, text=True,
                              capture_output=True, check=False)
        assert done.returncode == 0, (args, done.stderr)
        return done.stdout
