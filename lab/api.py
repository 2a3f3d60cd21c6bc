"""The lab for pytest: run commands in guests, copy files, reboot.

    from lab.api import Lab

    lab = Lab.load()                      # the running lab (or Lab.up(3))
    guest = lab.guest("gbox-1")
    guest.run(["systemctl", "is-system-running"], check=True)
    guest.run_as_player(["systemctl", "--user", "show", "games.slice"])
    guest.put_file("/etc/gaming-box/test.conf", "key=value\\n")
    guest.reboot()

Commands are argument lists; each one goes through the guest's multiplexed
SSH connection, so a command costs a round trip, not a key exchange.
"""

from __future__ import annotations

import posixpath
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from lab.config import GROUP, LAB_USER, LabError, state_dir
from lab.control import (DEFAULT_BOOT_TIMEOUT, UpOptions, find_guest,
                         lab_down, lab_reboot, lab_up)
from lab.guests import player_env, qemu_alive
from lab.ssh import SshTarget, connection_failed, ssh_command, ssh_run
from lab.state import LabState, load_state

__all__ = ["Lab", "Guest", "GuestCommandError", "LabError"]


class GuestCommandError(subprocess.CalledProcessError):
    """A guest command failed; the message carries the guest and stderr."""

    def __init__(self, guest: str, result: subprocess.CompletedProcess,
                 argv: Sequence[str]) -> None:
        super().__init__(result.returncode, list(argv), result.stdout,
                         result.stderr)
        self.guest = guest

    def __str__(self) -> str:
        # Tools report failures on stderr; some only on stdout.
        stream, output = "stderr", text_of(self.stderr).strip()
        if not output:
            stream, output = "stdout", text_of(self.stdout).strip()
        return (f"{self.guest}: {self.cmd!r} exited with {self.returncode}"
                f"; {stream}: {output[-2000:]}")


def text_of(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


@dataclass(frozen=True)
class Guest:
    """One running guest, reached as root over SSH."""

    name: str
    ssh_port: int
    target: SshTarget
    lab_state: LabState = field(compare=False, repr=False)

    def command(self, argv: Sequence[str], *, user: str | None = None,
                env: Mapping[str, str] | None = None) -> list[str]:
        """The guest-side argument list: runuser and env as asked."""
        prefix: list[str] = []
        if user and user != "root":
            prefix += ["runuser", "-u", user, "--"]
        if env:
            prefix += ["env", *(f"{k}={v}" for k, v in env.items())]
        return [*prefix, *argv]

    def run(self, argv: Sequence[str], *, user: str | None = None,
            env: Mapping[str, str] | None = None, check: bool = False,
            timeout: float | None = None, input: str | bytes | None = None,
            text: bool = True) -> subprocess.CompletedProcess:
        """Run a command, capture stdout and stderr.

        ``user`` runs it through runuser (root is the default).  With
        ``check``, a non-zero exit raises GuestCommandError.  ``timeout``
        stops waiting (subprocess.TimeoutExpired); the guest-side process
        may outlive it, so hold long commands with ``timeout N`` yourself.
        """
        command = self.command(argv, user=user, env=env)
        result = ssh_run(self.target, command, input=input, timeout=timeout,
                         text=text)
        if connection_failed(result):
            raise LabError(f"{self.name}: SSH failed: "
                           f"{text_of(result.stderr).strip()}. See "
                           "`python -m lab status`")
        if check and result.returncode != 0:
            raise GuestCommandError(self.name, result, command)
        return result

    def run_as_player(self, argv: Sequence[str], *,
                      env: Mapping[str, str] | None = None,
                      **kwargs) -> subprocess.CompletedProcess:
        """Run as the lab user with HOME, XDG_RUNTIME_DIR and the session
        bus set, as `flatpak run` and `systemctl --user` need."""
        return self.run(argv, user=LAB_USER,
                        env={**player_env(), **(env or {})}, **kwargs)

    def popen(self, argv: Sequence[str], *, user: str | None = None,
              env: Mapping[str, str] | None = None,
              **popen_kwargs) -> subprocess.Popen:
        """Start a command and return at once, e.g. a launcher with --stay.

        Reads and waits are the caller's; stdout and stderr are pipes of
        text unless popen_kwargs say otherwise.
        """
        popen_kwargs.setdefault("stdout", subprocess.PIPE)
        popen_kwargs.setdefault("stderr", subprocess.PIPE)
        popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
        popen_kwargs.setdefault("text", True)
        return subprocess.Popen(
            ssh_command(self.target, self.command(argv, user=user, env=env)),
            **popen_kwargs)

    def put_file(self, path: str, content: str | bytes, *,
                 mode: int = 0o644, owner: str = "root",
                 group: str | None = None) -> None:
        """Write a file in the guest (atomically enough for tests).

        Missing parent directories are created as ``owner``, so a file for
        the player under its home gets directories the player owns.
        """
        data = content.encode() if isinstance(content, str) else content
        parent = posixpath.dirname(path) or "/"
        self.run(["mkdir", "-p", "--", parent], user=owner, check=True,
                 timeout=60)
        self.run(["install", "-m", f"{mode:o}", "-o", owner,
                  "-g", group or owner, "/dev/stdin", path],
                 input=data, text=False, check=True, timeout=60)

    def get_file(self, path: str) -> bytes:
        return self.run(["cat", "--", path], text=False, check=True,
                        timeout=60).stdout

    def reboot(self, *, timeout: float = DEFAULT_BOOT_TIMEOUT) -> None:
        """Reboot and wait until the system and the user manager run."""
        lab_reboot(self.lab_state, self.name, timeout=timeout)


@dataclass(frozen=True)
class Lab:
    """The running lab as recorded in lab/state/."""

    state: LabState

    @classmethod
    def load(cls, directory: Path | None = None) -> "Lab":
        """The lab that runs now; LabError when none does.

        Guests whose QEMU has exited are left out, so a caller that counts
        guests sees what really runs (``up`` replaces the missing ones).
        """
        state = load_state(directory or state_dir())
        state.guests = {name: record for name, record in state.guests.items()
                        if qemu_alive(state, record)}
        if not state.guests:
            raise LabError("no lab guests run. Start them with "
                           "`make lab-up N=1` or Lab.up(1)")
        return cls(state)

    @classmethod
    def up(cls, count: int = 1, **options) -> "Lab":
        """Boot (or reuse) ``count`` guests; see lab.control.UpOptions."""
        return cls(lab_up(UpOptions(count=count, **options)))

    @staticmethod
    def down() -> None:
        lab_down()

    @property
    def inventory(self) -> Path:
        return self.state.inventory

    @property
    def group(self) -> str:
        return GROUP

    @property
    def guests(self) -> list[Guest]:
        return [self.guest(record.name)
                for record in self.state.sorted_guests()]

    def guest(self, name: str) -> Guest:
        record = find_guest(self.state, name)
        return Guest(name=name, ssh_port=record.ssh_port,
                     target=self.state.target(record), lab_state=self.state)
