"""Loopback TCP throughput and connection rate inside the filtered cgroup,
outside it, and under an nftables ``socket cgroupv2`` rule set with the
same allow-list, in one guest.

Each run is one Python process in a fresh scope of the slice under test
(``systemd-run --user --scope --slice=...``); it forks a server, so both
ends of every connection live in that slice, and times itself, so the cost
of starting the scope is not counted.

The baseline slices are siblings of the game's slice under games.slice and
carry the game's limits, so the three sides differ only in their filter.
"""

from __future__ import annotations

import json

from lab.api import Guest

from .common import Row, interleave, median, player_cgroup, say

__all__ = ["measure_loopback"]

FILTERED_SLICE = "games-demo.slice"
FREE_SLICE = "games-gbbenchfree.slice"
NFT_SLICE = "games-gbbenchnft.slice"
# The limits lab/gaming-box-vars.yml gives the game "demo".
GAME_LIMITS = ["MemoryHigh=256M", "MemoryMax=384M", "TasksMax=256"]
NFT_TABLE = "gbbench"
SECONDS_EACH = 1.5

# Runs in the guest: throughput of one connection, then connections per
# second, each for SECONDS_EACH; prints one JSON line.
WORKLOAD = r"""
import json, os, socket, sys, time
seconds = float(sys.argv[1])
chunk = b"x" * 65536

def serve(listener, sink):
    while True:
        conn, _ = listener.accept()
        if sink:
            while conn.recv(1 << 20):
                pass
        conn.close()

def server(sink):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    pid = os.fork()
    if pid == 0:
        try:
            serve(listener, sink)
        finally:
            os._exit(0)
    address = listener.getsockname()
    listener.close()
    return pid, address

pid, address = server(True)
client = socket.create_connection(address)
sent, started = 0, time.monotonic()
while time.monotonic() - started < seconds:
    client.sendall(chunk)
    sent += len(chunk)
elapsed = time.monotonic() - started
client.close()
os.kill(pid, 9)
mib_per_s = sent / elapsed / 2**20

pid, address = server(False)
count, started = 0, time.monotonic()
while time.monotonic() - started < seconds:
    conn = socket.create_connection(address)
    conn.recv(1)
    conn.close()
    count += 1
conn_per_s = count / (time.monotonic() - started)
os.kill(pid, 9)
print(json.dumps({"mib_per_s": mib_per_s, "conn_per_s": conn_per_s}))
"""


def _nft_rules() -> str:
    """The allow-list of the role's default (localhost only) as nftables
    rules on the bench slice; the path is resolved to a cgroup id when the
    rules load, so the slice must exist first."""
    path = player_cgroup(*slice_path(NFT_SLICE)).removeprefix(
        "/sys/fs/cgroup/")
    level = path.count("/") + 1
    match = f'socket cgroupv2 level {level} "{path}"'
    return (f"table inet {NFT_TABLE} {{\n"
            "  chain out {\n"
            "    type filter hook output priority 0; policy accept;\n"
            f"    {match} ip daddr 127.0.0.0/8 accept\n"
            f"    {match} ip6 daddr ::1 accept\n"
            f"    {match} reject\n"
            "  }\n}\n")


def slice_path(slice_name: str) -> list[str]:
    """The cgroup directories of a slice below the manager: systemd nests
    a-b.slice in a.slice."""
    parts = slice_name.removesuffix(".slice").split("-")
    return ["-".join(parts[:depth]) + ".slice"
            for depth in range(1, len(parts) + 1)]


def _keep_slice(guest: Guest, slice_name: str) -> None:
    """Hold the slice open with a sleeping service, so its cgroup (and the
    cgroup id nftables resolved) lives across runs, under the game's
    limits."""
    unit = slice_name.removesuffix(".slice") + "-keep"
    guest.run_as_player(["systemctl", "--user", "stop", unit], timeout=120)
    guest.run_as_player(["systemd-run", "--user", f"--slice={slice_name}",
                         f"--unit={unit}", "sleep", "1800"],
                        check=True, timeout=120)
    guest.run_as_player(["systemctl", "--user", "set-property", "--runtime",
                         slice_name, *GAME_LIMITS], check=True, timeout=120)


def _run_in_slice(guest: Guest, slice_name: str) -> dict:
    done = guest.run_as_player(
        ["systemd-run", "--user", "--scope", "--quiet",
         f"--slice={slice_name}", "timeout", "120", "python3", "-c",
         WORKLOAD,
         str(SECONDS_EACH)], check=True, timeout=300)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _run_under_nft(guest: Guest) -> dict:
    # The table is there only for its own runs: a loaded output chain would
    # tax the other two sides too.
    guest.run(["nft", "-f", "-"], input=_nft_rules(), check=True,
              timeout=120)
    try:
        return _run_in_slice(guest, NFT_SLICE)
    finally:
        guest.run(["nft", "delete", "table", "inet", NFT_TABLE],
                  check=True, timeout=120)


def measure_loopback(guest: Guest, *, reps: int) -> list[Row]:
    say(f"loopback: preparing slices on {guest.name}")
    _keep_slice(guest, FREE_SLICE)
    _keep_slice(guest, NFT_SLICE)
    results: dict[str, list[dict]] = {"ebpf": [], "free": [], "nft": []}
    runners = {
        "ebpf": lambda: _run_in_slice(guest, FILTERED_SLICE),
        "free": lambda: _run_in_slice(guest, FREE_SLICE),
        "nft": lambda: _run_under_nft(guest),
    }

    def recorder(name: str):
        def once() -> float:
            result = runners[name]()
            results[name].append(result)
            return result["mib_per_s"]
        return once

    interleave({name: recorder(name) for name in runners}, reps=reps,
               label="loopback MiB/s")
    medians = {name: {key: median([r[key] for r in runs])
                      for key in ("mib_per_s", "conn_per_s")}
               for name, runs in results.items()}
    rows = []
    for key, unit, what in (("mib_per_s", "MiB/s", "throughput"),
                            ("conn_per_s", "conn/s", "connection rate")):
        for base, base_label, target, ratio in (
                ("free", "unfiltered cgroup", "≥ 0.97×", 0.97),
                ("nft", "nftables socket cgroupv2", "> 1.0×", 1.0)):
            rows.append(Row(
                measure=f"loopback TCP {what}",
                subject="eBPF filter (games-demo.slice)",
                baseline=base_label,
                subject_value=medians["ebpf"][key],
                baseline_value=medians[base][key], unit=unit,
                better="higher", target=target, target_ratio=ratio,
                notes=[f"{reps} interleaved runs of {SECONDS_EACH} s each, "
                       f"guest {guest.name}"]))
    return rows
