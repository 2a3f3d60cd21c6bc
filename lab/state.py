"""The running lab on disk: lab/state/lab.json, the key pair, the overlays.

lab/state/
    lab.json            guests: port, QEMU pid, size, image
    id_ed25519{,.pub}   this lab's key pair, made by `up`, removed by `down`
    inventory.yml       the Ansible inventory
    gbox-N/             overlay.qcow2, console.log, qemu.pid
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

from lab.config import runtime_dir
from lab.qemu import GuestSpec
from lab.ssh import SshTarget

__all__ = ["GuestRecord", "LabState", "load_state", "save_state",
           "write_atomic", "state_lock"]

STATE_FILE = "lab.json"
STATE_VERSION = 1


@dataclass
class GuestRecord:
    name: str
    ssh_port: int
    pid: int
    memory_mib: int
    cpus: int
    image: str


@dataclass
class LabState:
    directory: Path
    guests: dict[str, GuestRecord] = field(default_factory=dict)

    @property
    def private_key(self) -> Path:
        return self.directory / "id_ed25519"

    @property
    def public_key(self) -> Path:
        return self.directory / "id_ed25519.pub"

    @property
    def inventory(self) -> Path:
        return self.directory / "inventory.yml"

    @property
    def control_dir(self) -> Path:
        return runtime_dir(self.directory)

    def guest_dir(self, name: str) -> Path:
        return self.directory / name

    def spec(self, record: GuestRecord) -> GuestSpec:
        directory = self.guest_dir(record.name)
        return GuestSpec(name=record.name, ssh_port=record.ssh_port,
                         memory_mib=record.memory_mib, cpus=record.cpus,
                         overlay=directory / "overlay.qcow2",
                         console_log=directory / "console.log",
                         pid_file=directory / "qemu.pid",
                         public_key=self.public_key)

    def target(self, record: GuestRecord, user: str = "root") -> SshTarget:
        return SshTarget(port=record.ssh_port, private_key=self.private_key,
                         control_dir=self.control_dir, user=user)

    def sorted_guests(self) -> list[GuestRecord]:
        """Guests in numeric order: gbox-2 before gbox-10."""
        return sorted(self.guests.values(),
                      key=lambda g: int(g.name.rpartition("-")[2]))


def load_state(directory: Path) -> LabState:
    """The lab in ``directory``; an empty one when nothing runs there."""
    path = directory / STATE_FILE
    if not path.exists():
        return LabState(directory)
    data = json.loads(path.read_text(encoding="utf-8"))
    guests = {name: GuestRecord(**record)
              for name, record in data.get("guests", {}).items()}
    return LabState(directory, guests)


def save_state(state: LabState) -> None:
    data = {"version": STATE_VERSION,
            "guests": {name: asdict(record)
                       for name, record in sorted(state.guests.items())}}
    write_atomic(state.directory / STATE_FILE,
                 json.dumps(data, indent=2) + "\n")


def write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    """Write through a temporary file in the same directory and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent,
                                             prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


@contextmanager
def state_lock(directory: Path) -> Iterator[None]:
    """Serialise up, down and reboot of one lab across processes.

    The lock file sits beside the runtime directory in /tmp and is never
    deleted: removing a lock file others wait on would let two in at once.
    """
    lock_path = runtime_dir(directory).with_suffix(".lock")
    with open(lock_path, "a", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
