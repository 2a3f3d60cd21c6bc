"""How the base image is made: mmdebstrap, mkfs.ext4, kernel and initrd.

This file and lab/recipe/ decide what ends up in the image, so both are
hashed into the cache key (lab.imagecache): changing either builds anew.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from lab.commands import remove_tree, run_logged
from lab.config import LabError
from lab.progress import step

__all__ = ["BaseImage", "read_packages", "mmdebstrap_command",
           "mkfs_command", "build_image"]

SUITE = "bookworm"
# Room for what tests install; the raw file is sparse, and each guest's
# overlay holds only what that guest writes.
IMAGE_BYTES = 6 * 1024**3


@dataclass(frozen=True)
class BaseImage:
    """A built image directory: root.img, vmlinuz, initrd.img, image.json."""

    directory: Path

    @property
    def root(self) -> Path:
        return self.directory / "root.img"

    @property
    def kernel(self) -> Path:
        return self.directory / "vmlinuz"

    @property
    def initrd(self) -> Path:
        return self.directory / "initrd.img"

    @property
    def manifest(self) -> Path:
        return self.directory / "image.json"

    @property
    def key(self) -> str:
        return self.directory.name.removeprefix("base-")

    def complete(self) -> bool:
        return all(path.is_file() for path in
                   (self.root, self.kernel, self.initrd, self.manifest))

    def describe(self) -> dict:
        return json.loads(self.manifest.read_text(encoding="utf-8"))


def read_packages(path: Path) -> list[str]:
    """Package names of a list file: one a line, ``#`` starts a comment."""
    names = []
    for line in path.read_text(encoding="utf-8").splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names


def mmdebstrap_command(recipe: Path, rootfs: Path) -> list[str]:
    packages = read_packages(recipe / "packages.txt")
    return [
        "mmdebstrap", "--mode=root", "--variant=apt",
        f"--include={','.join(packages)}",
        f"--aptopt={recipe / 'apt.conf'}",
        f"--dpkgopt={recipe / 'dpkg.cfg'}",
        f"--hook-directory={recipe / 'hooks'}",
        SUITE, str(rootfs), str(recipe / "sources.list"),
    ]


def mkfs_command(rootfs: Path, image: Path) -> list[str]:
    # -d copies the tree in while formatting: no loop mount, no root-only
    # mount step.  lazy_itable_init=0 keeps guests from zeroing inode tables
    # into their overlays after boot.
    return ["mkfs.ext4", "-q", "-F", "-L", "gbox-root",
            "-E", "lazy_itable_init=0", "-d", str(rootfs), str(image)]


def installed_kernel(rootfs: Path) -> str:
    """The one kernel version in the image, checked against its headers.

    bcc compiles against /lib/modules/VERSION/build, so headers of another
    version would only fail later, inside a test.
    """
    versions = sorted(path.name.removeprefix("vmlinuz-")
                      for path in (rootfs / "boot").glob("vmlinuz-*"))
    if len(versions) != 1:
        raise LabError(f"image: expected one kernel in /boot, found "
                       f"{versions or 'none'}. Check lab/recipe/packages.txt")
    version = versions[0]

    build = rootfs / "lib/modules" / version / "build"
    headers = rootfs / "usr/src" / f"linux-headers-{version}"
    if not build.is_symlink() or not headers.is_dir():
        raise LabError(f"image: no kernel headers for {version} "
                       f"({headers} missing). linux-headers-amd64 must "
                       "match linux-image-amd64 in lab/recipe/packages.txt")
    return version


def build_image(recipe: Path, work: Path, *, key: str) -> BaseImage:
    """Build root.img, vmlinuz, initrd.img and image.json into ``work``."""
    image = BaseImage(work)
    rootfs = work / "rootfs"
    log = work / "build.log"
    started = time.monotonic()

    with step("mmdebstrap: Debian 12 root file system") as current:
        run_logged(mmdebstrap_command(recipe, rootfs), log=log, step=current,
                   what="mmdebstrap", fix="Check the network to the Debian "
                   "mirror and the hooks in lab/recipe/hooks")

    version = installed_kernel(rootfs)
    shutil.copyfile(rootfs / "boot" / f"vmlinuz-{version}", image.kernel)
    shutil.copyfile(rootfs / "boot" / f"initrd.img-{version}", image.initrd)

    with step("mkfs.ext4: root image") as current:
        with open(image.root, "wb") as handle:
            handle.truncate(IMAGE_BYTES)
        run_logged(mkfs_command(rootfs, image.root), log=log, step=current,
                   what="mkfs.ext4", fix="Check the free space of "
                   f"{work.parent}")
    remove_tree(rootfs)

    manifest = {
        "key": key,
        "suite": SUITE,
        "kernel": version,
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.monotonic() - started, 1),
        "image_bytes_used": os.stat(image.root).st_blocks * 512,
    }
    image.manifest.write_text(json.dumps(manifest, indent=2) + "\n",
                              encoding="utf-8")
    return image
