"""Connection attempts that report what happened as plain data.

Shared by gbox-game (whose network the collection filters) and
gbox-launcher's probe (whose network must stay open).  A target is
``PROTO:HOST:PORT`` with PROTO ``tcp`` or ``udp``; an IPv6 host goes in
brackets: ``tcp:[::1]:7000``, ``udp:[::ffff:10.201.0.2]:7000``.
"""

from __future__ import annotations

import argparse
import errno
import socket
import time
from dataclasses import dataclass

__all__ = ["Target", "parse_target", "probe"]

PROTOCOLS = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}


@dataclass(frozen=True)
class Target:
    proto: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.proto}:{host}:{self.port}"


def parse_target(text: str) -> Target:
    """Split ``PROTO:HOST:PORT``.

    Raises ArgumentTypeError (a command-line mistake) naming the problem.
    """
    proto, sep, rest = text.partition(":")
    if not sep or proto not in PROTOCOLS:
        raise bad_target(text, "want tcp:HOST:PORT or udp:HOST:PORT")

    bracketed = rest.startswith("[")
    if bracketed:
        host, sep, port = rest[1:].partition("]:")
    else:
        host, sep, port = rest.rpartition(":")
    if not sep or not host or (":" in host and not bracketed):
        raise bad_target(text, "want HOST:PORT, an IPv6 host in brackets")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise bad_target(text, "the port must be 1-65535")
    return Target(proto, host, int(port))


def bad_target(text: str, reason: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(f"{text!r}: {reason}")


def error_name(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "ETIMEDOUT"
    return errno.errorcode.get(exc.errno or 0, type(exc).__name__)


def probe(target: Target, *, timeout: float,
          expect_reply: bool = False) -> dict:
    """Try one connection (TCP) or datagram (UDP) and describe the outcome.

    A mapped address such as ``::ffff:10.0.0.2`` is used as given, on an
    IPv6 socket, so a filter sees exactly what a game could send.
    """
    result: dict = {"event": "connect", "target": str(target),
                    "proto": target.proto, "ok": False, "errno": None}
    started = time.monotonic()
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            target.host, target.port, type=PROTOCOLS[target.proto])[0]
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(timeout)
            if target.proto == "tcp":
                sock.connect(address)
            else:
                exchange_datagram(sock, address, expect_reply, result)
        result["ok"] = True
    except OSError as exc:
        result["errno"] = error_name(exc)
    result["elapsed_ms"] = round((time.monotonic() - started) * 1000, 1)
    return result


def exchange_datagram(sock: socket.socket, address: tuple,
                      expect_reply: bool, result: dict) -> None:
    """Send one datagram; with expect_reply, wait for the echo too."""
    result["sent"] = False
    sock.sendto(b"gbox-game", address)
    result["sent"] = True
    if expect_reply:
        result["reply"] = False
        sock.recvfrom(65536)
        result["reply"] = True
