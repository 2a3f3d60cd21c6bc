"""Progress lines for steps that take minutes.

Every line goes to stderr with a ``[lab]`` prefix, so stdout stays clean for
what a command is asked for (``status``, ``ssh``).  A long step prints a line
when it starts, a heartbeat with the elapsed seconds while it runs, and one
with its duration when it ends.
"""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

__all__ = ["say", "Step", "step"]

HEARTBEAT_SECONDS = 15.0
_print_lock = threading.Lock()
# Steps in progress, innermost last: only the innermost one beats, so a step
# wrapping others does not repeat what they already say.
_active: list["Step"] = []


def say(message: str) -> None:
    with _print_lock:
        print(f"[lab] {message}", file=sys.stderr, flush=True)


class Step:
    """One running step; ``detail`` is shown with each heartbeat."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.detail = ""
        self.started = time.monotonic()
        self._done = threading.Event()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _beat(self) -> None:
        while not self._done.wait(HEARTBEAT_SECONDS):
            if _active and _active[-1] is not self:
                continue
            detail = f": {self.detail}" if self.detail else ""
            say(f"{self.title}{detail} ({self.elapsed:.0f} s)")


@contextmanager
def step(title: str) -> Iterator[Step]:
    """Announce a step, beat while it runs, report its duration."""
    current = Step(title)
    say(f"{title} ...")
    beater = threading.Thread(target=current._beat, daemon=True)
    _active.append(current)
    beater.start()
    try:
        yield current
    except BaseException:
        say(f"{title}: failed after {current.elapsed:.1f} s")
        raise
    finally:
        _active.remove(current)
        current._done.set()
        beater.join()
    say(f"{title}: done in {current.elapsed:.1f} s")
