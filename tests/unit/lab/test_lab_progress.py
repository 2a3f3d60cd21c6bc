"""Progress lines: what a step prints when it starts, beats and ends."""

import pytest

from lab import progress


def test_step_announces_start_and_duration(capsys):
    with progress.step("building image"):
        pass

    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "[lab] building image ..."
    assert lines[-1].startswith("[lab] building image: done in ")
    assert lines[-1].endswith(" s")


def test_failed_step_says_so_and_reraises(capsys):
    with pytest.raises(RuntimeError):
        with progress.step("mkfs.ext4"):
            raise RuntimeError("disk full")

    assert "[lab] mkfs.ext4: failed after" in capsys.readouterr().err


def test_only_the_innermost_step_beats(capsys, monkeypatch):
    monkeypatch.setattr(progress, "HEARTBEAT_SECONDS", 0.05)

    with progress.step("outer"):
        with progress.step("inner") as inner:
            inner.detail = "extracting archives"
            inner._done.wait(0.3)

    beats = [line for line in capsys.readouterr().err.splitlines()
             if line.endswith(" s)")]
    assert beats
    assert all(line.startswith("[lab] inner: extracting archives (")
               for line in beats)
