"""The whole lab: bring N guests up, report on them, take them down."""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from lab.commands import remove_tree
from lab.config import LabError, guest_name, state_dir
from lab.guests import (Readiness, kill_and_wait, probe_ready, qemu_alive,
                        reboot_guest, start_guest, stop_guest,
                        stray_qemu_pids, wait_ready)
from lab.image import BaseImage
from lab.imagecache import ensure_image
from lab.inventory import write_inventory
from lab.progress import say, step
from lab.qemu import default_cpus, default_memory_mib, kvm_usable
from lab.ssh import connection_failed, generate_key, ssh_run
from lab.state import (GuestRecord, LabState, load_state, save_state,
                       state_lock)

__all__ = ["UpOptions", "lab_up", "lab_down", "lab_status",
           "lab_reboot", "find_guest"]

# Generous: three emulated guests on two host cores need about a minute;
# a machine busy with other work can need several.
DEFAULT_BOOT_TIMEOUT = 600.0


@dataclass(frozen=True)
class UpOptions:
    count: int
    memory_mib: int | None = None
    cpus: int | None = None
    timeout: float = DEFAULT_BOOT_TIMEOUT
    rebuild_image: bool = False


def lab_up(options: UpOptions) -> LabState:
    """Reuse healthy guests, boot the missing ones, write the inventory."""
    if options.count < 1:
        raise LabError("up: the guest count must be at least 1")
    image = ensure_image(rebuild=options.rebuild_image)

    with state_lock(state_dir()):
        state = load_state(state_dir())
        state.directory.mkdir(parents=True, exist_ok=True)
        state.control_dir.mkdir(mode=0o700, exist_ok=True)
        if not state.private_key.exists():
            generate_key(state.private_key)

        wanted = [guest_name(i) for i in range(1, options.count + 1)]
        missing = reusable_guests(state, wanted, image=image)
        for name in state.guests:
            if name not in wanted:
                say(f"{name}: running beyond -n {options.count}; kept")

        if missing:
            boot_guests(state, missing, image=image, options=options)
        path = write_inventory(state)
    say(f"inventory: {path}")
    return state


def reusable_guests(state: LabState, wanted: list[str], *,
                    image: BaseImage) -> list[str]:
    """Check the guests the state knows; return the names to boot.

    A guest whose QEMU is gone or whose SSH is dead is removed and booted
    again.  One that answers is reused even when degraded: someone may be
    using it, and a failed unit is theirs to look at, so it is reported.
    """
    missing = []
    for name in wanted:
        record = state.guests.get(name)
        if record is None:
            missing.append(name)
            continue

        readiness = None
        if qemu_alive(state, record):
            readiness = probe_ready(state.target(record), wait_seconds=30)
        if readiness is None or readiness.system == "no ssh":
            say(f"{name}: QEMU or SSH is gone; replacing it")
            stop_guest(state, record)
            del state.guests[name]
            missing.append(name)
            continue

        note = "" if readiness.ready else f" but {readiness.summary()}"
        if record.image != str(image.directory):
            note += " (an older image; `down` first to use the new one)"
        say(f"{name}: running on port {record.ssh_port}; reused{note}")
    save_state(state)
    return missing


def boot_guests(state: LabState, names: list[str], *, image: BaseImage,
                options: UpOptions) -> None:
    """Start the guests one after the other, then wait for all at once."""
    memory = options.memory_mib or default_memory_mib(options.count)
    cpus = options.cpus or default_cpus(options.count)
    use_kvm = kvm_usable()
    say(f"booting {', '.join(names)}: {memory} MiB, {cpus} vCPU each, "
        f"{'KVM' if use_kvm else 'software emulation (TCG)'}")

    with step(f"booting {len(names)} guest(s)") as current:
        for name in names:
            record = start_guest(state, name, image=image, memory_mib=memory,
                                 cpus=cpus, use_kvm=use_kvm)
            state.guests[name] = record
            save_state(state)
            say(f"{name}: QEMU pid {record.pid}, ssh on 127.0.0.1:"
                f"{record.ssh_port}")

        results: dict[str, Readiness | Exception] = {}
        threads = [threading.Thread(target=wait_one, daemon=True,
                                    args=(state, name, options, results))
                   for name in names]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            waiting = [n for n in names if n not in results]
            current.detail = f"waiting for {', '.join(waiting)}"
            time.sleep(1)

    failures = [f"{name}: {result}" if isinstance(result, Exception)
                else f"{name}: {result.summary()}"
                for name, result in results.items()
                if isinstance(result, Exception) or not result.ready]
    if failures:
        raise LabError("guests not ready:\n  " + "\n  ".join(failures) +
                       "\nThey keep running for a look (python -m lab ssh "
                       "NAME); python -m lab down removes them")


def wait_one(state: LabState, name: str, options: UpOptions,
             results: dict[str, Readiness | Exception]) -> None:
    try:
        readiness = wait_ready(state, state.guests[name],
                               timeout=options.timeout)
    except Exception as exc:  # noqa: BLE001 - reported by boot_guests
        # A thread's exception would otherwise vanish and the guest would
        # count as booted.
        results[name] = exc
        return
    results[name] = readiness
    say(f"{name}: {readiness.summary()}")


def lab_down() -> None:
    """Stop every guest, then remove overlays, keys, state and sockets."""
    directory = state_dir()
    with state_lock(directory):
        state = load_state(directory)
        threads = [threading.Thread(target=stop_guest, args=(state, record))
                   for record in state.sorted_guests()]
        with step(f"stopping {len(threads)} guest(s)"):
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        for pid in stray_qemu_pids(directory):
            say(f"stopping stray QEMU pid {pid} of this lab")
            kill_and_wait(pid)

        if directory.exists():
            remove_tree(directory)
        shutil.rmtree(state.control_dir, ignore_errors=True)
    say("lab is down")


def find_guest(state: LabState, name: str) -> GuestRecord:
    record = state.guests.get(name)
    if record is None:
        known = ", ".join(sorted(state.guests)) or "none"
        raise LabError(f"{name}: no such guest (running: {known}). "
                       "Start guests with python -m lab up -n N")
    return record


def lab_status() -> list[dict]:
    """One row per guest: port, pid, QEMU alive, what systemd says."""
    state = load_state(state_dir())
    rows = []
    for record in state.sorted_guests():
        alive = qemu_alive(state, record)
        system = "-"
        if alive:
            answer = ssh_run(state.target(record),
                             ["systemctl", "is-system-running"],
                             timeout=20, connect_timeout=5)
            system = ("no answer over ssh" if connection_failed(answer)
                      else answer.stdout.strip())
        rows.append({"name": record.name, "port": record.ssh_port,
                     "pid": record.pid, "qemu": "up" if alive else "gone",
                     "system": system, "memory_mib": record.memory_mib,
                     "cpus": record.cpus,
                     "image": Path(record.image).name.removeprefix("base-")})
    return rows


def lab_reboot(state: LabState, name: str, *,
               timeout: float = DEFAULT_BOOT_TIMEOUT) -> Readiness:
    """Reboot one guest.  No lab lock: other guests stay usable meanwhile,
    and a reboot changes nothing in the lab's state."""
    record = find_guest(state, name)
    with step(f"rebooting {name}"):
        readiness = reboot_guest(state, record, timeout=timeout)
    if not readiness.ready:
        raise LabError(f"{name}: after the reboot: {readiness.summary()}")
    return readiness
