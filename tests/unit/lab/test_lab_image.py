"""How the image build is invoked, and readiness rules of guests."""

from pathlib import Path

from lab.config import RECIPE_DIR
from lab.guests import Readiness
from lab.image import mkfs_command, mmdebstrap_command, read_packages


def test_package_list_ignores_comments_and_blank_lines(tmp_path):
    listing = tmp_path / "packages.txt"
    listing.write_text("# init\nsystemd\n\nsudo  # for people\n")

    assert read_packages(listing) == ["systemd", "sudo"]


def test_recipe_has_the_packages_tests_rely_on():
    packages = set(read_packages(RECIPE_DIR / "packages.txt"))

    assert {"linux-image-amd64", "linux-headers-amd64", "python3-bpfcc",
            "flatpak", "flatpak-xdg-utils", "dbus-user-session",
            "openssh-server", "nftables", "bpftool"} <= packages


def test_mmdebstrap_uses_every_recipe_part():
    command = mmdebstrap_command(RECIPE_DIR, Path("/build/rootfs"))

    assert command[:3] == ["mmdebstrap", "--mode=root", "--variant=apt"]
    assert f"--hook-directory={RECIPE_DIR / 'hooks'}" in command
    assert f"--aptopt={RECIPE_DIR / 'apt.conf'}" in command
    assert f"--dpkgopt={RECIPE_DIR / 'dpkg.cfg'}" in command
    assert command[-3:] == ["bookworm", "/build/rootfs",
                            str(RECIPE_DIR / "sources.list")]
    include = next(a for a in command if a.startswith("--include="))
    assert "linux-headers-amd64" in include.split("=", 1)[1].split(",")


def test_mkfs_fills_the_image_from_the_tree():
    command = mkfs_command(Path("/r"), Path("/c/root.img"))

    assert command[0] == "mkfs.ext4"
    assert command[-3:] == ["-d", "/r", "/c/root.img"]


def test_readiness_wants_system_and_user_manager():
    assert Readiness("running", [], "running").ready
    assert not Readiness("running", [], "no bus").ready
    assert not Readiness("starting", [], "running").ready
    assert not Readiness("degraded", ["ssh.service"], "running").ready
    assert "ssh.service" in Readiness("degraded", ["ssh.service"],
                                      "running").summary()
