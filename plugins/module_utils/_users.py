# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Resolve the user a task acts for."""

from __future__ import annotations

import os
import pwd
from dataclasses import dataclass

from ._errors import InvalidInput

__all__ = ["Account", "resolve_account"]


@dataclass(frozen=True)
class Account:
    """The user whose manager, files or cgroups a task touches."""

    name: str
    uid: int
    gid: int
    home: str

    @property
    def runtime_dir(self) -> str:
        # systemd-logind always mounts it here; the environment of the
        # Ansible connection may belong to someone else, so it is not used.
        return f"/run/user/{self.uid}"

    @property
    def is_caller(self) -> bool:
        return self.uid == os.geteuid()


def resolve_account(user: str | int | None) -> Account:
    """Look ``user`` (name, uid, or None for the caller) up in the passwd db.

    Only root may act for another user.
    """
    if user is None or str(user) == "":
        entry = pwd.getpwuid(os.geteuid())
    else:
        entry = _lookup(str(user))

    if entry.pw_uid != os.geteuid() and os.geteuid() != 0:
        raise InvalidInput(
            f"user {user!r}",
            f"only root may act for another user, and this task runs as uid "
            f"{os.geteuid()}",
            "Use become: true, or leave user unset to act for yourself")

    return Account(name=entry.pw_name, uid=entry.pw_uid, gid=entry.pw_gid,
                   home=entry.pw_dir)


def _lookup(user: str) -> pwd.struct_passwd:
    try:
        if user.isdigit():
            return pwd.getpwuid(int(user))
        return pwd.getpwnam(user)
    except (KeyError, ValueError, OverflowError) as exc:
        raise InvalidInput(
            f"user {user!r}", "no such user in the passwd database",
            "Create the user first or correct the name or uid") from exc
