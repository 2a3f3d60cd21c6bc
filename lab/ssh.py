"""SSH to lab guests: one multiplexed connection per guest, reused.

ssh runs a remote command through the remote user's shell, so an argument
list is quoted with shlex.join into one word list that shell splits back
exactly; no caller ever writes a shell string.
"""

from __future__ import annotations

import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from lab.commands import c_locale_env

__all__ = ["SshTarget", "ssh_options", "ssh_command", "ssh_run",
           "connection_failed",
           "wait_for_ssh", "close_master", "generate_key"]

# A master outlives the command that opened it by this much, so a test's
# next command reuses it instead of paying a new key exchange.
CONTROL_PERSIST_SECONDS = 300
# How ssh's own failures start, as opposed to a remote command's stderr.
SSH_FAILURE_PREFIXES = ("ssh: ", "kex_exchange_identification: ",
                        "Connection closed by ", "Connection reset by ",
                        "Connection timed out", "mux_client_")
# An emulated guest busy compiling a BPF program can take many seconds to
# answer a handshake or a keepalive; giving up early would break a test
# that merely shares the guest with a slow one.
CONNECT_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class SshTarget:
    port: int
    private_key: Path
    control_dir: Path
    user: str = "root"
    host: str = "127.0.0.1"


def ssh_options(target: SshTarget, *,
                connect_timeout: int = CONNECT_TIMEOUT_SECONDS) -> list[str]:
    return [
        "-F", "none",
        "-i", str(target.private_key),
        "-p", str(target.port),
        "-o", "IdentitiesOnly=yes",
        "-o", "BatchMode=yes",
        # Every lab has fresh guests on recycled ports: host keys mean
        # nothing here and must not pile up in known_hosts.
        "-o", "StrictHostKeyChecking=no",
        "-o", "UserKnownHostsFile=/dev/null",
        "-o", "LogLevel=ERROR",
        "-o", f"ConnectTimeout={connect_timeout}",
        "-o", "ServerAliveInterval=15",
        "-o", "ServerAliveCountMax=8",
        "-o", "ControlMaster=auto",
        "-o", f"ControlPath={target.control_dir}/%C",
        "-o", f"ControlPersist={CONTROL_PERSIST_SECONDS}",
    ]


def ssh_command(target: SshTarget, argv: Sequence[str] | None, *,
                tty: bool = False,
                connect_timeout: int = CONNECT_TIMEOUT_SECONDS) -> list[str]:
    """The ssh argument list that runs ``argv`` (or a login shell)."""
    command = ["ssh", *ssh_options(target, connect_timeout=connect_timeout)]
    command.append("-t" if tty else "-T")
    command.append(f"{target.user}@{target.host}")
    if argv:
        command += ["--", shlex.join(argv)]
    return command


def ssh_run(target: SshTarget, argv: Sequence[str], *,
            input: str | bytes | None = None, timeout: float | None = None,
            text: bool = True,
            connect_timeout: int = CONNECT_TIMEOUT_SECONDS,
            ) -> subprocess.CompletedProcess:
    """Run ``argv`` on the guest and capture its output; never raises on rc.

    ssh's own failures (no connection) come back as return code 255.
    """
    return subprocess.run(
        ssh_command(target, argv, connect_timeout=connect_timeout),
        input=input, capture_output=True, text=text, timeout=timeout,
        env=c_locale_env(), check=False,
        stdin=subprocess.DEVNULL if input is None else None)


def connection_failed(result: subprocess.CompletedProcess) -> bool:
    """True when ssh itself failed (exit 255 and ssh's own complaint),
    as opposed to a remote command that exited with 255."""
    if result.returncode != 255:
        return False
    stderr = result.stderr
    if isinstance(stderr, bytes):
        stderr = stderr.decode(errors="replace")
    return any(line.startswith(SSH_FAILURE_PREFIXES)
               for line in (stderr or "").splitlines())


def wait_for_ssh(target: SshTarget, *, timeout: float,
                 alive: Callable[[], bool] = lambda: True) -> float:
    """Poll until a command runs over SSH; return the seconds it took.

    Before sshd listens, QEMU's port forward accepts and drops connections,
    so each attempt fails fast and is simply retried.  ``alive`` lets the
    caller stop waiting for a guest whose QEMU died.
    """
    started = time.monotonic()
    while True:
        try:
            result = ssh_run(target, ["true"], timeout=15, connect_timeout=5)
            if result.returncode == 0:
                return time.monotonic() - started
        except subprocess.TimeoutExpired:
            pass
        if not alive():
            raise ConnectionError("the guest's QEMU process is gone")
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"no SSH after {timeout:.0f} s")
        time.sleep(1)


def close_master(target: SshTarget) -> None:
    """Stop the guest's multiplexing master, if one runs."""
    subprocess.run(["ssh", *ssh_options(target), "-O", "exit",
                    f"{target.user}@{target.host}"],
                   capture_output=True, env=c_locale_env(), check=False,
                   stdin=subprocess.DEVNULL, timeout=15)


def generate_key(private_key: Path) -> None:
    """A fresh ed25519 key pair for one lab (PRIVATE and PRIVATE.pub)."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "",
                    "-C", "gaming-box-lab", "-f", str(private_key)],
                   check=True, capture_output=True, env=c_locale_env(),
                   stdin=subprocess.DEVNULL)
