"""Race a cgroup's creation: send from inside it the moment it exists.

Installed in lab guests by test_cgroup_bpf_netfilter.py and run as the lab
user inside the user manager (so it may move itself into the target):

    netfilter_racer.py CGROUP SECONDS

It watches the target's parent with inotify.  Whenever the target exists
it makes a child cgroup in it, moves itself there, opens a UDP socket and a
non-blocking TCP socket towards the lab's "remote" namespace (10.201.0.2
and fd42:201::2, port 7000, nothing else), sends, and moves back out.  A
send that is not refused at once has left the cgroup unfiltered.  Prints
one JSON line: tries, refused, leaked, also when stopped by SIGTERM (the
user manager kills it when the slice stops while it is inside).
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import select
import signal
import socket
import sys
import time

IN_CREATE = 0x100
TARGETS = ((socket.AF_INET, "10.201.0.2"), (socket.AF_INET6, "fd42:201::2"))
PORT = 7000


def own_cgroup() -> str:
    with open("/proc/self/cgroup", encoding="ascii") as handle:
        return "/sys/fs/cgroup" + handle.read().strip().partition("::")[2]


def move_to(cgroup: str) -> bool:
    try:
        with open(os.path.join(cgroup, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))
        return True
    except OSError:
        return False


def send_all() -> tuple[int, int]:
    """(refused, leaked) of one round of sends from the current cgroup."""
    refused = leaked = 0
    for family, host in TARGETS:
        for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            with socket.socket(family, kind) as sock:
                sock.setblocking(False)
                try:
                    if kind == socket.SOCK_DGRAM:
                        sock.sendto(b"race", (host, PORT))
                    else:
                        sock.connect((host, PORT))
                    leaked += 1
                except OSError as exc:
                    if exc.errno == errno.EPERM:
                        refused += 1
                    elif exc.errno == errno.EINPROGRESS:
                        leaked += 1  # the SYN is on its way
    return refused, leaked


def main(target: str, seconds: float) -> None:
    home = own_cgroup()
    child = os.path.join(target, "race")
    libc = ctypes.CDLL(None, use_errno=True)
    watch = libc.inotify_init1(0o2000000)
    libc.inotify_add_watch(watch, os.fsencode(os.path.dirname(target)),
                           IN_CREATE)
    counts = {"tries": 0, "refused": 0, "leaked": 0}

    def report(*_args) -> None:
        print(json.dumps(counts), flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, report)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not os.path.isdir(target):
            # Sleep until something is created next to the target.
            if select.select([watch], [], [], 0.5)[0]:
                os.read(watch, 4096)
            continue
        try:
            os.mkdir(child)
        except OSError:
            pass
        if move_to(child):
            counts["tries"] += 1
            round_refused, round_leaked = send_all()
            counts["refused"] += round_refused
            counts["leaked"] += round_leaked
            move_to(home)
        try:
            os.rmdir(child)
        except OSError:
            pass
    report()


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
