"""Running part of a task in a child that has become another user."""

from __future__ import annotations

import os
import pwd

import pytest

from ansible_collections.gamingbox.sandbox.plugins.module_utils._as_user import (
    ChildCrashed,
    run_as,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    HostError,
    InvalidInput,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._users import (
    Account,
)

needs_root = pytest.mark.skipif(
    os.geteuid() != 0, reason="dropping to another uid needs root")


def nobody() -> Account:
    entry = pwd.getpwnam("nobody")
    return Account(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid,
                   home=entry.pw_dir)


def whoami() -> dict:
    return {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
            "groups": os.getgroups(), "cwd": os.getcwd()}


def fail_with(kind, message):
    raise kind("thing", message, "fix it")


def test_the_caller_itself_runs_in_process():
    me = Account(name="me", uid=os.geteuid(), gid=os.getegid(), home="/")

    assert run_as(me, os.getpid) == os.getpid()


@needs_root
def test_child_has_the_users_credentials_and_the_parent_keeps_its_own():
    account = nobody()

    seen = run_as(account, whoami)

    assert seen["uid"] == seen["euid"] == account.uid
    assert seen["gid"] == account.gid
    assert 0 not in seen["groups"]
    assert seen["cwd"] == "/"
    assert os.geteuid() == 0


@needs_root
@pytest.mark.parametrize("kind", [HostError, InvalidInput])
def test_typed_errors_cross_back_with_their_type(kind):
    with pytest.raises(kind) as caught:
        run_as(nobody(), fail_with, kind=kind, message="went wrong")

    assert (caught.value.obj, caught.value.cause, caught.value.fix) == \
        ("thing", "went wrong", "fix it")


@needs_root
def test_a_bug_in_the_child_is_not_disguised_as_a_host_error():
    with pytest.raises(ChildCrashed, match="ZeroDivisionError"):
        run_as(nobody(), lambda: 1 / 0)


@needs_root
def test_a_child_killed_without_a_result_is_a_host_error():
    with pytest.raises(HostError, match="signal 9"):
        run_as(nobody(), lambda: os.kill(os.getpid(), 9))
