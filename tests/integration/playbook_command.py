"""The ansible-playbook command line and environment of the lab tests,
for runs that are waited for (conftest.run_playbook) and for runs the
reliability suite interrupts or starts side by side."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INVENTORY = REPO / "lab" / "state" / "inventory.yml"
CALLBACKS = Path(__file__).resolve().parent / "callback_plugins"


def playbook_command(playbook: str | Path, *, limit: str,
                     check: bool = False, diff: bool = False,
                     extra_vars: dict | None = None,
                     tags: str | None = None) -> list[str]:
    command = [str(REPO / ".venv" / "bin" / "ansible-playbook"),
               "-i", str(INVENTORY), "--limit", limit, str(playbook)]
    if tags:
        command += ["--tags", tags]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if extra_vars:
        command += ["--extra-vars", json.dumps(extra_vars)]
    return command


def playbook_env(*, json_report: bool = True) -> dict:
    """The environment: the repository's ansible.cfg and tools, and either
    the json report (the lab_json callback) or Ansible's usual output."""
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_NOCOLOR="1",
               PATH=f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}")
    if json_report:
        env.update(ANSIBLE_STDOUT_CALLBACK="lab_json",
                   ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS))
    else:
        env["ANSIBLE_STDOUT_CALLBACK"] = "default"
    return env
