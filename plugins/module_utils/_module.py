# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The AnsibleModule every gaming-box module is built on."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

__all__ = ["GamingBoxModule", "failing_options"]


class GamingBoxModule(AnsibleModule):
    """An AnsibleModule whose argument errors name the option and the fix.

    ansible-core checks the types and choices of the arguments before any
    gaming-box code runs and fails with its own message, which does not
    always name the option and never the remedy; this adds both, in the
    ``error`` shape the modules' own errors have.
    """

    def __init__(self, name: str, **kwargs) -> None:
        self._gamingbox_name = name
        self._gamingbox_spec = kwargs.get("argument_spec", {})
        self._gamingbox_validated = False
        super().__init__(**kwargs)
        self._gamingbox_validated = True

    def _load_params(self):
        super()._load_params()
        # Kept as given: a failed check leaves its own placeholder values
        # in self.params, which would pass a second look.
        self._gamingbox_given = dict(self.params)

    def fail_json(self, msg, **kwargs):
        if not self._gamingbox_validated and "error" not in kwargs:
            module = f"gamingbox.sandbox.{self._gamingbox_name}"
            names = failing_options(self._gamingbox_spec,
                                    getattr(self, "_gamingbox_given", {}))
            obj = (f"option {', '.join(names)} of {module}" if names
                   else f"the arguments of {module}")
            fix = ("Give every option the type, and one of the choices, "
                   f"that `ansible-doc {module}` lists.")
            kwargs["error"] = {"object": obj, "cause": msg, "fix": fix,
                               "kind": "InvalidInput"}
            msg = f"{obj}: {msg.rstrip('.')}. {fix}"
        super().fail_json(msg=msg, **kwargs)


def failing_options(spec: dict, params: dict) -> list:
    """The given options that fail their own part of the spec, each
    checked alone (so a missing required option elsewhere is not counted)."""
    failing = []
    for name, value in params.items():
        if name not in spec or value is None:
            continue
        alone = {key: rule for key, rule in spec[name].items()
                 if key != "required"}
        checked = ArgumentSpecValidator({name: alone}).validate({name: value})
        if checked.error_messages:
            failing.append(name)
    return failing
