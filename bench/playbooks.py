"""Playbook wall times on the controller: the role's idempotent re-run
against the same desired state written with stock modules, and a rollout
to three guests against one, with the playbook's default serial.

Every run here is a re-run on converged guests, so the figures are what a
scheduled or repeated rollout costs; the first rollout is dominated by the
one-time bcc compile and is left to the loader rows.
"""

from __future__ import annotations

from pathlib import Path

from .common import REPO, Row, interleave, median, run_playbook, say

__all__ = ["GAMING_BOX", "STOCK", "converge", "measure_rerun",
           "measure_rollout"]

GAMING_BOX = REPO / "playbooks" / "gaming-box.yml"
STOCK = REPO / "bench" / "stock" / "gaming-box-stock.yml"
# One batch of every guest, for the first run that converges the lab.
ONE_BATCH = ["-e", '{"gaming_box_serial": ["100%"]}']


def converge(*, inventory: Path, hosts: str) -> None:
    """First runs, not measured: the role everywhere, then the stock
    baseline (it reuses the programs the role's filter pinned)."""
    say(f"converging playbooks/gaming-box.yml on {hosts} (first run, "
        "not measured; bcc compiles once per guest)")
    seconds = run_playbook(GAMING_BOX, inventory=inventory, limit=hosts,
                           extra=ONE_BATCH)
    say(f"converged in {seconds:.0f} s")
    first = hosts.split(",")[0]
    say(f"converging the stock baseline on {first}")
    seconds = run_playbook(STOCK, inventory=inventory, limit=first)
    say(f"stock baseline converged in {seconds:.0f} s")


def measure_rerun(*, inventory: Path, host: str, reps: int) -> list[Row]:
    samples = interleave(
        {"gaming-box.yml": lambda: run_playbook(
            GAMING_BOX, inventory=inventory, limit=host),
         "stock": lambda: run_playbook(
            STOCK, inventory=inventory, limit=host)},
        reps=reps, label=f"idempotent re-run s on {host}")
    return [Row(measure="idempotent re-run on one guest",
                subject="playbooks/gaming-box.yml",
                baseline="stock modules (bench/stock/gaming-box-stock.yml)",
                subject_value=median(samples["gaming-box.yml"]),
                baseline_value=median(samples["stock"]), unit="s",
                better="lower", target="≤ 0.4×", target_ratio=0.4,
                notes=[f"{reps} interleaved runs each; ini_file from "
                       "community.general (PyPI package ansible, "
                       "requirements/bench.txt)"])]


def measure_rollout(*, inventory: Path, hosts: list[str],
                    reps: int) -> list[Row]:
    one, every = hosts[0], ",".join(hosts)
    samples = interleave(
        {"1 guest": lambda: run_playbook(
            GAMING_BOX, inventory=inventory, limit=one),
         "3 guests": lambda: run_playbook(
            GAMING_BOX, inventory=inventory, limit=every)},
        reps=reps, label="rollout s")
    return [Row(measure="rollout to three guests",
                subject=f"{len(hosts)} guests", baseline="1 guest",
                subject_value=median(samples["3 guests"]),
                baseline_value=median(samples["1 guest"]), unit="s",
                better="lower", target="≤ 1.3×", target_ratio=1.3,
                notes=[f"{reps} interleaved re-runs each, default serial "
                       "(one canary guest, then the other two)"])]
