#!/usr/bin/python3
"""Assemble the files/ tree of the runtime org.gamingbox.Platform.

    runtime_tree.py ROOT PACKAGES OUT

ROOT is the guest's root file system being built, PACKAGES the list of
packages to take (lab/recipe/flatpak/runtime-packages.txt), OUT the files/
directory to fill.  The files come from ROOT's own dpkg database, so the
runtime holds exactly the Debian binaries the guest runs, with no download.

Flatpak mounts a runtime's files/ at /usr, links /bin, /sbin, /lib and
/lib64 to it and builds /etc from files/etc.  A Debian path therefore maps
to files/ by dropping /usr, whether the package ships it as /bin/dash or as
/usr/bin/python3 (merged /usr).
"""

from __future__ import annotations

import os
import re
import shutil
import sys

# Directories the sandbox sees under /usr; anything else (/var, /boot, ...)
# has no place in a runtime.
TOP_DIRS = ("bin", "sbin", "lib", "lib64", "libexec", "share", "etc")
SKIPPED = ("share/doc/", "share/man/", "share/info/", "share/locale/",
           "share/lintian/", "share/bug/")
# Names the runtime needs that no package ships under that name.
EXTRA_LINKS = {
    "bin/sh": "dash",
    "bin/flatpak-spawn": "../libexec/flatpak-xdg-utils/flatpak-spawn",
}


def read_selection(path: str) -> tuple[list[str], set[str]]:
    """Parse ``include NAME`` / ``exclude NAME`` lines."""
    include, exclude = [], set()
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if len(words) != 2 or words[0] not in ("include", "exclude"):
                raise SystemExit(f"{path}: cannot read line {line!r}")
            if words[0] == "include":
                include.append(words[1])
            else:
                exclude.add(words[1])
    return include, exclude


def read_status(root: str) -> dict[str, dict[str, str]]:
    """Installed packages of ROOT and their control fields."""
    packages: dict[str, dict[str, str]] = {}
    path = os.path.join(root, "var/lib/dpkg/status")
    with open(path, encoding="utf-8") as handle:
        for paragraph in handle.read().split("\n\n"):
            fields = dict(re.findall(r"^([\w-]+):[ \t]*(.*)$", paragraph,
                                     re.MULTILINE))
            if fields.get("Status", "").endswith(" installed"):
                packages[fields["Package"]] = fields
    return packages


def alternatives(field: str) -> list[list[str]]:
    """``a (>= 1) | b, c:any`` -> [["a", "b"], ["c"]]."""
    groups = []
    for group in filter(None, (part.strip() for part in field.split(","))):
        names = [re.split(r"[\s:(]", alt.strip(), maxsplit=1)[0]
                 for alt in group.split("|")]
        groups.append(names)
    return groups


def closure(packages: dict[str, dict[str, str]], include: list[str],
            exclude: set[str]) -> list[str]:
    """The included packages and their installed hard dependencies."""
    providers: dict[str, str] = {}
    for name, fields in packages.items():
        for group in alternatives(fields.get("Provides", "")):
            providers.setdefault(group[0], name)

    wanted, pending = set(), list(include)
    while pending:
        name = pending.pop()
        if name in wanted or name in exclude:
            continue
        if name not in packages:
            raise SystemExit(f"runtime package {name} is not installed")
        wanted.add(name)
        fields = packages[name]
        depends = ", ".join(filter(None, (fields.get("Pre-Depends"),
                                          fields.get("Depends"))))
        for group in alternatives(depends):
            installed = [providers.get(alt, alt) for alt in group
                         if alt in packages or alt in providers]
            if installed:
                pending.append(installed[0])
    return sorted(wanted)


def package_files(root: str, package: str) -> list[str]:
    info = os.path.join(root, "var/lib/dpkg/info")
    for name in (f"{package}.list", f"{package}:amd64.list"):
        path = os.path.join(info, name)
        if os.path.exists(path):
            with open(path, encoding="utf-8") as handle:
                return handle.read().splitlines()
    raise SystemExit(f"no file list for {package} in {info}")


def runtime_path(path: str) -> str | None:
    """Where a Debian path goes below files/, or None to leave it out."""
    relative = path.lstrip("/")
    if relative.startswith("usr/"):
        relative = relative[len("usr/"):]
    if relative.split("/", 1)[0] not in TOP_DIRS:
        return None
    if relative.startswith(SKIPPED):
        return None
    return relative


def copy_entry(source: str, target: str) -> None:
    """Copy a file or a symlink as it is; directories come implicitly.

    Links to directories are left out too: the merged-/usr links such as
    /bin -> usr/bin are listed by dpkg as directories and must not turn
    into links inside files/.
    """
    if os.path.isdir(source):
        return
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.lexists(target):
        return
    if os.path.islink(source):
        os.symlink(os.readlink(source), target)
    else:
        shutil.copy2(source, target)


def build_tree(root: str, selection: str, out: str) -> list[str]:
    include, exclude = read_selection(selection)
    packages = closure(read_status(root), include, exclude)

    for package in packages:
        for path in package_files(root, package):
            relative = runtime_path(path)
            source = root + path
            # dpkg's path-exclude leaves listed paths absent on disk.
            if relative and os.path.lexists(source):
                copy_entry(source, os.path.join(out, relative))

    for name, destination in EXTRA_LINKS.items():
        link = os.path.join(out, name)
        if not os.path.lexists(link):
            os.symlink(destination, link)
    return packages


def main() -> None:
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    root, selection, out = sys.argv[1:]
    packages = build_tree(root, selection, out)
    print(f"runtime: {len(packages)} packages: {' '.join(packages)}")


if __name__ == "__main__":
    main()
