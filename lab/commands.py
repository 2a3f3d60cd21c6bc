"""Running host commands: argument lists, C locale, errors that explain."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import deque
from pathlib import Path
from typing import Sequence

from lab.config import LabError
from lab.progress import Step

__all__ = ["c_locale_env", "run", "run_logged", "remove_tree"]

TAIL_LINES = 25


def c_locale_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ, LC_ALL="C", LANG="C")
    env.update(extra or {})
    return env


def run(argv: Sequence[str], *, what: str, fix: str,
        timeout: float | None = None) -> subprocess.CompletedProcess:
    """Run a short command; raise LabError naming it when it fails."""
    try:
        result = subprocess.run(list(argv), capture_output=True, text=True,
                                env=c_locale_env(), timeout=timeout,
                                check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{what}: {exc}. {fix}") from exc
    if result.returncode != 0:
        output = (result.stderr or result.stdout).strip()
        raise LabError(f"{what}: {argv[0]} exited with {result.returncode}"
                       f": {output}. {fix}")
    return result


def run_logged(argv: Sequence[str], *, log: Path, step: Step,
               what: str, fix: str, env: dict[str, str] | None = None) -> None:
    """Run a long command, its output into ``log``.

    Lines that look like progress (mmdebstrap's ``I: ...``) become the
    step's detail, so the heartbeat says where the command is.  On failure
    the error carries the last lines of the log.
    """
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    with open(log, "a", encoding="utf-8") as log_file:
        log_file.write(f"$ {' '.join(argv)}\n")
        log_file.flush()
        with subprocess.Popen(list(argv), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True,
                              errors="replace", stdin=subprocess.DEVNULL,
                              env=c_locale_env(env)) as process:
            assert process.stdout is not None
            for line in process.stdout:
                log_file.write(line)
                tail.append(line.rstrip())
                if line.startswith("I: "):
                    step.detail = line[3:].strip()
        code = process.returncode

    if code != 0:
        last = "\n    ".join(tail)
        raise LabError(f"{what}: {argv[0]} exited with {code}; last lines "
                       f"of {log}:\n    {last}\n{fix}")


def remove_tree(path: Path) -> None:
    """rmtree, but never through a mount point.

    A build that died inside mmdebstrap could leave /proc, /sys or /dev
    mounted in its root; deleting through those would delete host files.
    """
    inside = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo", encoding="utf-8") as mounts:
        for line in mounts:
            mount_point = line.split()[4]
            if (mount_point + "/").startswith(inside):
                raise LabError(f"{path}: {mount_point} is still mounted. "
                               f"Unmount it (umount -R {mount_point}), then "
                               "run again")
    shutil.rmtree(path)
