"""Boot-time loader versus bcc on its own, against any running lab:

    .venv/bin/python bench/netfilter_loader.py [--guest gbox-2] [--name nftest] [--runs 3]

Needs a guest where cgroup_bpf_netfilter has set up the filter NAME (the
integration test's ``nftest`` by default).  The measurement itself is the
suite's (bench/loader.py); ``make bench`` runs it as one of its rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.loader import loader_rows, measure_loader  # noqa: E402
from bench.report import markdown_table  # noqa: E402
from lab.api import Lab  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--guest", default="gbox-2")
    parser.add_argument("--name", default="nftest")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    guest = Lab.load().guest(args.guest)
    samples = measure_loader(guest, name=args.name, reps=args.runs)
    print(markdown_table(loader_rows(samples, guest=args.guest)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
