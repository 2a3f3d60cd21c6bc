"""The Flatpak runtime's files/ tree, assembled from a dpkg database."""

import importlib.util
import os
import sys
from pathlib import Path

from lab.config import RECIPE_DIR

SPEC = importlib.util.spec_from_file_location(
    "runtime_tree", RECIPE_DIR / "flatpak" / "runtime_tree.py")
runtime_tree = importlib.util.module_from_spec(SPEC)
# The module is part of the image recipe: leave no byte code next to it.
sys.dont_write_bytecode = True
SPEC.loader.exec_module(runtime_tree)
sys.dont_write_bytecode = False

STATUS = """\
Package: python3
Status: install ok installed
Depends: python3.11 (>= 3.11.2-1~), libpython3-stdlib (= 3.11.2-1+b1)
Pre-Depends: python3-minimal (= 3.11.2-1+b1)

Package: python3.11
Status: install ok installed
Depends: media-types | mime-support, libc6:any

Package: python3-minimal
Status: install ok installed
Depends: dpkg (>= 1.13.20)

Package: libpython3-stdlib
Status: install ok installed

Package: media-types
Status: install ok installed

Package: libc6
Status: install ok installed
Depends: libgcc-s1
Description: long text
 continued: with a colon

Package: libgcc-s1
Status: install ok installed

Package: dpkg
Status: install ok installed

Package: removed-one
Status: deinstall ok config-files
"""


def fake_root(tmp_path: Path) -> Path:
    (tmp_path / "var/lib/dpkg/info").mkdir(parents=True)
    (tmp_path / "var/lib/dpkg/status").write_text(STATUS)
    return tmp_path


def test_alternatives_drop_versions_and_architectures():
    assert runtime_tree.alternatives(
        "a (>= 1) | b, c:any, d") == [["a", "b"], ["c"], ["d"]]
    assert runtime_tree.alternatives("") == []


def test_closure_follows_depends_and_skips_excluded(tmp_path):
    packages = runtime_tree.read_status(fake_root(tmp_path))

    wanted = runtime_tree.closure(packages, ["python3"], {"dpkg"})

    assert wanted == ["libc6", "libgcc-s1", "libpython3-stdlib",
                      "media-types", "python3", "python3-minimal",
                      "python3.11"]
    assert "removed-one" not in packages


def test_paths_map_onto_usr_and_skip_documentation():
    assert runtime_tree.runtime_path("/bin/dash") == "bin/dash"
    assert runtime_tree.runtime_path("/usr/bin/python3.11") == \
        "bin/python3.11"
    assert runtime_tree.runtime_path("/lib64/ld-linux-x86-64.so.2") == \
        "lib64/ld-linux-x86-64.so.2"
    assert runtime_tree.runtime_path("/etc/ld.so.conf") == "etc/ld.so.conf"
    assert runtime_tree.runtime_path("/usr/share/doc/dash/copyright") is None
    assert runtime_tree.runtime_path("/var/lib/dpkg/x") is None
    assert runtime_tree.runtime_path("/boot/vmlinuz") is None


def test_tree_keeps_links_and_adds_flatpak_spawn(tmp_path):
    root = fake_root(tmp_path / "root")
    (root / "usr/bin").mkdir(parents=True)
    os.symlink("usr/bin", root / "bin")
    (root / "usr/bin/python3.11").write_text("#!elf\n")
    os.symlink("python3.11", root / "usr/bin/python3")
    info = root / "var/lib/dpkg/info"
    (info / "python3.list").write_text(
        "/.\n/usr\n/usr/bin\n/usr/bin/python3\n")
    (info / "python3.11.list").write_text("/bin\n/usr/bin/python3.11\n")
    for name in ("python3-minimal", "libpython3-stdlib", "media-types",
                 "libc6:amd64", "libgcc-s1"):
        (info / f"{name}.list").write_text("")
    selection = tmp_path / "select.txt"
    selection.write_text("include python3  # the interpreter\n"
                         "exclude dpkg\n")
    out = tmp_path / "files"

    runtime_tree.build_tree(str(root), str(selection), str(out))

    assert os.readlink(out / "bin/python3") == "python3.11"
    assert (out / "bin/python3.11").read_text() == "#!elf\n"
    assert not (out / "bin").is_symlink()
    assert os.readlink(out / "bin/flatpak-spawn") == \
        "../libexec/flatpak-xdg-utils/flatpak-spawn"
