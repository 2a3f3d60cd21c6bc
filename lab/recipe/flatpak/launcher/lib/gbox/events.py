"""JSON-line reports shared by gbox-launcher and gbox-game.

Each line on stdout is one JSON object with an "event" key, flushed at once
so a test reading the pipe sees it while the process still runs.
"""

from __future__ import annotations

import json

__all__ = ["report", "own_cgroup"]


def report(**event) -> None:
    print(json.dumps(event), flush=True)


def own_cgroup() -> str:
    """This process's cgroup v2 path, e.g. ``/user.slice/.../app.slice/...``.

    Flatpak sets up no cgroup namespace, so this is the full host path.
    """
    with open("/proc/self/cgroup", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("0::"):
                return line[3:].strip()
    return ""
