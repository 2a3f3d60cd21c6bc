"""Games started through the Flatpak portal, in gbox-1, end to end.

playbooks/gaming-box.yml lays down the lab configuration (games "demo" and
"arena"); then the lab launcher starts games in portal mode, where gbox-pv,
a stand-in for pressure-vessel, hands the game to the real flatpak-portal
with flatpak-spawn, so the game runs in a new sub-sandbox and a new scope.
Checked in the guest: the game's process lands in its own game's scope,
under that game's memory limit and filter, from its first connection
attempt; the launcher keeps its network; two games at once; the same game
twice; many quick starts with no packet reaching the remote namespace.
Traffic goes only to the guest's loopback and its "remote" namespace.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "playbooks" / "gaming-box.yml"
HOST = "gbox-1"
APP = "org.gamingbox.Launcher"
MANAGER = "/user.slice/user-1000.slice/user@1000.service"
WRAPPERS = "/home/player/.local/share/gaming-box/bin"
GATE = "/usr/local/libexec/gaming-box/portal-gate"

REMOTE_TCP = "tcp:10.201.0.2:7000"
REMOTE_BLOCKED = [REMOTE_TCP, "udp:10.201.0.2:7000",
                  "tcp:[fd42:201::2]:7000", "tcp:[::ffff:10.201.0.2]:7000"]
LOCAL = ["tcp:127.0.0.1:22", "tcp:[::1]:22"]
SESSION = ("HOME=/home/player XDG_RUNTIME_DIR=/run/user/1000 "
           "DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/1000/bus")

pytestmark = pytest.mark.lab


def _lab_vars() -> dict:
    from ruamel.yaml import YAML

    return YAML(typ="safe").load(REPO / "lab" / "gaming-box-vars.yml")


@pytest.fixture(scope="module")
def desktop(lab, playbook):
    """gbox-1 with the playbook applied and the remote namespace up."""
    run = playbook(PLAYBOOK, limit=HOST, extra_vars=_lab_vars())
    assert run.rc == 0, run.stdout[-6000:] + run.stderr[-3000:]

    guest = lab.guest(HOST)
    guest.run(["gbox-remote-ns", "up"], check=True, timeout=120)
    return guest


def launch_line(game: str, args: list[str], *, portal: bool = True) -> str:
    """The guest shell line that starts GAME through the lab launcher."""
    argv = ["flatpak", "run", APP, "run",
            "--options", f"{WRAPPERS}/{game} %command%"]
    if portal:
        argv.append("--portal")
    argv += ["--", "gbox-game", *args]
    return f"runuser -u player -- env {SESSION} {shlex.join(argv)}"


def run_games(guest, launches: list[tuple[str, list[str]]], *,
              stagger: float = 0.0, timeout: int = 300) -> list[list[dict]]:
    """Start each (game, args) in the background, wait for all, and return
    the JSON events each printed."""
    script = ["set -u", "dir=$(mktemp -d)"]
    for index, (game, args) in enumerate(launches):
        script.append(f"{launch_line(game, args)} >$dir/{index} 2>&1 &")
        if stagger:
            script.append(f"sleep {stagger}")
    script += ["wait",
               f"for i in $(seq 0 {len(launches) - 1}); do "
               "echo \"=== $i\"; cat $dir/$i; done",
               "rm -rf $dir"]
    done = guest.run(["timeout", str(timeout), "bash", "-c",
                      "\n".join(script)], timeout=timeout + 60)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]

    outputs, current = [], None
    for line in done.stdout.splitlines():
        if line.startswith("=== "):
            current = []
            outputs.append(current)
        elif current is not None and line.startswith("{"):
            current.append(json.loads(line))
    assert len(outputs) == len(launches), done.stdout[-4000:]
    return outputs


def started(events: list[dict]) -> dict:
    found = [e for e in events if e.get("event") == "start"]
    assert found, f"the game never started: {events}"
    return found[0]


def connects(events: list[dict]) -> dict:
    return {e["target"]: e for e in events if e.get("event") == "connect"}


def cgroup_value(guest, cgroup: str, name: str) -> str:
    path = f"/sys/fs/cgroup{cgroup}/{name}"
    return guest.run(["cat", path], check=True, timeout=60).stdout.strip()


def scope_of(game: str) -> str:
    return f"{MANAGER}/games.slice/games-{game}.slice/{game}.scope"


def gate_status(guest) -> list[dict]:
    return json.loads(guest.run(["python3", GATE, "status"], check=True,
                                timeout=60).stdout)


def test_the_gate_is_frozen_and_the_launcher_keeps_its_network(desktop):
    status = gate_status(desktop)
    probe = desktop.run(["bash", "-c", (
        f"runuser -u player -- env {SESSION} flatpak run {APP} probe "
        f"{REMOTE_TCP}")], timeout=180)

    assert [(s["uid"], s["gate_exists"], s["gate_frozen"]) for s in status] \
        == [(1000, True, True)]
    events = [json.loads(line) for line in probe.stdout.splitlines()
              if line.startswith("{")]
    assert probe.returncode == 0 and events and events[-1]["ok"], \
        probe.stdout + probe.stderr


def test_a_portal_game_lands_in_its_scope_limited_and_filtered(desktop):
    [events] = run_games(desktop, [("demo", [
        "--timeout", "5", "--alloc-mib", "32", "--hold", "1",
        *(f"--connect={t}" for t in REMOTE_BLOCKED + LOCAL)])])

    start = started(events)
    results = connects(events)
    assert start["cgroup"] == scope_of("demo"), events
    assert int(cgroup_value(desktop, f"{MANAGER}/games.slice/games-demo."
                                     f"slice", "memory.high")) == 256 << 20
    # The very first attempts, made the moment the game started.
    assert {t: results[t]["errno"] for t in REMOTE_BLOCKED} == \
        {t: "EPERM" for t in REMOTE_BLOCKED}, results
    assert all(results[t]["ok"] for t in LOCAL), results


def test_two_games_at_once_each_under_its_own_settings(desktop):
    demo, arena = run_games(desktop, [
        ("demo", ["--timeout", "5", "--hold", "8",
                  f"--connect={REMOTE_TCP}"]),
        ("arena", ["--timeout", "5", "--hold", "1",
                   f"--connect={REMOTE_TCP}",
                   "--connect=udp:10.201.0.2:7000"]),
    ], stagger=4.0)

    assert started(demo)["cgroup"] == scope_of("demo"), demo
    assert started(arena)["cgroup"] == scope_of("arena"), arena
    assert connects(demo)[REMOTE_TCP]["errno"] == "EPERM", demo
    # arena may reach the remote echo port over TCP, and only that.
    assert connects(arena)[REMOTE_TCP]["ok"], arena
    assert connects(arena)["udp:10.201.0.2:7000"]["errno"] == "EPERM", arena
    assert int(cgroup_value(desktop, f"{MANAGER}/games.slice/games-arena."
                                     f"slice", "memory.high")) == 192 << 20


def test_the_same_game_twice(desktop):
    first, second = run_games(desktop, [
        ("demo", ["--timeout", "5", "--hold", "6",
                  f"--connect={REMOTE_TCP}"]),
        ("demo", ["--timeout", "5", "--hold", "1",
                  f"--connect={REMOTE_TCP}"]),
    ], stagger=3.0)

    for events in (first, second):
        assert started(events)["cgroup"] == scope_of("demo"), events
        assert connects(events)[REMOTE_TCP]["errno"] == "EPERM", events


def test_games_started_in_the_same_instant_are_told_apart_by_their_claim(
        desktop):
    # Both launches wait when the first sandbox arrives, so neither can be
    # matched by its launch: both are held, and each moves to its game once
    # its process shows the GAMING_BOX_GAME its wrapper exported.
    since = desktop.run(["date", "+%s"], check=True, timeout=60).stdout.strip()
    script = "\n".join([
        "set -u", "dir=$(mktemp -d)",
        f"{launch_line('demo', ['--hold', '25'])} >$dir/demo 2>&1 &",
        f"{launch_line('arena', ['--hold', '25'])} >$dir/arena 2>&1 &",
        "sleep 18",
        "for pid in $(pgrep -f '^[^ ]*python3 /app/bin/gbox-game'); do",
        "  claim=$(tr '\\0' '\\n' < /proc/$pid/environ"
        " | sed -n 's/^GAMING_BOX_GAME=//p')",
        "  echo \"placed $claim $(cut -d: -f3 /proc/$pid/cgroup)\"",
        "done",
        "wait", "rm -rf $dir"])
    done = desktop.run(["timeout", "300", "bash", "-c", script], timeout=360)
    journal = desktop.run(["journalctl", "-u", "gaming-box-portal-gate",
                           "--since", f"@{since}", "-o", "cat"],
                          check=True, timeout=60).stdout

    placed = sorted(tuple(line.split()[1:]) for line in
                    done.stdout.splitlines() if line.startswith("placed "))
    assert placed == [("arena", scope_of("arena")),
                      ("demo", scope_of("demo"))], done.stdout + journal
    assert sorted(line.rsplit(" ", 1)[-1] for line in journal.splitlines()
                  if "-> game " in line) == ["arena", "demo"], journal


def test_many_quick_starts_leak_no_packet(desktop):
    count = 8
    capture = desktop.popen([
        "ip", "netns", "exec", "remote", "timeout", "600", "tcpdump", "-l",
        "-n", "-i", "eth0", "src", "10.201.0.1", "and", "port", "7000"])
    try:
        desktop.run(["sleep", "2"], timeout=60)
        runs = run_games(desktop, [
            ("demo", ["--timeout", "3", f"--connect={REMOTE_TCP}",
                      "--connect=udp:10.201.0.2:7000"])
            for _launch in range(count)], stagger=0.3, timeout=900)
    finally:
        desktop.run(["pkill", "-INT", "-f", "tcpdump -l -n -i eth0"],
                    timeout=60)
        seen = capture.communicate(timeout=120)[0]

    places = {started(events)["cgroup"] for events in runs}
    errors = {(t, e["errno"]) for events in runs
              for t, e in connects(events).items()}
    assert places == {scope_of("demo")}, places
    assert errors == {(REMOTE_TCP, "EPERM"),
                      ("udp:10.201.0.2:7000", "EPERM")}, errors
    assert [line for line in seen.splitlines() if "IP " in line] == [], seen


def test_nothing_waits_at_the_gate_afterwards(desktop):
    [status] = gate_status(desktop)

    assert status["waiting"] == [] and status["held"] == [], status
