"""The module run by Ansible itself: arguments, check mode, diff, failure."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from flatpak_override_support import APP

REPO = Path(__file__).resolve().parents[4]
CALLBACKS = REPO / "tests" / "integration" / "callback_plugins"


def ansible(overrides_dir: Path, *flags: str, **arguments) -> dict:
    """One ad-hoc run of the module on localhost; its result for the host."""
    arguments = {"app": APP, "overrides_dir": str(overrides_dir), **arguments}
    env = dict(os.environ,
               ANSIBLE_CONFIG=str(REPO / "ansible.cfg"),
               ANSIBLE_LOAD_CALLBACK_PLUGINS="1",
               ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
               ANSIBLE_STDOUT_CALLBACK="lab_json",
               ANSIBLE_NOCOLOR="1",
               PATH=f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}")
    done = subprocess.run(
        ["ansible", "localhost", "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}",
         "-m", "gamingbox.sandbox.flatpak_override",
         "-a", json.dumps(arguments), *flags],
        cwd=REPO, env=env, text=True, capture_output=True, check=False)

    report = json.loads(done.stdout)
    return report["plays"][0]["tasks"][0]["hosts"]["localhost"]


def test_check_apply_repeat_and_refuse(tmp_path):
    options = {"filesystems": [{"path": "/sys/fs/cgroup/games.slice"}],
               "sockets": [{"name": "x11", "allow": False}]}

    checked = ansible(tmp_path, "--check", "--diff", **options)
    assert checked["changed"] and not (tmp_path / APP).exists()
    assert checked["diff"]["after"] == (
        "[Context]\nsockets=!x11;\nfilesystems=/sys/fs/cgroup/games.slice;\n")

    applied = ansible(tmp_path, "--diff", **options)
    assert applied["changed"]
    assert (tmp_path / APP).read_text() == checked["diff"]["after"]
    assert applied["overrides"]["sockets"] == ["!x11"]
    assert isinstance(applied["flatpak_installed"], bool)

    repeated = ansible(tmp_path, **options)
    assert not repeated["changed"]

    refused = ansible(tmp_path, app="not-an-app-id")
    assert refused["failed"]
    assert refused["msg"].startswith("app 'not-an-app-id': flatpak would "
                                     "refuse it")
    assert refused["error"]["kind"] == "InvalidInput"


def test_a_type_error_found_by_ansible_core_also_says_how_to_fix_it(
        tmp_path):
    refused = ansible(tmp_path, sockets="x11")

    assert refused["failed"]
    assert "sockets" in refused["msg"]
    assert refused["msg"].endswith(
        "Give every option the type, and one of the choices, that "
        "`ansible-doc gamingbox.sandbox.flatpak_override` lists.")
    assert refused["error"]["kind"] == "InvalidInput"
    assert refused["error"]["cause"] in refused["msg"]
    assert not (tmp_path / APP).exists()
