"""The boot-time loader against bcc: from a missing cgroup to an attached
filter, and the peak memory of each, in one guest.

Before each loader run the filter is taken out of the kernel (detached,
unpinned) and its cgroup removed, so ``netfilter-loader prepare NAME``
does all it does when the user manager starts after a reboot: create the
cgroup, read the spec, create and fill the maps, load, pin and attach
every program.  The bcc run compiles the same C program the module
compiles, which is what the loader spares at that moment.  Both report
wall time and peak RSS measured in the guest.
"""

from __future__ import annotations

import json
import sys

from lab.api import Guest

from .common import REPO, Row, interleave, median, say

sys.path.insert(0, str(REPO / ".cache" / "collections"))

from ansible_collections.gamingbox.sandbox.plugins.module_utils import (  # noqa: E402
    _bpf_program,
)

__all__ = ["LOADER", "LoaderSamples", "measure_loader", "loader_rows"]

LOADER = "/usr/local/libexec/gaming-box/netfilter-loader"
SOURCE = "/tmp/gbox-bench-filter.c"

# Runs COMMAND as a child and prints its wall time and peak RSS.
MEASURE = r"""
import json, resource, subprocess, sys, time
started = time.monotonic()
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
seconds = time.monotonic() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"rc": done.returncode, "seconds": seconds,
                  "peak_kib": peak, "err": done.stderr[-500:]}))
"""

COMPILE = r"""
import sys
import bcc
bcc.BPF(text=open(sys.argv[1]).read()).cleanup()
"""

# Takes the filter out of the kernel with the installed loader's own code,
# then removes its cgroup when nothing runs in it; prints whether it did.
UNLOAD = r"""
import glob, os, sys
sys.path.insert(0, sorted(glob.glob(
    "/usr/local/lib/gaming-box/netfilter-loader/*"))[-1])
from gbox_netfilter import _netfilter_attach as attach
from gbox_netfilter._netfilter_cgroup import ANCHOR
from gbox_netfilter._netfilter_state import read_spec
spec = read_spec(sys.argv[1])
fd = os.open(spec.cgroup, os.O_RDONLY | os.O_DIRECTORY)
attach.remove_filter(name=spec.name, cgroup_fd=fd, attach_types={
    p.hook: p.attach_type for p in spec.programs})
os.close(fd)
children = [entry.name for entry in os.scandir(spec.cgroup) if entry.is_dir()]
with open(os.path.join(spec.cgroup, "cgroup.procs")) as procs:
    busy = procs.read().strip()
removed = False
if not busy and set(children) <= {ANCHOR}:
    for child in children:
        os.rmdir(os.path.join(spec.cgroup, child))
    os.rmdir(spec.cgroup)
    removed = True
print("removed" if removed else "kept")
"""


class LoaderSamples:
    """Runs of both sides, and whether each loader run created the cgroup."""

    def __init__(self) -> None:
        self.loads: list[dict] = []
        self.compiles: list[dict] = []
        self.created: list[bool] = []


def _measure(guest: Guest, argv: list[str]) -> dict:
    done = guest.run(["python3", "-c", MEASURE, *argv], check=True,
                     timeout=600)
    result = json.loads(done.stdout)
    if result["rc"] != 0:
        raise RuntimeError(f"{argv[0]} failed in {guest.name}: "
                           f"{result['err']}")
    return result


def measure_loader(guest: Guest, *, name: str, reps: int) -> LoaderSamples:
    say(f"loader: filter {name} on {guest.name}, {reps} rounds "
        "(bcc compiles take about a minute each under emulation)")
    guest.put_file(SOURCE, _bpf_program.PROGRAM_SOURCE)
    samples = LoaderSamples()

    def load_once() -> float:
        unloaded = guest.run(["python3", "-c", UNLOAD, name], check=True,
                             timeout=300)
        samples.created.append(unloaded.stdout.strip() == "removed")
        result = _measure(guest, [LOADER, "prepare", name])
        samples.loads.append(result)
        return result["seconds"]

    def compile_once() -> float:
        result = _measure(guest, ["python3", "-c", COMPILE, SOURCE])
        samples.compiles.append(result)
        return result["seconds"]

    interleave({"loader prepare": load_once, "bcc compile": compile_once},
               reps=reps, label="loader s")
    return samples


def loader_rows(samples: LoaderSamples, *, guest: str) -> list[Row]:
    load_s = median([r["seconds"] for r in samples.loads])
    compile_s = median([r["seconds"] for r in samples.compiles])
    load_mib = max(r["peak_kib"] for r in samples.loads) / 1024
    compile_mib = max(r["peak_kib"] for r in samples.compiles) / 1024
    created = ("the loader created the cgroup each time"
               if all(samples.created) else
               "the cgroup was busy, so it existed before the loader ran")
    runs = f"{len(samples.loads)} interleaved runs each, guest {guest}"
    return [
        Row(measure="loader unit: cgroup created to filter attached",
            subject="netfilter-loader prepare",
            baseline="bcc import + compile", subject_value=load_s,
            baseline_value=compile_s, unit="s", better="lower",
            target="≥ 20× faster (≤ 0.05×)", target_ratio=0.05,
            notes=[runs, created]),
        Row(measure="loader unit: peak memory",
            subject="netfilter-loader prepare",
            baseline="bcc import + compile", subject_value=load_mib,
            baseline_value=compile_mib, unit="MiB", better="lower",
            target="≤ 30 MiB", target_ratio=30.0 / compile_mib,
            notes=[f"peak RSS, largest of the runs; loader {load_mib:.1f} "
                   f"MiB against a 30 MiB budget"]),
    ]
