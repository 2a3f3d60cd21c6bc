"""The launch wrapper's cost: starting a game through the wrapper the role
wrote against starting it directly, in one guest.

The "game" is /bin/true, so the difference is the wrapper alone: a shell
start, the move into the scope and the check of /proc/self/cgroup.  One
Python process in the player's manager times both sides alternately.
"""

from __future__ import annotations

import json

from lab.api import Guest

from .common import Row, say

__all__ = ["measure_wrapper"]

WRAPPER = "/home/player/.local/share/gaming-box/bin/demo"
GAME = "/bin/true"

# Runs in the guest: alternate direct and wrapped starts, print the medians
# in milliseconds.  Wall time from spawn to exit, so both sides pay the same
# fork, exec and wait around the part that differs.
TIMER = r"""
import json, statistics, subprocess, sys, time
wrapper, game, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
samples = {"direct": [], "wrapper": []}
for _ in range(runs):
    for side, argv in (("direct", [game]), ("wrapper", [wrapper, game])):
        started = time.perf_counter()
        subprocess.run(argv, check=True)
        samples[side].append((time.perf_counter() - started) * 1000)
print(json.dumps({side: statistics.median(values)
                  for side, values in samples.items()}))
"""


def measure_wrapper(guest: Guest, *, runs: int) -> list[Row]:
    say(f"wrapper: {runs} interleaved starts each way on {guest.name}")
    # In a scope of the player's manager: the wrapper may only move a
    # process whose cgroup shares an ancestor the player owns.
    done = guest.run_as_player(
        ["systemd-run", "--user", "--scope", "--quiet",
         "--slice=gbbenchfree.slice", "python3", "-c", TIMER, WRAPPER,
         GAME, str(runs)], check=True, timeout=600)
    medians = json.loads(done.stdout.strip().splitlines()[-1])
    direct, wrapped = medians["direct"], medians["wrapper"]
    say(f"wrapper: direct {direct:.1f} ms, through the wrapper "
        f"{wrapped:.1f} ms")
    # The target is "≤ 1.05× plus 5 ms"; expressed as a ratio against the
    # direct start it is the budget (1.05 * direct + 5) / direct.
    budget = (1.05 * direct + 5.0) / direct
    return [Row(measure="wrapper: exec to the game's exec",
                subject="through the wrapper", baseline="game directly",
                subject_value=wrapped, baseline_value=direct, unit="ms",
                better="lower", target="≤ 1.05× + 5 ms",
                target_ratio=budget,
                notes=[f"game {GAME}, median of {runs} interleaved starts, "
                       f"overhead {wrapped - direct:.1f} ms; ratio budget "
                       f"{budget:.2f}×"])]
