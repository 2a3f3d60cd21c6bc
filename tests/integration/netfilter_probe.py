"""Try each network target once and print the outcomes as one JSON line.

Installed in lab guests by test_cgroup_bpf_netfilter.py.  A target is
KIND:HOST:PORT with KIND tcp, udp, tcp6m or udp6m (an AF_INET6 socket
aimed at the IPv4-mapped form of HOST) or ping; HOST "local4"/"local6" is a
listener this process opens on 127.0.0.1/::1 first.  Only loopback and the
lab's "remote" namespace are ever targets.
"""

from __future__ import annotations

import errno
import json
import socket
import sys
import time

TIMEOUT = 3.0


def local_listener(family: int, kind: int):
    host = "127.0.0.1" if family == socket.AF_INET else "::1"
    sock = socket.socket(family, kind)
    sock.bind((host, 0))
    if kind == socket.SOCK_STREAM:
        sock.listen(4)
    return sock, host, sock.getsockname()[1]


def attempt(kind: str, host: str, port: int, keep: list) -> None:
    stream = kind.startswith("tcp")
    sock_type = socket.SOCK_STREAM if stream else socket.SOCK_DGRAM
    if host in ("local4", "local6"):
        family = socket.AF_INET if host == "local4" else socket.AF_INET6
        listener, host, port = local_listener(family, sock_type)
        keep.append(listener)
    if kind.endswith("6m"):
        family, host = socket.AF_INET6, f"::ffff:{host}"
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET

    if kind == "ping":
        sock = socket.socket(family, socket.SOCK_DGRAM,
                             socket.IPPROTO_ICMP if family == socket.AF_INET
                             else socket.IPPROTO_ICMPV6)
        sock.settimeout(TIMEOUT)
        request = bytes([8 if family == socket.AF_INET else 128, 0, 0, 0,
                         0, 1, 0, 1]) + b"gbox"
        sock.sendto(request, (host, 0))
        sock.recvfrom(256)
        return
    with socket.socket(family, sock_type) as sock:
        sock.settimeout(TIMEOUT)
        if stream:
            sock.connect((host, port))
            sock.sendall(b"gbox")
        else:
            sock.sendto(b"gbox", (host, port))
        # The remote end echoes; a local listener is enough to reach.
        if not host.endswith(("127.0.0.1", "::1")):
            sock.recv(64)


def main(targets: list) -> None:
    results = []
    keep = []
    for target in targets:
        kind, _sep, rest = target.partition(":")
        host, _sep, port = rest.rpartition(":")
        started = time.monotonic()
        try:
            attempt(kind, host, int(port), keep)
            outcome = "ok"
        except socket.timeout:
            outcome = "timeout"
        except OSError as exc:
            outcome = errno.errorcode.get(exc.errno, str(exc.errno))
        seconds = round(time.monotonic() - started, 3)
        results.append({"target": target, "outcome": outcome,
                        "seconds": seconds})
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
