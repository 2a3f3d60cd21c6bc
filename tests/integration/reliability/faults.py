"""Helpers of the fault cases: is the game still contained, and playbook
runs that the suite interrupts or starts side by side."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from playbook_command import REPO, playbook_command, playbook_env

APP = "org.gamingbox.Launcher"
UID = 1000
MANAGER = f"/sys/fs/cgroup/user.slice/user-{UID}.slice/user@{UID}.service"
GAME = "demo"
GAME_SLICE = f"{MANAGER}/games.slice/games-{GAME}.slice"
GAME_SCOPE = f"{GAME_SLICE}/{GAME}.scope"
WRAPPER = f"/home/player/.local/share/gaming-box/bin/{GAME}"
MEMORY_HIGH = 256 << 20  # lab/gaming-box-vars.yml
REMOTE = "tcp:10.201.0.2:7000"
LOCAL = "tcp:127.0.0.1:22"
SESSION_ENV = ["HOME=/home/player", f"XDG_RUNTIME_DIR=/run/user/{UID}",
               f"DBUS_SESSION_BUS_ADDRESS=unix:path=/run/user/{UID}/bus"]


def events(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()
            if line.startswith("{")]


def launcher_argv(options: str, game_args: list[str], *,
                  portal: bool = False) -> list[str]:
    """The guest command that starts the lab game through the lab
    launcher as the player, as a desktop session would."""
    argv = ["runuser", "-u", "player", "--", "env", *SESSION_ENV,
            "flatpak", "run", APP, "run", "--options", options]
    if portal:
        argv.append("--portal")
    return [*argv, "--", "gbox-game", *game_args]


@dataclass
class Landing:
    """Where one start of the game landed and what its network did."""

    ok: bool
    observed: str


def game_lands(guest, *, portal: bool = False) -> Landing:
    """Start the game as a user would and check it is contained: in its
    scope, under its slice's memory.high, the remote host refused (EPERM)
    and localhost reachable."""
    done = guest.run(["timeout", "180", *launcher_argv(
        f"{WRAPPER} %command%",
        ["--timeout", "3", "--connect", REMOTE, "--connect", LOCAL],
        portal=portal)], timeout=240)
    seen = events(done.stdout)
    start = next((event for event in seen if event.get("event") == "start"),
                 {})
    connects = {event["target"]: event for event in seen
                if event.get("event") == "connect"}
    high = guest.run(["cat", f"{GAME_SLICE}/memory.high"]).stdout.strip()

    cgroup = start.get("cgroup", "")
    remote = connects.get(REMOTE, {})
    local = connects.get(LOCAL, {})
    ok = (f"/sys/fs/cgroup{cgroup}" == GAME_SCOPE
          and high == str(MEMORY_HIGH)
          and remote.get("errno") == "EPERM"
          and local.get("ok") is True)
    if not start:
        observed = ("the game did not start: "
                    + (done.stderr.strip().splitlines() or ["no output"])[-1])
    else:
        observed = (f"game in {cgroup.rsplit('/', 2)[-2:]}, memory.high "
                    f"{high}, remote {remote.get('errno') or 'reached'}, "
                    f"localhost {'ok' if local.get('ok') else local}")
    return Landing(ok, " ".join(observed.split()))


def wait_for(predicate, *, timeout: float, interval: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def main_pid(guest, unit: str, *, user: bool = False) -> int:
    """The main process of a unit of the system, or of the player's
    manager with ``user``; 0 when it has none."""
    manager = ["--user", "-M", "player@"] if user else []
    done = guest.run(["systemctl", *manager, "show", "-P", "MainPID", unit],
                     timeout=60)
    text = done.stdout.strip()
    return int(text) if text.isdigit() else 0


def kill_main_process(guest, unit: str, *, user: bool = False) -> int:
    """SIGKILL the unit's main process; returns its pid."""
    pid = main_pid(guest, unit, user=user)
    assert pid, f"{unit} has no main process"
    guest.run(["kill", "-KILL", str(pid)], check=True)
    return pid


def restarted(guest, unit: str, killed: int, *, user: bool = False,
              timeout: float = 60) -> bool:
    """Whether systemd started the unit again since ``killed`` died."""
    return wait_for(lambda: main_pid(guest, unit, user=user)
                    not in (0, killed), timeout=timeout)


def playbook_process(playbook: Path, *, limit: str, extra_vars: dict,
                     json_report: bool = True) -> subprocess.Popen:
    """Start ansible-playbook in a process group of its own, so the suite
    can interrupt it as a user pressing Ctrl-C twice or a dropped
    connection would."""
    return subprocess.Popen(
        playbook_command(playbook, limit=limit, extra_vars=extra_vars),
        cwd=REPO, env=playbook_env(json_report=json_report), text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        start_new_session=True)


def interrupt_after(process: subprocess.Popen, changes: int, *,
                    timeout: float = 900) -> tuple[int, bool]:
    """Kill the run (and its workers) once it has reported CHANGES changed
    tasks; returns how many it had reported and whether it was still
    running when killed."""
    seen = 0
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("changed: "):
            seen += 1
        if seen >= changes or time.monotonic() > deadline:
            break
    running = process.poll() is None
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    return seen, running
