"""Finding and stopping QEMU processes: liveness, zombies, strays."""

import os
import subprocess
import sys
import time

from lab.guests import kill_and_wait, process_running, stray_qemu_pids


def test_a_zombie_does_not_count_as_running():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    # Not reaped yet: the child stays a zombie until wait().
    deadline = time.monotonic() + 10
    while process_running(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert not process_running(child.pid)
    child.wait()


def test_kill_and_wait_stops_a_process():
    child = subprocess.Popen(["sleep", "60"])
    assert process_running(child.pid)

    kill_and_wait(child.pid)

    assert not process_running(child.pid)
    assert child.wait(timeout=5) != 0


def test_no_pid_is_not_running():
    assert not process_running(2**22 + 1)


def test_no_stray_qemu_for_an_unused_state_directory(tmp_path):
    assert stray_qemu_pids(tmp_path / "state") == []
    assert os.getpid() not in stray_qemu_pids(tmp_path)
