"""python -m lab: image, up, down, status, ssh, reboot."""

from __future__ import annotations

import argparse
import os
import sys

from lab.config import LabError, state_dir

__all__ = ["build_parser", "main"]


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: must be 1 or more")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lab",
        description="Debian 12 QEMU guests for gaming-box tests.")
    commands = parser.add_subparsers(dest="command", required=True)

    image = commands.add_parser(
        "image", help="build the base image, or reuse the cached one")
    image.add_argument("--rebuild", action="store_true",
                       help="build even when a cached image matches")
    image.add_argument("--prune", action="store_true",
                       help="remove cached images of other recipes")

    up = commands.add_parser(
        "up", help="boot N guests (reusing healthy ones), write inventory")
    up.add_argument("-n", "--count", type=positive_int, default=1)
    up.add_argument("--memory", type=positive_int, metavar="MIB",
                    help="memory per new guest (default 2048 for one "
                    "guest, 1536 each for more)")
    up.add_argument("--cpus", type=positive_int,
                    help="vCPUs per new guest (default 2 for one, else 1)")
    up.add_argument("--timeout", type=float, default=600.0,
                    metavar="SECONDS", help="boot timeout per guest")
    up.add_argument("--rebuild-image", action="store_true")

    commands.add_parser("down", help="stop all guests, remove all state")
    commands.add_parser("status", help="show guests and their state")

    ssh = commands.add_parser("ssh", help="run a command in a guest "
                              "(a shell without one)")
    ssh.add_argument("guest", metavar="NAME", help="e.g. gbox-1")
    ssh.add_argument("remote", nargs=argparse.REMAINDER, metavar="-- CMD")

    reboot = commands.add_parser("reboot", help="reboot a guest, wait "
                                 "until it runs again")
    reboot.add_argument("guest", metavar="NAME")
    reboot.add_argument("--timeout", type=float, default=600.0)

    selftest = commands.add_parser(
        "selftest", help="check that guests run the Flatpak launcher "
        "(direct and portal) and the remote namespace")
    selftest.add_argument("guests", nargs="*", metavar="NAME",
                          help="default: every running guest")
    return parser


def command_image(args: argparse.Namespace) -> int:
    from lab.imagecache import ensure_image, prune_images
    from lab.state import load_state

    image = ensure_image(rebuild=args.rebuild)
    info = image.describe()
    print(f"{image.directory}  kernel {info['kernel']}  "
          f"built {info['built']} in {info['build_seconds']} s")
    if args.prune:
        running = load_state(state_dir()).guests.values()
        for path in prune_images({record.image for record in running}):
            print(f"removed {path}")
    return 0


def command_up(args: argparse.Namespace) -> int:
    from lab.control import UpOptions, lab_up

    state = lab_up(UpOptions(count=args.count, memory_mib=args.memory,
                             cpus=args.cpus, timeout=args.timeout,
                             rebuild_image=args.rebuild_image))
    print(state.inventory)
    return 0


def command_down(args: argparse.Namespace) -> int:
    from lab.control import lab_down

    lab_down()
    return 0


def command_status(args: argparse.Namespace) -> int:
    from lab.control import lab_status
    from lab.imagecache import current_image

    image = current_image()
    built = "built" if image.complete() else "not built yet"
    print(f"image: {image.directory} ({built})")
    rows = lab_status()
    if not rows:
        print(f"no guests (state: {state_dir()})")
        return 0
    print(f"{'NAME':<8} {'SSH':>5} {'PID':>8} {'QEMU':<5} {'MiB':>5} "
          f"{'CPUS':>4}  {'IMAGE':<17} SYSTEM")
    for row in rows:
        # A guest booted before the recipe changed runs an older image.
        mark = "" if row["image"] == image.key else "*"
        print(f"{row['name']:<8} {row['port']:>5} {row['pid']:>8} "
              f"{row['qemu']:<5} {row['memory_mib']:>5} {row['cpus']:>4}  "
              f"{row['image'] + mark:<17} {row['system']}")
    if any(row["image"] != image.key for row in rows):
        print("* an older image than the recipe's; `python -m lab down` "
              "and `up` to use the new one")
    return 0


def command_ssh(args: argparse.Namespace) -> int:
    from lab.control import find_guest
    from lab.ssh import ssh_command
    from lab.state import load_state

    state = load_state(state_dir())
    record = find_guest(state, args.guest)
    # argparse has already dropped the "--" that ends our own options.
    tty = not args.remote and sys.stdin.isatty()
    argv = ssh_command(state.target(record), args.remote or None, tty=tty)
    # Hand the terminal over to ssh: its exit code becomes ours.
    os.execvp(argv[0], argv)


def command_reboot(args: argparse.Namespace) -> int:
    from lab.control import lab_reboot
    from lab.state import load_state

    readiness = lab_reboot(load_state(state_dir()), args.guest,
                           timeout=args.timeout)
    print(f"{args.guest}: {readiness.summary()}")
    return 0


def command_selftest(args: argparse.Namespace) -> int:
    from lab.api import Lab
    from lab.selftest import run_selftest

    lab = Lab.load()
    guests = [lab.guest(name) for name in args.guests] or lab.guests
    results = [run_selftest(guest) for guest in guests]
    return 0 if all(results) else 1


COMMANDS = {
    "image": command_image,
    "up": command_up,
    "down": command_down,
    "status": command_status,
    "ssh": command_ssh,
    "reboot": command_reboot,
    "selftest": command_selftest,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except LabError as exc:
        print(f"[lab] error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("[lab] interrupted", file=sys.stderr)
        return 130
