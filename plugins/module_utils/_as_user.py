# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run part of a task as the user it acts for, in a forked child.

Two things need the user's own credentials rather than root's: the user's
D-Bus daemon authenticates a client by the uid of its socket (EXTERNAL
auth), and files under the user's home are safer written by the user, who
owns the directories (root following a symlink the user planted there
could be made to write anywhere).  The child drops to the user's uid, gid
and groups, runs one function and sends its result back as JSON, which,
unlike pickle, cannot run code in the root parent whatever the child sends.
"""

from __future__ import annotations

import json
import os
import traceback
from typing import Callable

from . import _errors
from ._errors import GamingBoxError, HostError
from ._users import Account

__all__ = ["run_as", "ChildCrashed"]


class ChildCrashed(RuntimeError):
    """The child failed with something other than a GamingBoxError: a bug."""


def run_as(account: Account, function: Callable[..., object],
           **kwargs: object) -> object:
    """Return ``function(**kwargs)``, run with ``account``'s credentials.

    The result must be JSON-serialisable.  A GamingBoxError raised in the
    child is raised again here with its type, object, cause and fix.
    When the caller already is ``account`` the function runs in-process.
    """
    if account.uid == os.geteuid():
        return function(**kwargs)

    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(reader)
        _child(account, writer, function, kwargs)

    os.close(writer)
    with os.fdopen(reader, encoding="utf-8") as pipe:
        payload = pipe.read()
    status = os.waitpid(pid, 0)[1]

    return _unpack(payload, status, account)


def _child(account: Account, writer: int, function: Callable[..., object],
           kwargs: dict) -> None:
    try:
        _become(account)
        reply = {"result": function(**kwargs)}
    except GamingBoxError as err:
        reply = {"error": {"kind": type(err).__name__, "obj": err.obj,
                           "cause": err.cause, "fix": err.fix}}
    except BaseException:  # pylint: disable=broad-except
        reply = {"crash": traceback.format_exc()}

    try:
        with os.fdopen(writer, "w", encoding="utf-8") as pipe:
            json.dump(reply, pipe)
    finally:
        # Never return into Ansible's module code: its exit handlers
        # would run twice and remove files the parent still needs.
        os._exit(0)


def _become(account: Account) -> None:
    # Groups first: after setuid the process may no longer change them.
    os.initgroups(account.name, account.gid)
    os.setgid(account.gid)
    os.setuid(account.uid)
    # The task's working directory is often root's home, which the user
    # cannot enter; some libraries stat it.
    os.chdir("/")


def _unpack(payload: str, status: int, account: Account) -> object:
    try:
        reply = json.loads(payload)
    except ValueError:
        reply = None
    if not isinstance(reply, dict):
        raise HostError(
            f"helper process acting as {account.name}",
            f"ended without a result ({_describe(status)})",
            "Look for an out-of-memory kill or a crash in the journal, "
            "then run again")

    if "error" in reply:
        error = reply["error"]
        kind = getattr(_errors, str(error.get("kind")), None)
        if not (isinstance(kind, type) and issubclass(kind, GamingBoxError)):
            kind = GamingBoxError
        raise kind(str(error["obj"]), str(error["cause"]), str(error["fix"]))
    if "crash" in reply:
        raise ChildCrashed(
            f"helper process acting as {account.name} failed:\n"
            f"{reply['crash']}")
    return reply.get("result")


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by signal {os.WTERMSIG(status)}"
    return f"exit status {os.waitstatus_to_exitcode(status)}"
