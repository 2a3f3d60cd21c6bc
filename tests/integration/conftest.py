"""Lab guests for the integration tests.

The lab is booted once per test run and shared by every test module: guests
are slow under software emulation, so each test cleans up after itself
instead of getting a fresh guest.  A lab that was already running is reused
and left running; one this run booted is taken down at the end unless
GAMINGBOX_LAB_KEEP=1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from playbook_command import playbook_command, playbook_env

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "lab" / "state" / "inventory.yml"
GUESTS = int(os.environ.get("GAMINGBOX_LAB_GUESTS", "3"))

sys.path.insert(0, str(REPO))


def _lab_command(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=REPO,
                          check=check, text=True)


def _running_guests() -> int:
    if not INVENTORY.exists():
        return 0
    from lab.api import Lab  # the lab package is not importable earlier

    try:
        return len(Lab.load().guests)
    except Exception:  # a stale state directory counts as no lab
        return 0


@pytest.fixture(scope="session")
def lab():
    from lab.api import Lab

    booted_here = _running_guests() < GUESTS
    if booted_here:
        _lab_command("up", "-n", str(GUESTS))

    yield Lab.load()

    if booted_here and os.environ.get("GAMINGBOX_LAB_KEEP") != "1":
        _lab_command("down", check=False)


@pytest.fixture(scope="session")
def guest1(lab):
    return lab.guest("gbox-1")


@pytest.fixture(scope="session")
def guest2(lab):
    return lab.guest("gbox-2")


@pytest.fixture(scope="session")
def guest3(lab):
    return lab.guest("gbox-3")


@dataclass
class PlaybookRun:
    """The outcome of one ansible-playbook run, read from the json callback."""

    rc: int
    stdout: str
    stderr: str
    report: dict

    def stats(self, host: str) -> dict:
        return self.report.get("stats", {}).get(host, {})

    def task_results(self, name: str, host: str) -> list[dict]:
        found = []
        for play in self.report.get("plays", []):
            for task in play.get("tasks", []):
                if task["task"]["name"] == name and host in task["hosts"]:
                    found.append(task["hosts"][host])
        return found

    def task_result(self, name: str, host: str) -> dict:
        results = self.task_results(name, host)
        assert results, f"task {name!r} did not run on {host}:\n{self.stderr}"
        return results[-1]


def run_playbook(playbook: str | Path, *, limit: str, check: bool = False,
                 diff: bool = False, extra_vars: dict | None = None,
                 tags: str | None = None,
                 timeout: int = 1800) -> PlaybookRun:
    """Run a playbook against lab guests and return its json report."""
    command = playbook_command(playbook, limit=limit, check=check,
                               diff=diff, extra_vars=extra_vars, tags=tags)
    env = playbook_env()

    done = subprocess.run(command, cwd=REPO, env=env, text=True, check=False,
                          capture_output=True, timeout=timeout)

    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        report = {}
    return PlaybookRun(rc=done.returncode, stdout=done.stdout,
                       stderr=done.stderr, report=report)


@pytest.fixture(scope="session")
def playbook():
    return run_playbook
