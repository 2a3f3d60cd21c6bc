#!/usr/bin/python3
"""TCP and UDP echo for the lab's remote namespace, IPv4 and IPv6 alike.

Every TCP connection and UDP datagram is logged as a JSON line, so a test can
tell "dropped on the way" from "arrived but got no answer".
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import threading
import time


def dual_stack_socket(kind: int, port: int) -> socket.socket:
    """Bind one socket that serves IPv4 (as mapped addresses) and IPv6."""
    sock = socket.socket(socket.AF_INET6, kind)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("::", port))
    return sock


def log_peer(log_path: str, proto: str, peer: tuple) -> None:
    line = json.dumps({"time": time.time(), "proto": proto,
                       "peer": peer[0], "port": peer[1]})
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(line + "\n")


def echo_stream(conn: socket.socket) -> None:
    with conn:
        while data := conn.recv(65536):
            conn.sendall(data)


def notify_ready() -> None:
    """Tell systemd (Type=notify) that both sockets listen."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(b"READY=1", address)


def serve(port: int, log_path: str) -> None:
    tcp = dual_stack_socket(socket.SOCK_STREAM, port)
    tcp.listen(64)
    udp = dual_stack_socket(socket.SOCK_DGRAM, port)
    selector = selectors.DefaultSelector()
    selector.register(tcp, selectors.EVENT_READ)
    selector.register(udp, selectors.EVENT_READ)
    notify_ready()

    while True:
        for key, _ in selector.select():
            if key.fileobj is tcp:
                conn, peer = tcp.accept()
                log_peer(log_path, "tcp", peer)
                threading.Thread(target=echo_stream, args=(conn,),
                                 daemon=True).start()
            else:
                data, peer = udp.recvfrom(65536)
                log_peer(log_path, "udp", peer)
                udp.sendto(data, peer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=7000)
    parser.add_argument("--log", default="/run/gbox-remote/log.jsonl")
    args = parser.parse_args()
    serve(args.port, args.log)


if __name__ == "__main__":
    main()
