"""The game_sandbox role through playbooks/gaming-box.yml, in gbox-3.

In file order: a check run on a desktop that has nothing of gaming-box yet
predicts changes and changes nothing; the real run; the wrapper refuses to
start a game whose filter is gone, and starts it again once the playbook has
put the filter back; a game set to stop the launcher on exit does.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "playbooks" / "gaming-box.yml"
HOST = "gbox-3"
APP = "org.gamingbox.Launcher"
WRAPPER = "/home/player/.local/share/gaming-box/bin/demo"
SESSION = ("HOME=/home/player XDG_RUNTIME_DIR=/run/user/1000 "
           "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus")
MANAGER = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service"

# Everything the role writes or creates, as one listing: files with size and
# mode, the units of the user's manager, cgroups and pinned BPF objects.
SNAPSHOT = r"""
find /etc/systemd/system /etc/gaming-box /usr/local/libexec/gaming-box \
     /usr/local/lib/gaming-box /var/lib/gaming-box /home/player/.config \
     /home/player/.local/share/gaming-box /home/player/.local/share/flatpak \
     /var/lib/systemd/linger /sys/fs/bpf \
     -printf '%p %s %m %u\n' 2>/dev/null | sort
find /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service \
     -mindepth 1 -maxdepth 3 -type d -not -name 'app-flatpak-*' \
     -not -path '*/session.slice*' -not -path '*/init.scope*' | sort
systemctl --user -M player@ list-units --all --plain --no-legend \
     'games*' 'app-gamingbox*' 'gaming-box*' | awk '{print $1, $3}'
systemctl list-units --all --plain --no-legend 'gaming-box*' \
     | awk '{print $1, $3}'
"""

pytestmark = pytest.mark.lab


def _lab_vars() -> dict:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(REPO / "lab" / "gaming-box-vars.yml")


def snapshot(guest) -> list[str]:
    done = guest.run(["bash", "-c", SNAPSHOT], check=True, timeout=120)
    return done.stdout.splitlines()


def launch(guest, options: str, *args: str, stay: bool = False):
    argv = ["flatpak", "run", APP, "run", "--options", options]
    if stay:
        argv.append("--stay")
    argv += ["--", "gbox-game", *args]
    line = f"runuser -u player -- env {SESSION} {shlex.join(argv)}"
    return guest.run(["timeout", "180", "bash", "-c", line], timeout=240)


def events(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()
            if line.startswith("{")]


@pytest.fixture(scope="module")
def guest(lab):
    return lab.guest(HOST)


def test_check_mode_on_a_fresh_desktop_changes_nothing(guest, playbook):
    before = snapshot(guest)

    run = playbook(PLAYBOOK, limit=HOST, check=True, diff=True,
                   extra_vars=_lab_vars())

    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert run.stats(HOST)["changed"] > 0, run.stats(HOST)
    assert snapshot(guest) == before


def test_the_playbook_lays_the_recipe_down(guest, playbook):
    run = playbook(PLAYBOOK, limit=HOST, extra_vars=_lab_vars())

    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-3000:]
    assert run.stats(HOST)["failures"] == 0


def test_the_wrapper_refuses_a_game_whose_filter_is_gone(guest, playbook):
    # Detach the programs the way a failed loader would leave it: the spec
    # and the drop-ins stay, the kernel has no filter on the slice.  The
    # watcher is stopped first so it cannot put them back meanwhile.
    slice_dir = f"{MANAGER}/games.slice/games-demo.slice"
    guest.run(["systemctl", "stop", "gaming-box-netfilter.service"],
              check=True, timeout=120)
    guest.run(["bash", "-c", (
        f"bpftool cgroup show {slice_dir} | awk 'NR > 1 {{print $1, $2}}' |"
        f" while read id type; do bpftool cgroup detach {slice_dir} $type"
        f" id $id; done")], check=True, timeout=120)
    attached = guest.run(["bpftool", "cgroup", "show", slice_dir],
                         check=True, timeout=60).stdout

    refused = launch(guest, f"{WRAPPER} %command%", "--hold", "0")

    assert "connect" not in attached, attached
    assert refused.returncode != 0
    assert "not starting demo: its network filter is not in place" in \
        refused.stderr, refused.stderr
    assert not [e for e in events(refused.stdout)
                if e.get("event") == "start"], refused.stdout

    run = playbook(PLAYBOOK, limit=HOST, extra_vars=_lab_vars())
    started = launch(guest, f"{WRAPPER} %command%", "--hold", "0")

    assert run.rc == 0, run.stdout[-6000:]
    assert [e["event"] for e in events(started.stdout)
            if e.get("event") == "start"] == ["start"], started.stderr
    assert "network filter" not in started.stderr, started.stderr


def test_a_game_can_stop_the_launcher_when_it_exits(guest, playbook):
    variables = _lab_vars()
    variables["game_sandbox_users"][0]["games"][0][
        "stop_launcher_on_exit"] = True
    run = playbook(PLAYBOOK, limit=HOST, extra_vars=variables)
    assert run.rc == 0, run.stdout[-6000:]

    try:
        # Without the stop, --stay would keep the launcher until timeout.
        done = launch(guest, f"{WRAPPER} %command%", "--hold", "0",
                      stay=True)
        seen = [e["event"] for e in events(done.stdout)]

        assert done.returncode == 0, done.stdout + done.stderr
        assert seen[-1] == "launcher-stopped", seen
        assert "exit" in seen, seen
    finally:
        playbook(PLAYBOOK, limit=HOST, extra_vars=_lab_vars())
