"""SSH command lines: quoting, multiplexing, failure detection."""

import shlex
import subprocess
from pathlib import Path

from lab.ssh import SshTarget, connection_failed, ssh_command

TARGET = SshTarget(port=40001, private_key=Path("/state/id_ed25519"),
                   control_dir=Path("/tmp/gaming-box-lab-x"))


def test_remote_argv_survives_the_remote_shell():
    argv = ["sh", "-c", 'echo "$1" > /tmp/x', "-", "a b; rm -rf /"]

    command = ssh_command(TARGET, argv)

    assert command[-2] == "--"
    assert shlex.split(command[-1]) == argv


def test_connection_is_multiplexed_and_trusts_no_host_key():
    command = " ".join(ssh_command(TARGET, ["true"]))

    assert "-o ControlMaster=auto" in command
    assert "-o ControlPath=/tmp/gaming-box-lab-x/%C" in command
    assert "-o StrictHostKeyChecking=no" in command
    assert "-o UserKnownHostsFile=/dev/null" in command
    assert "-p 40001" in command
    assert "root@127.0.0.1" in command


def test_no_command_and_tty_gives_a_login_shell():
    command = ssh_command(TARGET, None, tty=True)

    assert command[-1] == "root@127.0.0.1"
    assert "-t" in command


def result(code: int, stderr: str) -> subprocess.CompletedProcess:
    return subprocess.CompletedProcess([], code, "", stderr)


def test_ssh_failure_is_told_apart_from_a_remote_255():
    refused = "ssh: connect to host 127.0.0.1 port 40001: Connection refused"

    assert connection_failed(result(255, refused + "\n"))
    assert connection_failed(
        result(255, "kex_exchange_identification: "
                    "read: Connection reset by peer"))
    assert not connection_failed(result(255, "my tool failed\n"))
    assert not connection_failed(result(1, refused))
