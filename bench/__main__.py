"""`make bench`: every benchmark against a lab of its own, one table.

    .venv/bin/python -m bench [--only loopback,wrapper,...] [--reps 3]
                              [--heavy-reps 2]
                              [--keep-lab] [--skip-converge]

Progress goes to stderr; the table to stdout and to bench/results/.
"""

from __future__ import annotations

import argparse
import os
import sys

from .common import BENCH_LAB

# Before lab is imported anywhere: the shared lab in lab/state is other
# people's, so the suite boots and later takes down only its own.
os.environ["GAMINGBOX_LAB_STATE"] = str(BENCH_LAB)

from .suite import MEASURES, Options, run_suite  # noqa: E402


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench",
                                     description=__doc__)
    parser.add_argument("--only", default=",".join(MEASURES),
                        help="comma-separated subset of "
                             f"{','.join(MEASURES)}")
    parser.add_argument("--reps", type=int, default=3,
                        help="interleaved rounds of the quick measures "
                             "(loopback runs at least 5)")
    # Each round of these costs minutes under software emulation.
    parser.add_argument("--heavy-reps", type=int, default=2,
                        help="interleaved rounds of the loader, re-run "
                             "and rollout measures")
    parser.add_argument("--keep-lab", action="store_true",
                        help="leave the bench guests running afterwards")
    parser.add_argument("--skip-converge", action="store_true",
                        help="the guests already carry the role")
    args = parser.parse_args(argv)
    only = tuple(name for name in args.only.split(",") if name)
    unknown = set(only) - set(MEASURES)
    if unknown:
        parser.error(f"unknown measures: {', '.join(sorted(unknown))}")
    return run_suite(Options(only=only, reps=args.reps,
                             heavy_reps=args.heavy_reps,
                             keep_lab=args.keep_lab,
                             skip_converge=args.skip_converge))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
