"""Boot-time loader versus bcc: time and peak memory in a lab guest.

    .venv/bin/python bench/netfilter_loader.py [--guest gbox-2] [--runs 3]

Needs a guest where cgroup_bpf_netfilter has set up a filter (the
integration test's ``nftest`` by default).  Each loader run first takes
the filter out of the kernel (detach, unpin) so the loader has to do what
it does after a reboot: read the spec, create and fill the maps, relocate
and load every program, pin and attach.  The bcc run compiles the same C
program the module compiles.  Both report wall time and the peak RSS of
the process, measured in the guest; the table goes to stdout and to
bench/results/netfilter_loader.txt.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / ".cache" / "collections"))

from lab.api import Lab  # noqa: E402

from ansible_collections.gamingbox.sandbox.plugins.module_utils import (  # noqa: E402
    _bpf_program,
)

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

# Takes the filter out of the kernel with the installed loader's own code.
UNLOAD = r"""
import glob, os, sys
sys.path.insert(0, sorted(glob.glob(
    "/usr/local/lib/gaming-box/netfilter-loader/*"))[-1])
from gbox_netfilter import _netfilter_attach as attach
from gbox_netfilter._netfilter_state import read_spec
spec = read_spec(sys.argv[1])
fd = os.open(spec.cgroup, os.O_RDONLY | os.O_DIRECTORY)
attach.remove_filter(name=spec.name, cgroup_fd=fd, attach_types={
    p.hook: p.attach_type for p in spec.programs})
"""


def measure(guest, argv: list) -> dict:
    done = guest.run(["python3", "-c", MEASURE, *argv], check=True,
                     timeout=600)
    result = json.loads(done.stdout)
    assert result["rc"] == 0, result
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--guest", default="gbox-2")
    parser.add_argument("--name", default="nftest")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    guest = Lab.load().guest(args.guest)
    guest.put_file(SOURCE, _bpf_program.PROGRAM_SOURCE)

    loads, compiles = [], []
    for _run in range(args.runs):
        guest.run(["python3", "-c", UNLOAD, args.name], check=True,
                  timeout=300)
        loads.append(measure(guest, [LOADER, "prepare", args.name]))
        compiles.append(measure(guest, ["python3", "-c", COMPILE, SOURCE]))

    rows = []
    for label, runs in (("loader (prepare, from spec)", loads),
                        ("bcc import + compile", compiles)):
        rows.append((label, statistics.median(r["seconds"] for r in runs),
                     max(r["peak_kib"] for r in runs) / 1024))
    ratio = rows[1][1] / rows[0][1]
    lines = [f"{'what':32} {'median s':>9} {'peak MiB':>9}"]
    lines += [f"{label:32} {seconds:9.3f} {mib:9.1f}"
              for label, seconds, mib in rows]
    lines.append(f"loader is {ratio:.1f}x faster than compiling "
                 f"({args.runs} runs each, guest {args.guest})")
    text = "\n".join(lines)
    print(text)
    results = REPO / "bench" / "results"
    results.mkdir(exist_ok=True)
    (results / "netfilter_loader.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
