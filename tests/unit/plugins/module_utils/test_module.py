"""Which options ansible-core's argument check refuses, each checked alone."""

from __future__ import annotations

from ansible_collections.gamingbox.sandbox.plugins.module_utils._module import (
    failing_options,
)

SPEC = {
    "app": {"type": "str", "required": True},
    "environment": {"type": "list", "elements": "dict",
                    "options": {"name": {"type": "str", "required": True}}},
    "state": {"type": "str", "choices": ["present", "absent"]},
}


def test_only_the_options_that_fail_are_named():
    given = {"app": "org.example.App", "environment": {"A": "b"},
             "state": "gone"}

    assert failing_options(SPEC, given) == ["environment", "state"]


def test_valid_options_and_unknown_or_unset_ones_are_not_named():
    given = {"app": "org.example.App", "environment": [{"name": "A"}],
             "state": None, "_ansible_check_mode": True}

    assert failing_options(SPEC, given) == []
