# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed errors shared by every gaming-box helper.

Helpers raise these; only a module turns one into ``fail_json``.  Each error
carries three parts so the message a user reads always says what failed, why,
and what to do about it.
"""

from __future__ import annotations

__all__ = ["GamingBoxError", "InvalidInput", "HostError", "MissingDependency"]


class GamingBoxError(Exception):
    """An error about one object, with its cause and the fix."""

    def __init__(self, obj: str, cause: str, fix: str) -> None:
        self.obj = obj
        self.cause = cause
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        return f"{self.obj}: {self.cause}. {self.fix}"

    def as_result(self) -> dict:
        """Keyword arguments for ``fail_json``."""
        return {
            "msg": self.message,
            "error": {
                "object": self.obj,
                "cause": self.cause,
                "fix": self.fix,
                "kind": type(self).__name__,
            },
        }


class InvalidInput(GamingBoxError):
    """The task's arguments cannot be used as given; nothing was changed."""


class HostError(GamingBoxError):
    """The host is not in a state the task can work with."""


class MissingDependency(HostError):
    """A package the task needs is not installed on the managed host."""
