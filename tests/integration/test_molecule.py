"""The molecule scenarios, on the lab this test run booted.

The scenarios share the run's guests (GAMINGBOX_LAB_SHARED=1 keeps their
destroy step from taking the lab down).  `make test` runs fleet (all three
guests, canary first) early and uninstall (gbox-1) last; default (gbox-1)
is the same steps as fleet's canary batch and is run on its own.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"

pytestmark = pytest.mark.lab


def molecule_test(scenario: str) -> None:
    env = dict(os.environ, GAMINGBOX_LAB_SHARED="1", ANSIBLE_NOCOLOR="1",
               PATH=f"{VENV_BIN}:{os.environ['PATH']}")
    env.pop("ANSIBLE_CONFIG", None)

    done = subprocess.run([str(VENV_BIN / "molecule"), "test", "-s", scenario],
                          cwd=REPO, env=env, text=True, capture_output=True,
                          check=False, timeout=2400)

    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-8000:]


def test_default_scenario(lab):
    molecule_test("default")


def test_fleet_scenario(lab):
    molecule_test("fleet")


def test_fleet_rolls_out_canary_first(lab, playbook):
    # The batches are the play's, whatever its tasks do: a tag no task has
    # leaves fact gathering and the role's argument check, which are enough
    # to see which desktops each batch held, at a fraction of a full run.
    run = playbook(REPO / "playbooks" / "gaming-box.yml",
                   limit="gaming_desktops", tags="gaming_box_batches_only",
                   extra_vars=_lab_vars())

    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-2000:]
    batches = [sorted({host for task in play["tasks"] for host in task["hosts"]})
               for play in run.report["plays"]
               if play["play"]["name"].startswith("Lay the game sandbox")]
    assert batches == [["gbox-1"], ["gbox-2", "gbox-3"]]
    for host in ("gbox-1", "gbox-2", "gbox-3"):
        assert run.stats(host)["failures"] == 0


def test_uninstall_scenario(lab):
    molecule_test("uninstall")


def _lab_vars() -> dict:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(REPO / "lab" / "gaming-box-vars.yml")
