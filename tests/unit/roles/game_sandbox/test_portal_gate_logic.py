"""The portal gate's pure logic: its configuration and how it tells a
launcher from a portal sandbox, read from a /proc laid out in a directory.

What it does to real cgroups, Flatpak and systemd is tested in the lab
(tests/integration/test_portal_gate.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

GATE_FILE = (Path(__file__).resolve().parents[4]
             / "roles/game_sandbox/files/portal_gate.py")
_spec = importlib.util.spec_from_file_location("portal_gate", GATE_FILE)
gate = importlib.util.module_from_spec(_spec)
sys.modules["portal_gate"] = gate  # dataclasses look their module up there
_spec.loader.exec_module(gate)

MANAGER = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service"


def config(**overrides) -> dict:
    data = {
        "uid": 1000, "user": "player",
        "gate": f"{MANAGER}/games.slice/games-gate.slice",
        "launcher_scope": f"{MANAGER}/app.slice/app-gamingbox.slice/"
                          f"launchers.scope",
        "hold_slice": f"{MANAGER}/games.slice/games-portal.slice",
        "games": {"demo": f"{MANAGER}/games.slice/games-demo.slice/"
                          f"demo.scope"},
    }
    data.update(overrides)
    return data


class FakeProc:
    """A /proc with stat files, exe links and environments."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def add(self, pid: int, *, parent: int, exe: str = "/usr/bin/sleep",
            comm: str = "sleep", environ: dict | None = None) -> None:
        entry = self.root / str(pid)
        entry.mkdir()
        (entry / "stat").write_text(
            f"{pid} ({comm}) S {parent} {pid} {pid} 0 -1 4194560 0 0\n")
        os.symlink(exe, entry / "exe")
        text = b"".join(f"{k}={v}".encode() + b"\0"
                        for k, v in (environ or {}).items())
        (entry / "environ").write_bytes(text)

    @property
    def path(self) -> str:
        return str(self.root)


@pytest.fixture
def proc(tmp_path: Path) -> FakeProc:
    return FakeProc(tmp_path)


def test_config_is_read_whole():
    parsed = gate.parse_config(json.dumps(config()), source="1000.json")

    assert parsed.uid == 1000
    assert parsed.games == {"demo": config()["games"]["demo"]}
    assert parsed.manager_dir == MANAGER


@pytest.mark.parametrize("key, value", [
    ("gate", "/sys/fs/cgroup/user.slice/games-gate.slice"),
    ("hold_slice", f"{MANAGER}/../user@0.service/x.slice"),
    ("launcher_scope", f"{MANAGER}//launchers.scope"),
    ("games", {"demo": "/tmp/demo.scope"}),
])
def test_config_refuses_paths_outside_the_manager(key, value):
    expected = "not a cgroup inside user@1000.service"
    with pytest.raises(gate.GateError, match=expected):
        gate.parse_config(json.dumps(config(**{key: value})),
                          source="1000.json")


@pytest.mark.parametrize("text, cause", [
    ("{", "not valid JSON"),
    ("[]", "not a JSON object"),
    (json.dumps({"uid": 1000}), "missing or malformed key"),
    (json.dumps(config(uid="x")), "missing or malformed key"),
])
def test_config_errors_name_the_file_and_the_fix(text, cause):
    with pytest.raises(gate.GateError) as raised:
        gate.parse_config(text, source="/etc/gaming-box/portal-gate.d/1.json")

    message = str(raised.value)
    assert message.startswith("/etc/gaming-box/portal-gate.d/1.json: ")
    assert cause in message
    assert "run the" in message


def test_broken_files_are_skipped_and_the_rest_is_read(tmp_path, capsys):
    (tmp_path / "1000.json").write_text(json.dumps(config()))
    (tmp_path / "1001.json").write_text("{")
    (tmp_path / "README").write_text("not a gate")

    gates = gate.load_configs(str(tmp_path))

    assert [g.uid for g in gates] == [1000]
    assert "1001.json" in capsys.readouterr().err


def test_a_missing_user_says_to_run_the_playbook(tmp_path):
    with pytest.raises(gate.GateError, match="uid 1002 has no portal gate"):
        gate.config_for(1002, str(tmp_path))


def test_parent_is_read_after_a_command_name_with_parentheses(proc):
    proc.add(40, parent=7, comm="evil) S 1 (x")

    assert gate.parent_of(40, proc=proc.path) == 7
    assert gate.parent_of(41, proc=proc.path) is None


def test_a_scope_started_by_the_portal_is_a_sandbox(proc):
    proc.add(10, parent=1, exe="/usr/libexec/flatpak-portal",
             comm="flatpak-portal")
    proc.add(20, parent=10, exe="/usr/bin/flatpak", comm="flatpak")

    assert gate.classify_launch(20, manager_pid=2, proc=proc.path) == \
        "sandbox"


def test_a_scope_started_from_a_shell_is_the_launcher(proc):
    proc.add(10, parent=1, exe="/usr/bin/bash", comm="bash")
    proc.add(20, parent=10, exe="/usr/bin/flatpak", comm="flatpak")

    assert gate.classify_launch(20, manager_pid=2, proc=proc.path) == \
        "launcher"


@pytest.mark.parametrize("parent", [2, 99])
def test_an_orphan_or_a_child_of_the_manager_counts_as_a_sandbox(proc,
                                                                 parent):
    # 2 is the user manager, 99 does not exist: neither proves a launcher.
    proc.add(2, parent=1, exe="/usr/lib/systemd/systemd", comm="systemd")
    proc.add(20, parent=parent, exe="/usr/bin/flatpak", comm="flatpak")

    assert gate.classify_launch(20, manager_pid=2, proc=proc.path) == \
        "sandbox"


def test_waiting_launches_count_launches_without_their_sandbox(proc):
    proc.add(2, parent=1, exe="/usr/lib/systemd/systemd")
    proc.add(5, parent=1, exe="/usr/libexec/flatpak-portal")
    proc.add(30, parent=1, exe="/usr/bin/sh")          # launcher's shell
    proc.add(100, parent=2)                             # placeholder
    proc.add(101, parent=30, exe="/usr/bin/flatpak-spawn")  # launch 1
    proc.add(102, parent=30, exe="/usr/bin/flatpak-spawn")  # launch 2
    proc.add(200, parent=5, exe="/usr/bin/bwrap")       # sandbox of one
    proc.add(201, parent=200, exe="/usr/bin/bwrap")     # inside it
    proc.add(202, parent=201, exe="/usr/bin/python3")   # the game
    members = [100, 101, 102, 200, 201, 202]

    waiting = gate.waiting_launches(members, members=set(members),
                                    manager_pid=2, proc=proc.path)

    assert waiting == 1


def test_a_scope_with_only_its_placeholder_waits_for_nothing(proc):
    proc.add(2, parent=1, exe="/usr/lib/systemd/systemd")
    proc.add(100, parent=2)

    assert gate.waiting_launches([100], members={100}, manager_pid=2,
                                 proc=proc.path) == 0


def test_the_claim_is_read_from_the_environment(proc):
    proc.add(300, parent=1, environ={"HOME": "/home/player",
                                     "GAMING_BOX_GAME": "demo"})
    proc.add(301, parent=1, environ={"GAMING_BOX_GAMES": "no"})

    assert gate.claim_of(300, proc=proc.path) == "demo"
    assert gate.claim_of(301, proc=proc.path) is None
    assert gate.claim_of(302, proc=proc.path) is None


def test_the_command_line_refuses_what_it_does_not_know(capsys):
    assert gate.main([]) == 2
    assert gate.main(["prepare", "player"]) == 2
    assert gate.main(["bogus"]) == 2
    assert "usage: portal-gate" in capsys.readouterr().err
