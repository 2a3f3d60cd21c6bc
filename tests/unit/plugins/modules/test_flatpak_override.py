"""The module's behaviour on real files: keep, change, report, check mode."""

from __future__ import annotations

import os
import pwd

import pytest
from flatpak_override_support import APP, FLATPAK, Flatpak, run_task

from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    HostError,
    InvalidInput,
)

CGROUP = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/games.slice"
HAND_WRITTEN = (
    "# Written by hand, keep this comment\n"
    "[Context]\n"
    "sockets=wayland;inherit-wayland-socket;\n"
    "\n"
    "[X-Notes]\n"
    "owner = someone else\n"
)


def test_creates_the_file_and_its_directories(tmp_path):
    overrides = tmp_path / "a" / "b"

    result = run_task(overrides, filesystems=[{"path": CGROUP}])

    assert result["changed"]
    assert result["path"] == str(overrides / APP)
    assert (overrides / APP).read_text() == f"[Context]\nfilesystems={CGROUP};\n"
    assert result["diff"]["before"] == ""
    assert result["diff"]["after"] == (overrides / APP).read_text()
    assert result["overrides"]["filesystems"] == [CGROUP]
    assert result["flatpak_installed"] is (FLATPAK is not None)


def test_second_run_reports_no_change_and_leaves_the_file(tmp_path):
    options = {"filesystems": [{"path": CGROUP, "mode": "ro"}],
               "environment": [{"name": "A", "value": "1"}]}
    run_task(tmp_path, **options)
    first = os.stat(tmp_path / APP)

    again = run_task(tmp_path, **options)

    assert not again["changed"]
    assert os.stat(tmp_path / APP).st_mtime_ns == first.st_mtime_ns


def test_unrelated_content_survives(tmp_path):
    (tmp_path / APP).write_text(HAND_WRITTEN)

    result = run_task(tmp_path, sockets=[{"name": "x11", "allow": False}],
                      filesystems=[{"path": CGROUP}])

    assert result["changed"]
    assert (tmp_path / APP).read_text() == (
        "# Written by hand, keep this comment\n"
        "[Context]\n"
        "sockets=wayland;!x11;inherit-wayland-socket;\n"
        f"filesystems={CGROUP};\n"
        "\n"
        "[X-Notes]\n"
        "owner = someone else\n")


def test_reordering_alone_is_no_change(tmp_path):
    (tmp_path / APP).write_text("[Context]\nsockets = !x11;wayland\n")

    result = run_task(tmp_path, sockets=[{"name": "wayland"},
                                         {"name": "x11", "allow": False}])

    assert not result["changed"]
    assert (tmp_path / APP).read_text() == "[Context]\nsockets = !x11;wayland\n"


def test_check_mode_writes_nothing(tmp_path):
    (tmp_path / APP).write_text(HAND_WRITTEN)

    result = run_task(tmp_path / "new", check=True, shared=[{"name": "ipc"}])
    changed_existing = run_task(tmp_path, check=True, state="absent")

    assert result["changed"] and changed_existing["changed"]
    assert not (tmp_path / "new").exists()
    assert (tmp_path / APP).read_text() == HAND_WRITTEN
    assert "shared=ipc;" in result["diff"]["after"]


def test_exclusive_keeps_only_the_given_entries_and_foreign_groups(tmp_path):
    (tmp_path / APP).write_text(HAND_WRITTEN)

    run_task(tmp_path, exclusive=True, devices=[{"name": "dri"}])

    assert (tmp_path / APP).read_text() == (
        "# Written by hand, keep this comment\n"
        "[Context]\n"
        "devices=dri;\n"
        "\n"
        "[X-Notes]\n"
        "owner = someone else\n")


def test_state_absent_removes_the_file(tmp_path):
    (tmp_path / APP).write_text(HAND_WRITTEN)

    gone = run_task(tmp_path, state="absent")
    again = run_task(tmp_path, state="absent")

    assert gone["changed"] and not again["changed"]
    assert not (tmp_path / APP).exists()
    assert gone["diff"]["before"] == HAND_WRITTEN


def test_withdrawing_the_last_entry_removes_the_file(tmp_path):
    run_task(tmp_path, filesystems=[{"path": CGROUP}])

    withdrawn = run_task(tmp_path,
                         filesystems=[{"path": CGROUP, "state": "absent"}])

    assert withdrawn["changed"]
    assert not (tmp_path / APP).exists()
    assert withdrawn["diff"]["after"] == ""


def test_withdrawing_one_of_several_entries_keeps_the_file(tmp_path):
    (tmp_path / APP).write_text(HAND_WRITTEN)
    run_task(tmp_path, filesystems=[{"path": CGROUP}])

    run_task(tmp_path, filesystems=[{"path": CGROUP, "state": "absent"}])

    assert "owner = someone else" in (tmp_path / APP).read_text()


def test_global_file(tmp_path):
    run_task(tmp_path, app="global", shared=[{"name": "network",
                                              "allow": False}])

    assert (tmp_path / "global").read_text() == "[Context]\nshared=!network;\n"


def test_a_file_flatpak_cannot_read_is_not_touched(tmp_path):
    broken = "[Context]\nfilesystems=/a\\q;\n"
    (tmp_path / APP).write_text(broken)

    with pytest.raises(HostError, match="cannot read"):
        run_task(tmp_path, shared=[{"name": "ipc"}])
    assert (tmp_path / APP).read_text() == broken


def test_bad_input_writes_nothing(tmp_path):
    with pytest.raises(InvalidInput) as caught:
        run_task(tmp_path, shared=[{"name": "ipc"}],
                 filesystems=[{"path": "/a"}, {"path": "/a",
                                               "state": "absent"}])

    assert "filesystems[0] and filesystems[1]" in caught.value.message
    assert not (tmp_path / APP).exists()


def test_keeps_the_mode_of_an_existing_file(tmp_path):
    (tmp_path / APP).write_text("")
    os.chmod(tmp_path / APP, 0o600)

    run_task(tmp_path, shared=[{"name": "ipc"}])

    assert os.stat(tmp_path / APP).st_mode & 0o777 == 0o600


needs_root = pytest.mark.skipif(os.geteuid() != 0,
                                reason="acts for another user")


@needs_root
def test_root_writes_for_another_user_with_their_ownership(tmp_path):
    nobody = pwd.getpwnam("nobody")
    overrides = tmp_path / "home" / "overrides"

    run_task(overrides, user="nobody", filesystems=[{"path": CGROUP}])

    for path in (tmp_path / "home", overrides, overrides / APP):
        info = os.stat(path)
        assert (info.st_uid, info.st_gid) == (nobody.pw_uid, nobody.pw_gid)
    assert os.stat(overrides / APP).st_mode & 0o777 == 0o644
    assert os.stat(overrides).st_mode & 0o777 == 0o755


@needs_root
def test_root_does_not_follow_links_in_another_users_home(tmp_path,
                                                          monkeypatch):
    home = tmp_path / "home"
    (home / ".local" / "share").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (home / ".local" / "share" / "flatpak").symlink_to(tmp_path / "elsewhere")
    entry = pwd.getpwnam("nobody")
    fake = pwd.struct_passwd((*entry[:5], str(home), entry[6]))
    monkeypatch.setattr(pwd, "getpwnam", lambda name: fake)

    with pytest.raises(HostError, match="symbolic link"):
        run_task(None, user="nobody", shared=[{"name": "ipc"}])
    assert list((tmp_path / "elsewhere").iterdir()) == []


@pytest.mark.skipif(FLATPAK is None, reason="needs the flatpak command")
def test_flatpak_reads_what_the_module_wrote(tmp_path):
    flatpak = Flatpak(tmp_path)

    run_task(flatpak.overrides, filesystems=[{"path": "~/Games", "mode": "ro"}],
             environment=[{"name": "A", "value": " a;b"}])

    assert flatpak.show() == (
        "[Context]\nfilesystems=~/Games:ro;\n\n[Environment]\nA=\\sa;b\n")


@pytest.mark.skipif(FLATPAK is None, reason="needs the flatpak command")
def test_flatpak_reads_system_and_global_files(tmp_path):
    system = tmp_path / "system"
    flatpak = Flatpak(tmp_path / "home", system_dir=system)

    run_task(system / "overrides", scope="system",
             devices=[{"name": "dri"}])
    run_task(flatpak.overrides, app="global",
             system_bus=[{"name": "org.freedesktop.UPower", "policy": "see"}])

    assert flatpak.show(scope="--system") == "[Context]\ndevices=dri;\n"
    assert flatpak.show(app=None) == (
        "[System Bus Policy]\norg.freedesktop.UPower=see\n")
