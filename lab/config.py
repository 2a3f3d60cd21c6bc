"""Where the lab keeps things, and the facts guests and tests share."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

__all__ = ["LabError", "LAB_DIR", "RECIPE_DIR", "cache_dir", "state_dir",
           "runtime_dir", "GROUP", "LAB_USER", "LAB_UID", "guest_name"]

LAB_DIR = Path(__file__).resolve().parent
RECIPE_DIR = LAB_DIR / "recipe"

# The inventory group, and the desktop user every guest has.
GROUP = "gaming_desktops"
LAB_USER = "player"
LAB_UID = 1000


class LabError(Exception):
    """A lab step failed; the message says what, why and what to do."""


def cache_dir() -> Path:
    """Built images; shared by every checkout on the machine."""
    return Path(os.environ.get("GAMINGBOX_LAB_CACHE",
                               "/var/cache/gaming-box/lab"))


def state_dir() -> Path:
    """Keys, overlays, inventory and lab.json of the running lab."""
    return Path(os.environ.get("GAMINGBOX_LAB_STATE", LAB_DIR / "state"))


def runtime_dir(state: Path) -> Path:
    """Short directory for the SSH control sockets of one lab.

    A Unix socket path is limited to 107 bytes, and ssh adds a random suffix
    while it creates one, so the sockets cannot live below a checkout at an
    arbitrary depth.  The name is derived from the state directory so that
    two checkouts never share sockets.
    """
    digest = hashlib.sha256(str(state.resolve()).encode()).hexdigest()[:12]
    return Path("/tmp") / f"gaming-box-lab-{digest}"


def guest_name(index: int) -> str:
    return f"gbox-{index}"
