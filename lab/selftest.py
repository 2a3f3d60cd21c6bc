"""python -m lab selftest NAME: prove a guest offers what tests rely on.

Runs the baked-in Flatpak launcher as the player, directly and through the
portal, and the remote namespace, and checks the answers.  Changes nothing
that outlives it: the remote namespace is taken down again.
"""

from __future__ import annotations

import json
import re
import time
from typing import Callable

from lab.api import Guest

__all__ = ["run_selftest"]

APP = "org.gamingbox.Launcher"
SCOPE = re.compile(r"/app\.slice/app-flatpak-org\.gamingbox\.Launcher-\d+"
                   r"\.scope$")
REMOTE_TARGETS = ["tcp:10.201.0.2:7000", "tcp:[fd42:201::2]:7000",
                  "tcp:[::ffff:10.201.0.2]:7000", "udp:10.201.0.2:7000",
                  "udp:[fd42:201::2]:7000"]


def events(stdout: str) -> dict[str, list[dict]]:
    """JSON lines of launcher and game, grouped by their "event"."""
    grouped: dict[str, list[dict]] = {}
    for line in stdout.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            grouped.setdefault(event["event"], []).append(event)
    return grouped


def launch(guest: Guest, *launcher_args: str) -> dict[str, list[dict]]:
    result = guest.run_as_player(["flatpak", "run", APP, *launcher_args],
                                 timeout=300)
    if result.returncode != 0:
        raise AssertionError(f"flatpak run exited {result.returncode}: "
                             f"{result.stderr.strip()}")
    return events(result.stdout)


def check_kernel_headers(guest: Guest) -> str:
    release = guest.run(["uname", "-r"], check=True).stdout.strip()
    found = guest.run(["test", "-d", f"/lib/modules/{release}/build/"])
    assert found.returncode == 0, f"no headers for {release}"
    return f"headers of the running kernel {release} are installed"


def check_direct(guest: Guest) -> str:
    seen = launch(guest, "run", "--", "gbox-game", "--hold", "0")
    launcher = seen["launcher-start"][0]["cgroup"]
    game = seen["start"][0]["cgroup"]
    assert SCOPE.search(launcher), f"launcher in {launcher}"
    assert game == launcher, f"game in {game}, launcher in {launcher}"
    assert seen["game-exit"][0]["code"] == 0
    return f"game shares the launcher's {launcher.rsplit('/', 1)[1]}"


def check_portal(guest: Guest) -> str:
    seen = launch(guest, "run", "--portal", "--", "gbox-game", "--hold", "0")
    launcher = seen["launcher-start"][0]["cgroup"]
    game = seen["start"][0]["cgroup"]
    assert SCOPE.search(game), f"game in {game}"
    assert game != launcher, f"game stayed in the launcher's {launcher}"
    return f"game got its own {game.rsplit('/', 1)[1]}"


def check_remote(guest: Guest) -> str:
    guest.run(["gbox-remote-ns", "up"], check=True, timeout=60)
    try:
        connects = [arg for target in REMOTE_TARGETS
                    for arg in ("--connect", target)]
        seen = launch(guest, "run", "--", "gbox-game", *connects,
                      "--expect-reply")
        failed = [c for c in seen.get("connect", []) if not c["ok"]]
        assert len(seen.get("connect", [])) == len(REMOTE_TARGETS)
        assert not failed, f"failed: {failed}"
        probe = launch(guest, "probe", REMOTE_TARGETS[0])
        assert probe["connect"][0]["ok"], probe
    finally:
        guest.run(["gbox-remote-ns", "down"], timeout=60)
    return f"{len(REMOTE_TARGETS)} game connections and a launcher probe"


CHECKS: list[tuple[str, Callable[[Guest], str]]] = [
    ("kernel headers", check_kernel_headers),
    ("flatpak direct", check_direct),
    ("flatpak portal", check_portal),
    ("remote namespace", check_remote),
]


def run_selftest(guest: Guest) -> bool:
    """Run every check, print one line each; True when all pass."""
    passed = True
    for title, check in CHECKS:
        started = time.monotonic()
        try:
            detail = check(guest)
            verdict = "ok  "
        except AssertionError as exc:
            detail, verdict, passed = str(exc), "FAIL", False
        print(f"{verdict} {guest.name} {title}: {detail} "
              f"({time.monotonic() - started:.1f} s)", flush=True)
    return passed
