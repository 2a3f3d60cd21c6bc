"""What every benchmark shares: progress lines, interleaved repetitions,
result rows and the ansible-playbook runner.

Benchmarks report; they never assert anything about speed.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

__all__ = ["REPO", "BENCH_LAB", "Row", "say", "interleave", "median",
           "run_playbook", "player_cgroup"]

REPO = Path(__file__).resolve().parents[1]
# A lab of our own: the default one in lab/state belongs to everyone.
BENCH_LAB = REPO / ".cache" / "bench-lab"
PLAYER_UID = 1000
HEARTBEAT_SECONDS = 30.0

_STARTED = time.monotonic()


def say(message: str) -> None:
    """One progress line on stderr, with the seconds since the suite began."""
    elapsed = time.monotonic() - _STARTED
    print(f"[bench {elapsed:6.0f} s] {message}", file=sys.stderr, flush=True)


@dataclass
class Row:
    """One line of the results table: subject versus baseline."""

    measure: str
    subject: str
    baseline: str
    subject_value: float | None
    baseline_value: float | None
    unit: str
    # "higher" when a bigger value is better (throughput), else "lower".
    better: str
    target: str
    target_ratio: float
    notes: list[str] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if not self.subject_value or not self.baseline_value:
            return None
        return self.subject_value / self.baseline_value

    @property
    def met(self) -> bool | None:
        ratio = self.ratio
        if ratio is None:
            return None
        if self.better == "higher":
            return ratio >= self.target_ratio
        return ratio <= self.target_ratio


def interleave(sides: dict[str, Callable[[], float]], *, reps: int,
               label: str) -> dict[str, list[float]]:
    """Run each side once per round, A B A B ..., so a burst of load from
    the rest of the machine lands on every side alike."""
    samples: dict[str, list[float]] = {name: [] for name in sides}
    for round_no in range(1, reps + 1):
        for name, measure_once in sides.items():
            value = measure_once()
            samples[name].append(value)
            say(f"{label}: round {round_no}/{reps} {name} = {value:.4g}")
    return samples


def median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None


def run_playbook(playbook: Path, *, inventory: Path, limit: str,
                 extra: Sequence[str] = ()) -> float:
    """Run ansible-playbook on the controller and return its wall time.

    A failed run raises: a fast failure must not pass for a fast run.
    """
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"),
            "-i", str(inventory), "--limit", limit,
            "-e", f"@{REPO / 'lab' / 'gaming-box-vars.yml'}",
            *extra, str(playbook)]
    env = {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg"),
           "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"}
    started = time.monotonic()
    with subprocess.Popen(argv, cwd=REPO, env=env, text=True,
                          stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT) as running:
        output = _wait_with_heartbeat(running, f"{playbook.name} on {limit}")
    seconds = time.monotonic() - started
    if running.returncode != 0:
        raise RuntimeError(f"{playbook.name} on {limit} failed "
                           f"(rc {running.returncode}):\n{output[-3000:]}")
    return seconds


def _wait_with_heartbeat(running: subprocess.Popen, title: str) -> str:
    """Collect the output, saying every HEARTBEAT_SECONDS that the run is
    still going, so a slow guest does not look like a hung suite."""
    started = time.monotonic()
    beats = threading.Event()

    def beat() -> None:
        while not beats.wait(HEARTBEAT_SECONDS):
            say(f"{title}: still running "
                f"({time.monotonic() - started:.0f} s)")

    beater = threading.Thread(target=beat, daemon=True)
    beater.start()
    try:
        output, _ = running.communicate()
    finally:
        beats.set()
    return output


def player_cgroup(*parts: str) -> str:
    """A cgroup directory inside the lab player's user manager."""
    base = (f"/sys/fs/cgroup/user.slice/user-{PLAYER_UID}.slice/"
            f"user@{PLAYER_UID}.service")
    return "/".join([base, *parts])
