"""flatpak_override in a lab guest, read back by the real flatpak.

The module's own target checks ownership, check mode and idempotence and
asks `flatpak override --show` what it reads; the test below then starts the
launcher app and looks from inside its sandbox: the directory the override
names is there, its sibling is not.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.lab

APP = "org.gamingbox.Launcher"
EXPOSED = "/home/player/fo-exposed"
HIDDEN = "/home/player/fo-hidden"


def test_target_playbook(guest3, playbook):
    run = playbook(REPO / "tests/integration/targets/flatpak_override/playbook.yml",
                   limit=guest3.name)

    assert run.rc == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert run.stats(guest3.name)["failures"] == 0


def test_launcher_sees_exactly_the_exposed_directory(guest3, playbook, tmp_path):
    for directory in (EXPOSED, HIDDEN):
        guest3.run(["install", "-d", "-o", "player", "-g", "player",
                    directory], check=True)
    tasks = tmp_path / "expose.yml"
    tasks.write_text(f"""
- name: Expose one directory to the launcher
  hosts: all
  gather_facts: false
  tasks:
    - name: Expose {EXPOSED}
      gamingbox.sandbox.flatpak_override:
        app: {APP}
        user: player
        filesystems:
          - path: {EXPOSED}
            mode: ro
""")

    try:
        run = playbook(tasks, limit=guest3.name)
        assert run.rc == 0, run.stdout[-4000:]
        seen = guest3.run_as_player(
            ["flatpak", "run", "--command=sh", APP, "-c",
             f"for d in {EXPOSED} {HIDDEN}; do "
             f"if [ -d $d ]; then echo $d:yes; else echo $d:no; fi; done"],
            timeout=300, check=True)
    finally:
        guest3.run_as_player(["flatpak", "override", "--user", "--reset", APP])
        guest3.run(["rm", "-rf", EXPOSED, HIDDEN])

    assert seen.stdout.split() == [f"{EXPOSED}:yes", f"{HIDDEN}:no"]
