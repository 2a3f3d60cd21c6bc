"""Lifecycle of one lab guest: start, wait until ready, reboot, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from lab.commands import run
from lab.config import LAB_UID, LAB_USER, LabError
from lab.image import BaseImage
from lab.qemu import GuestSpec, overlay_command, qemu_command
from lab.ssh import (SshTarget, close_master, connection_failed, ssh_run,
                     wait_for_ssh)
from lab.state import GuestRecord, LabState

__all__ = ["Readiness", "start_guest", "qemu_alive", "wait_ready",
           "probe_ready", "stop_guest", "reboot_guest", "stray_qemu_pids",
           "player_env", "HARMLESS_FAILED_UNITS"]

PORT_ATTEMPTS = 5
# Units allowed to fail without making a guest unusable: none so far.  Add
# a unit here only with the reason it cannot matter to a test.
HARMLESS_FAILED_UNITS: frozenset[str] = frozenset()
POWEROFF_SECONDS = 20
RUNTIME_DIR = f"/run/user/{LAB_UID}"


def player_env() -> dict[str, str]:
    """What `flatpak run` and `systemctl --user` need to find the user's
    manager and session bus when started through runuser."""
    return {
        "HOME": f"/home/{LAB_USER}",
        "XDG_RUNTIME_DIR": RUNTIME_DIR,
        "DBUS_SESSION_BUS_ADDRESS": f"unix:path={RUNTIME_DIR}/bus",
    }


def as_player(argv: list[str]) -> list[str]:
    env = [f"{key}={value}" for key, value in player_env().items()]
    return ["runuser", "-u", LAB_USER, "--", "env", *env, *argv]


@dataclass
class Readiness:
    """How far a guest got: system state, failed units, user manager.

    ``timings`` holds seconds since the wait began at which SSH answered
    and each state was reached, for the progress output.
    """

    system: str
    failed_units: list[str]
    user_manager: str
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        failed = set(self.failed_units) - HARMLESS_FAILED_UNITS
        system_ok = self.system == "running" or (
            self.system == "degraded" and not failed)
        return system_ok and self.user_manager in ("running", "degraded")

    def summary(self) -> str:
        text = f"system {self.system}, user manager {self.user_manager}"
        if self.failed_units:
            text += f", failed units: {' '.join(self.failed_units)}"
        if self.timings:
            text += " (" + ", ".join(f"{what} at {seconds:.1f} s" for
                                     what, seconds in self.timings.items())
            text += ")"
        return text


def free_port() -> int:
    """A loopback port nobody listens on right now.

    Another process can take it before QEMU binds it; start_guest retries
    with a new port when QEMU reports the forward failed.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_guest(state: LabState, name: str, *, image: BaseImage,
                memory_mib: int, cpus: int, use_kvm: bool) -> GuestRecord:
    """Create the overlay and start QEMU in the background."""
    directory = state.guest_dir(name)
    directory.mkdir(parents=True, exist_ok=True)

    for _ in range(PORT_ATTEMPTS):
        record = GuestRecord(name=name, ssh_port=free_port(), pid=0,
                             memory_mib=memory_mib, cpus=cpus,
                             image=str(image.directory))
        spec = state.spec(record)
        for stale in (spec.overlay, spec.console_log, spec.pid_file):
            stale.unlink(missing_ok=True)
        run(overlay_command(image, spec.overlay), what=f"{name}: overlay",
            fix=f"Check the image {image.directory} and free space")

        # -daemonize returns once QEMU has set everything up, port forward
        # included, so a taken port shows up here as an error.
        result = subprocess.run(qemu_command(spec, image, use_kvm=use_kvm),
                                capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, check=False)
        if result.returncode == 0:
            record.pid = int(spec.pid_file.read_text().strip())
            return record
        if "hostfwd" not in result.stderr and "forward" not in result.stderr:
            raise LabError(f"{name}: QEMU did not start: "
                           f"{result.stderr.strip()}. Check the command "
                           "in lab/qemu.py and that qemu-system-x86 is "
                           "installed (make deps)")
    raise LabError(f"{name}: no free loopback port after {PORT_ATTEMPTS} "
                   "attempts. Check what holds ports on 127.0.0.1")


def qemu_alive(state: LabState, record: GuestRecord) -> bool:
    """True while the guest's QEMU runs.

    The pid alone could have been reused by another process, so the
    command line must name this guest's overlay as well.
    """
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes()
    except OSError:
        return False
    overlay = str(state.spec(record).overlay).replace(",", ",,")
    return overlay.encode() in cmdline


def probe_ready(target: SshTarget, *, wait_seconds: float,
                started: float | None = None) -> Readiness:
    """Ask the guest how far its boot got, waiting up to ``wait_seconds``.

    ``started`` (a time.monotonic() value) makes the result carry timings.
    """
    timings: dict[str, float] = {}

    def reached(what: str) -> None:
        if started is not None:
            timings[what] = time.monotonic() - started

    wait = ["timeout", str(int(max(wait_seconds, 1)))]
    system = ssh_run(target, [*wait, "systemctl", "is-system-running",
                              "--wait"], timeout=wait_seconds + 30)
    if connection_failed(system):
        return Readiness("no ssh", [], "unknown", timings)
    system_state = system.stdout.strip() or "unknown"
    reached(f"system {system_state}")

    failed: list[str] = []
    if system_state == "degraded":
        listing = ssh_run(target, ["systemctl", "list-units", "--failed",
                                   "--plain", "--no-legend", "--no-pager"],
                          timeout=30)
        failed = [line.split()[0] for line in listing.stdout.splitlines()
                  if line.strip()]

    user_state = "no bus"
    if wait_for_bus(target, wait_seconds=wait_seconds):
        manager = ssh_run(target, [*wait, *as_player(
            ["systemctl", "--user", "is-system-running", "--wait"])],
            timeout=wait_seconds + 30)
        user_state = manager.stdout.strip() or "unknown"
    reached(f"user manager {user_state}")
    return Readiness(system_state, failed, user_state, timings)


def wait_for_bus(target: SshTarget, *, wait_seconds: float) -> bool:
    """Lingering starts the user manager during boot, but the system can
    report "running" a moment before the user's bus socket exists."""
    deadline = time.monotonic() + wait_seconds
    while True:
        check = ssh_run(target, ["test", "-S", f"{RUNTIME_DIR}/bus"],
                        timeout=30)
        if check.returncode == 0:
            return True
        if time.monotonic() > deadline or connection_failed(check):
            return False
        time.sleep(0.5)


def wait_ready(state: LabState, record: GuestRecord, *, timeout: float,
               started: float | None = None) -> Readiness:
    """Wait for SSH, then for the system and the user manager to settle.

    Timings count from ``started`` (a time.monotonic() value, default
    now), so a reboot can report them from the moment it was asked for.
    """
    target = state.target(record)
    started = time.monotonic() if started is None else started
    deadline = time.monotonic() + timeout
    try:
        wait_for_ssh(target, timeout=timeout,
                     alive=lambda: qemu_alive(state, record))
    except (TimeoutError, ConnectionError) as exc:
        raise LabError(f"{record.name}: {exc}. Its console log is "
                       f"{state.spec(record).console_log}") from exc
    ssh_seconds = time.monotonic() - started

    readiness = probe_ready(
        target, wait_seconds=max(deadline - time.monotonic(), 10),
        started=started)
    readiness.timings = {"ssh": ssh_seconds, **readiness.timings}
    return readiness


def boot_id(target: SshTarget) -> str:
    """The guest's boot id, or "" while it does not answer (rebooting)."""
    try:
        result = ssh_run(target, ["cat", "/proc/sys/kernel/random/boot_id"],
                         timeout=30, connect_timeout=5)
    except subprocess.TimeoutExpired:
        return ""
    return result.stdout.strip() if result.returncode == 0 else ""


def reboot_guest(state: LabState, record: GuestRecord, *,
                 timeout: float) -> Readiness:
    """Reboot through systemd and wait until the new boot is ready."""
    target = state.target(record)
    started = time.monotonic()
    before = boot_id(target)
    if not before:
        raise LabError(f"{record.name}: does not answer over SSH. "
                       "See `python -m lab status`")

    # The connection drops as sshd stops; that is the expected outcome.
    ssh_run(target, ["systemctl", "reboot"], timeout=30)
    close_master(target)
    deadline = time.monotonic() + timeout
    while boot_id(target) in (before, ""):
        if not qemu_alive(state, record):
            raise LabError(f"{record.name}: QEMU exited during the reboot. "
                           f"See {state.spec(record).console_log}")
        if time.monotonic() > deadline:
            raise LabError(f"{record.name}: not back {timeout:.0f} s after "
                           "the reboot. See "
                           f"{state.spec(record).console_log}")
        time.sleep(2)
    return wait_ready(state, record, started=started,
                      timeout=max(deadline - time.monotonic(), 30))


def stop_guest(state: LabState, record: GuestRecord) -> None:
    """Power off over SSH, then make sure QEMU is gone; drop its files."""
    target = state.target(record)
    if qemu_alive(state, record):
        ssh_run(target, ["systemctl", "poweroff"], timeout=15)
        deadline = time.monotonic() + POWEROFF_SECONDS
        while qemu_alive(state, record) and time.monotonic() < deadline:
            time.sleep(0.5)
    close_master(target)
    if qemu_alive(state, record):
        kill_and_wait(record.pid)

    spec = state.spec(record)
    for path in (spec.overlay, spec.console_log, spec.pid_file):
        path.unlink(missing_ok=True)
    directory = state.guest_dir(record.name)
    if directory.exists() and not any(directory.iterdir()):
        directory.rmdir()


def process_running(pid: int) -> bool:
    """True unless the process is gone or a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def kill_and_wait(pid: int) -> None:
    """SIGTERM (QEMU exits at once), SIGKILL if it still lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        for _ in range(50):
            if not process_running(pid):
                return
            time.sleep(0.1)


def stray_qemu_pids(state_dir: Path) -> list[int]:
    """QEMU processes that use a file of this lab but are not in lab.json.

    They remain when lab.json was lost (a crash between start and save);
    their command line names this state directory, so they are ours.
    """
    marker = str(state_dir.resolve()).encode()
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"qemu-system-x86_64") and any(
                marker in arg for arg in argv):
            pids.append(int(proc.name))
    return pids
