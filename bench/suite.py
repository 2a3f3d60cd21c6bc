"""The whole suite: a lab of its own, the measures in turn, the results.

A measure that breaks becomes a row marked failed with the reason, so one
broken part still leaves a table of the others.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import traceback
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from lab import config
from lab.api import Lab

from . import loader, loopback, playbooks, wrapper
from .common import BENCH_LAB, REPO, Row, say
from .report import markdown_table, write_chart

__all__ = ["Options", "run_suite"]

RESULTS = REPO / "bench" / "results"
MEASURES = ("loopback", "wrapper", "loader", "rerun", "rollout")
BENCH_FILTER = "gbbench"
BENCH_FILTER_SLICE = "gbbenchload.slice"


@dataclass(frozen=True)
class Options:
    only: tuple[str, ...]
    reps: int
    heavy_reps: int
    keep_lab: bool
    skip_converge: bool


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def _failed(measure: str, err: Exception) -> Row:
    say(f"{measure}: FAILED: {err}")
    return Row(measure=measure, subject="-", baseline="-",
               subject_value=None, baseline_value=None, unit="",
               better="lower", target="-", target_ratio=1.0,
               notes=[f"failed: {str(err).splitlines()[0][:300]}"])


def _install_bench_filter(inventory: Path, host: str) -> None:
    """A filter of the bench's own on an empty slice, so the loader row can
    remove its cgroup and have the loader create it again."""
    cgroup = ("/sys/fs/cgroup/user.slice/user-1000.slice/"
              f"user@1000.service/{BENCH_FILTER_SLICE}")
    say(f"loader: installing the filter {BENCH_FILTER} on {host}")
    done = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible"), "-i", str(inventory),
         host, "-b", "-m", "gamingbox.sandbox.cgroup_bpf_netfilter",
         "-a", f"name={BENCH_FILTER} cgroup={cgroup}"],
        cwd=REPO, capture_output=True, text=True,
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})
    if done.returncode != 0:
        raise RuntimeError(f"installing the bench filter failed: "
                           f"{done.stdout[-1500:]}")


def _plan(lab: Lab, options: Options) -> dict[str, Callable[[], list[Row]]]:
    names = [guest.name for guest in lab.guests]
    first, second, third = (lab.guest(name) for name in names[:3])

    def loader_measure() -> list[Row]:
        _install_bench_filter(lab.inventory, third.name)
        samples = loader.measure_loader(third, name=BENCH_FILTER,
                                        reps=options.heavy_reps)
        return loader.loader_rows(samples, guest=third.name)

    return {
        "loopback": lambda: loopback.measure_loopback(
            second, reps=max(options.reps, 5)),
        "wrapper": lambda: wrapper.measure_wrapper(second, runs=40),
        "loader": loader_measure,
        "rerun": lambda: playbooks.measure_rerun(
            inventory=lab.inventory, host=first.name,
            reps=options.heavy_reps),
        "rollout": lambda: playbooks.measure_rollout(
            inventory=lab.inventory, hosts=names[:3],
            reps=options.heavy_reps),
    }


def _header(options: Options, started: float, load_before: str, *,
            partial: bool) -> dict:
    finished = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return {
        "finished": finished + (" (partial)" if partial else ""),
        "runtime_s": time.monotonic() - started,
        "load_before": load_before, "load_after": _load(),
        "host_cpus": os.cpu_count(),
        "accel": "software emulation (TCG), 1 vCPU each",
        "reps": options.reps, "heavy_reps": options.heavy_reps,
        "measures": list(options.only),
    }


def _write_results(rows: list[Row], *, header: dict) -> str:
    RESULTS.mkdir(parents=True, exist_ok=True)
    table = markdown_table(rows)
    notes = [f"- {row.measure}: {note}" for row in rows
             for note in row.notes]
    text = "\n".join([
        f"# Benchmark results, {header['finished']}",
        "",
        f"`make bench` on {header['host_cpus']} host cores, guests under "
        f"{header['accel']}; run took {header['runtime_s']:.0f} s.  Load "
        f"average (1, 5, 15 min) before: {header['load_before']}, after: "
        f"{header['load_after']}.",
        "",
        table,
        "",
        "Notes:",
        "",
        *notes,
        "",
    ])
    (RESULTS / "latest.md").write_text(text)
    (RESULTS / "latest.json").write_text(json.dumps(
        {"header": header,
         "rows": [{**asdict(row), "ratio": row.ratio, "met": row.met}
                  for row in rows]}, indent=2) + "\n")
    write_chart(rows, RESULTS / "latest.png",
                title=f"gaming-box benchmarks {header['finished']}, load "
                      f"{header['load_before']} -> {header['load_after']}")
    return table


def run_suite(options: Options) -> int:
    started = time.monotonic()
    load_before = _load()
    # Never the shared lab: everything below acts on our own state dir.
    if config.state_dir().resolve() != BENCH_LAB.resolve():
        raise SystemExit(f"refusing to run on the lab in {config.state_dir()}")
    say(f"load average before: {load_before}; lab state {BENCH_LAB}")

    say("booting or reusing 3 bench guests")
    lab = Lab.up(3)
    try:
        if not options.skip_converge:
            playbooks.converge(
                inventory=lab.inventory,
                hosts=",".join(guest.name for guest in lab.guests))
        rows: list[Row] = []
        for name, measure in _plan(lab, options).items():
            if name not in options.only:
                continue
            say(f"== {name}")
            try:
                rows.extend(measure())
            except Exception as err:  # one broken measure keeps the rest
                traceback.print_exc()
                rows.append(_failed(name, err))
            # After every measure, so a run cut short still leaves a table.
            _write_results(rows, header=_header(options, started,
                                                load_before, partial=True))
    finally:
        if not options.keep_lab:
            say("taking the bench lab down")
            Lab.down()

    header = _header(options, started, load_before, partial=False)
    table = _write_results(rows, header=header)
    print(table)
    print(f"\nload average before {header['load_before']}, after "
          f"{header['load_after']}; {header['runtime_s']:.0f} s; "
          f"{RESULTS / 'latest.md'}, {RESULTS / 'latest.png'}")
    return 0
