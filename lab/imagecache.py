"""The image cache: one directory per recipe hash, built once, then reused.

``${GAMINGBOX_LAB_CACHE:-/var/cache/gaming-box/lab}/base-<hash>/`` holds
root.img, vmlinuz, initrd.img and image.json.  The hash covers every file of
lab/recipe/ and lab/image.py, the code that decides what the image holds.
A build happens in ``base-<hash>.build`` under a lock and is renamed into
place at the end, so a half-built image is never taken for a good one.
"""

from __future__ import annotations

import fcntl
import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

from lab.commands import remove_tree
from lab.config import LAB_DIR, RECIPE_DIR, LabError, cache_dir
from lab.image import BaseImage, build_image
from lab.progress import say, step

__all__ = ["image_inputs", "recipe_hash", "current_image", "ensure_image"]

KEY_LENGTH = 16
IGNORED_PARTS = {"__pycache__", ".pytest_cache"}


def image_inputs(lab_dir: Path = LAB_DIR) -> list[Path]:
    """The files whose content decides the image, in a stable order."""
    recipe = [path for path in (lab_dir / "recipe").rglob("*")
              if path.is_file() and not IGNORED_PARTS & set(path.parts)
              and path.suffix != ".pyc"]
    return sorted(recipe + [lab_dir / "image.py"])


def recipe_hash(files: Iterable[Path], base: Path = LAB_DIR) -> str:
    """Hash of names, executable bits and contents of ``files``.

    Names are taken relative to ``base`` so that every checkout of the same
    commit, wherever it lives, finds the same cached image.  The executable
    bit counts because mmdebstrap only runs hooks that have it.
    """
    digest = hashlib.sha256()
    for path in sorted(files):
        executable = path.stat().st_mode & 0o111 != 0
        digest.update(str(path.relative_to(base)).encode())
        digest.update(b"\0x\0" if executable else b"\0-\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:KEY_LENGTH]


def current_image() -> BaseImage:
    """The image for the recipe as it is now (built or not)."""
    return BaseImage(cache_dir() / f"base-{recipe_hash(image_inputs())}")


def other_images(keep: BaseImage) -> Iterator[Path]:
    for path in sorted(cache_dir().glob("base-*")):
        if path != keep.directory and path.is_dir():
            yield path


def ensure_image(*, rebuild: bool = False) -> BaseImage:
    """The cached image of the current recipe, built first if need be."""
    image = current_image()
    if image.complete() and not rebuild:
        say(f"image {image.directory}: reused")
        return image

    with cache_lock():
        # Whoever held the lock may just have built this very image.
        if image.complete() and not rebuild:
            say(f"image {image.directory}: built meanwhile, reused")
            return image
        return build_locked(image)


@contextmanager
def cache_lock() -> Iterator[None]:
    """One builder or pruner at a time, across every lab on the machine."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".build.lock", "w", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("another lab is building or pruning images; waiting for it")
            fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def build_locked(image: BaseImage) -> BaseImage:
    work = image.directory.with_name(image.directory.name + ".build")
    if work.exists():
        remove_tree(work)
    work.mkdir(parents=True)

    with step(f"building image {image.directory.name}"):
        try:
            build_image(RECIPE_DIR, work, key=image.key)
        except LabError:
            say(f"the build log stays in {work / 'build.log'}")
            raise
        if image.directory.exists():
            remove_tree(image.directory)
        work.rename(image.directory)

    for stale in other_images(image):
        say(f"older image {stale} can go: python -m lab image --prune")
    return image


def prune_images(in_use: set[str]) -> list[Path]:
    """Remove cached images of other recipes; return what was removed.

    ``in_use`` names image directories that running guests boot from:
    their overlays need them as backing files, so they stay.
    """
    keep = current_image()
    removed = []
    with cache_lock():
        for path in other_images(keep):
            if str(path) in in_use:
                say(f"{path}: running guests use it; kept")
                continue
            remove_tree(path)
            removed.append(path)
    return removed
