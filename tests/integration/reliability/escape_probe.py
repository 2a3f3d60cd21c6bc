"""Escape attempts a game makes from inside its scope, run as the game.

The lab launcher runs this with the runtime's python3 through the game's
wrapper, so it starts where a real game starts: moved into its scope,
inside the launcher's Flatpak sandbox, unprivileged.  It prints one JSON
line per attempt.  Network attempts go only to the lab's in-guest remote
namespace (10.201.0.2, fd42:201::2) and never elsewhere.
"""

import errno
import json
import os
import socket
import struct
import subprocess
import sys
import time

REMOTE4 = "10.201.0.2"
REMOTE6 = "fd42:201::2"
PORT = 7000
FORK_ATTEMPTS = 2000


def emit(case, **fields):
    print(json.dumps({"event": "probe", "case": case, **fields}), flush=True)


def own_cgroup():
    with open("/proc/self/cgroup", encoding="ascii") as lines:
        for line in lines:
            if line.startswith("0::"):
                return line[3:].strip()
    return ""


def attempt(case, action):
    try:
        detail = action()
    except OSError as exc:
        emit(case, ok=False, errno=errno.errorcode.get(exc.errno, str(exc)))
    else:
        emit(case, ok=True, detail=detail)


def tcp_connect(family, address):
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(3)
        sock.connect(address)
    return "connected"


def udp_exchange(family, address):
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(b"gaming-box escape probe", address)
        try:
            sock.recvfrom(512)
        except socket.timeout:
            return "sent, no reply"
    return "sent, reply"


def ping(address):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM,
                       socket.IPPROTO_ICMP) as sock:
        sock.settimeout(2)
        header = struct.pack("!BBHHH", 8, 0, 0, 0, 1)
        sock.sendto(header + b"gbox", (address, 0))
        try:
            sock.recvfrom(512)
        except socket.timeout:
            return "sent, no reply"
    return "echo reply"


def raw_socket():
    with socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP):
        return "opened"


def inherited_socket():
    fd = int(os.environ["GBOX_LAUNCHER_FD"])
    with socket.socket(fileno=fd) as sock:
        sock.settimeout(3)
        sock.connect((REMOTE4, PORT))
    return "connected"


def move_out(target):
    with open(f"/sys/fs/cgroup{target}/cgroup.procs", "w",
              encoding="ascii") as procs:
        procs.write(str(os.getpid()))
    return f"moved, now in {own_cgroup()}"


def fork_bomb():
    """Start up to FORK_ATTEMPTS sleeps; count how many the kernel allowed."""
    children, refused, peak = [], 0, 0
    # Only the scope's own directory is visible in the sandbox; the scope
    # holds everything of the game slice but the slice's bookkeeping.
    procs = f"/sys/fs/cgroup{own_cgroup()}/pids.current"
    for _attempt in range(FORK_ATTEMPTS):
        try:
            children.append(subprocess.Popen(["sleep", "60"]))
        except BlockingIOError:
            refused += 1
            if refused >= 20:
                break
    time.sleep(1)
    try:
        with open(procs, encoding="ascii") as current:
            peak = int(current.read())
    except OSError:
        peak = -1
    for child in children:
        child.kill()
    for child in children:
        child.wait()
    emit("fork-bomb", started=len(children), refused=refused,
         slice_pids=peak)


def main():
    scope = own_cgroup()
    emit("start", cgroup=scope, pid=os.getpid())
    attempt("tcp-ipv4", lambda: tcp_connect(socket.AF_INET, (REMOTE4, PORT)))
    attempt("tcp-ipv6", lambda: tcp_connect(socket.AF_INET6, (REMOTE6, PORT)))
    attempt("tcp-mapped", lambda: tcp_connect(
        socket.AF_INET6, (f"::ffff:{REMOTE4}", PORT)))
    attempt("udp-ipv4", lambda: udp_exchange(socket.AF_INET, (REMOTE4, PORT)))
    attempt("udp-ipv6", lambda: udp_exchange(socket.AF_INET6, (REMOTE6, PORT)))
    attempt("udp-mapped", lambda: udp_exchange(
        socket.AF_INET6, (f"::ffff:{REMOTE4}", PORT)))
    attempt("ping-remote", lambda: ping(REMOTE4))
    attempt("raw-socket", raw_socket)
    if "GBOX_LAUNCHER_FD" in os.environ:
        attempt("launcher-socket", inherited_socket)
    attempt("move-to-slice", lambda: move_out(os.path.dirname(scope)))
    attempt("move-to-manager", lambda: move_out(
        scope.split("/games.slice/")[0] + "/app.slice"))
    emit("after-moves", cgroup=own_cgroup())
    if "--fork-bomb" in sys.argv:
        fork_bomb()
    time.sleep(0.1)


main()
