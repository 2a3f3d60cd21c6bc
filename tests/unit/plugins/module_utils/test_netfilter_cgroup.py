"""Validation of the filter's target cgroup path."""

from __future__ import annotations

import pytest

from ansible_collections.gamingbox.sandbox.plugins.module_utils import (
    _netfilter_cgroup as cgroup,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    HostError,
    InvalidInput,
)

MOUNT = "/sys/fs/cgroup"
MANAGER = f"{MOUNT}/user.slice/user-1000.slice/user@1000.service"


def test_target_inside_a_user_manager_knows_its_uid():
    target = cgroup.resolve_target(f"{MANAGER}/games.slice/", mount=MOUNT)
    assert target.path == f"{MANAGER}/games.slice"
    assert target.owner_uid == 1000
    assert target.manager_dir == MANAGER
    assert target.parts[-1] == "games.slice"


@pytest.mark.parametrize("path", [
    f"{MOUNT}/system.slice/foo.service",
    f"{MOUNT}/user.slice/user-1000.slice/session-2.scope",
    f"{MOUNT}/user.slice/user-1000.slice/user@1001.service/games.slice",
    f"{MANAGER}",
])
def test_other_targets_have_no_manager(path):
    assert cgroup.resolve_target(path, mount=MOUNT).owner_uid is None


@pytest.mark.parametrize("path, words", [
    ("games.slice", "not an absolute path"),
    (None, "not an absolute path"),
    (f"{MANAGER}/../games.slice", "'..'"),
    (f"{MANAGER}//games.slice", "empty component"),
    (f"{MANAGER}/./games.slice", "'.'"),
    ("/tmp/games.slice", "outside the cgroup2 mount"),
    ("/sys/fs/cgroupx/games.slice", "outside the cgroup2 mount"),
    (MOUNT, "the root cgroup"),
    (MOUNT + "/", "the root cgroup"),
    (f"{MANAGER}/games.slice/{cgroup.ANCHOR}", "anchor"),
])
def test_bad_paths_are_refused(path, words):
    with pytest.raises(InvalidInput) as caught:
        cgroup.resolve_target(path, mount=MOUNT)
    assert words in caught.value.message


def test_mount_points_come_from_mountinfo(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text(
        "22 1 0:21 / /sys rw,nosuid - sysfs sysfs rw\n"
        "26 22 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw\n"
        "27 22 0:24 / /sys/fs/bpf rw - bpf bpf rw,mode=700\n")
    assert cgroup.cgroup2_mount(mountinfo=str(info)) == "/sys/fs/cgroup"
    assert ("/sys/fs/bpf", "bpf") in cgroup.mounts(mountinfo=str(info))


def test_missing_cgroup2_is_a_host_error(tmp_path):
    info = tmp_path / "mountinfo"
    info.write_text("22 1 0:21 / /sys rw - sysfs sysfs rw\n")
    with pytest.raises(HostError, match="no cgroup2"):
        cgroup.cgroup2_mount(mountinfo=str(info))


def test_open_missing_cgroup_names_it(tmp_path):
    with pytest.raises(HostError) as caught:
        cgroup.open_cgroup(str(tmp_path / "games.slice"))
    assert "does not exist" in caught.value.cause
