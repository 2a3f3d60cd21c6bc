"""Finding the unified cgroup hierarchy in mountinfo."""

from __future__ import annotations

import pytest

from ansible_collections.gamingbox.sandbox.plugins.module_utils._cgroup import (
    cgroup_dir,
    parse_unified_mount,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    HostError,
)

UNIFIED = """\
22 27 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
26 21 0:23 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""

# Lines as a hybrid systemd host writes them: cgroup2 for systemd only,
# the controllers in v1 hierarchies.
HYBRID = """\
25 21 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:4 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:5 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:6 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,memory
31 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,cpu,cpuacct
"""

V1_ONLY = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
"""


def test_unified_host():
    assert parse_unified_mount(UNIFIED) == "/sys/fs/cgroup"


@pytest.mark.parametrize("mountinfo, controllers", [
    (HYBRID, "cpu, cpuacct, memory"), (V1_ONLY, "cpu, memory, pids")])
def test_v1_controllers_are_refused_with_the_fix(mountinfo, controllers):
    with pytest.raises(HostError) as caught:
        parse_unified_mount(mountinfo)

    assert controllers in caught.value.cause
    assert "systemd.unified_cgroup_hierarchy=1" in caught.value.fix


def test_named_v1_hierarchy_alone_does_not_count():
    text = UNIFIED + ("40 21 0:40 / /run/x rw - cgroup cgroup "
                      "rw,xattr,name=elogind\n")

    assert parse_unified_mount(text) == "/sys/fs/cgroup"


def test_no_cgroup_at_all():
    with pytest.raises(HostError, match="no cgroup2"):
        parse_unified_mount(UNIFIED.splitlines()[0] + "\n")


def test_escaped_mount_point_and_second_mount():
    text = ("50 21 0:23 / /mnt/my\\040cg rw - cgroup2 cgroup2 rw\n")

    assert parse_unified_mount(text) == "/mnt/my cg"
    assert parse_unified_mount(text + UNIFIED) == "/sys/fs/cgroup"


def test_cgroup_dir_joins_systemd_paths():
    assert cgroup_dir("/sys/fs/cgroup", "/user.slice/x.scope") == \
        "/sys/fs/cgroup/user.slice/x.scope"
