"""Unit names: systemd's rules plus the stricter ones of gaming-box."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    InvalidInput,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._unit_names import (
    NAME_MAX,
    placeholder_service_name,
    slice_cgroup_path,
    validate_unit_name,
)

STEM_CHARS = string.ascii_letters + string.digits + ":_"


@pytest.mark.parametrize("name", ["games.slice", "games-steam.slice",
                                  "a:b_c.slice", "Games2.slice"])
def test_plain_slice_names_pass(name):
    assert validate_unit_name(name, suffix=".slice", option="slice") == name


@pytest.mark.parametrize("name, cause", [
    ("games/evil.slice", "'/'"),
    ("..games.slice", "'..'"),
    ("games..slice", "'..'"),
    ("games.scope", "does not end in .slice"),
    ("games", "does not end in .slice"),
    (".slice", "nothing before"),
    (".games.slice", "starts with '.'"),
    ("game s.slice", "' '"),
    ("games@1.slice", "'@'"),
    ("g\\x2d.slice", "'\\\\'"),
    ("spiel%i.slice", "'%'"),
    ("jeu\u00e9.slice", "'\u00e9'"),
    ("-.slice", "empty level"),
    ("games-.slice", "empty level"),
    ("a--b.slice", "empty level"),
])
def test_bad_slice_names_name_the_cause(name, cause):
    with pytest.raises(InvalidInput) as caught:
        validate_unit_name(name, suffix=".slice", option="slice")

    assert caught.value.obj == f"slice {name!r}"
    assert cause in caught.value.cause
    assert ".slice" in caught.value.fix


@pytest.mark.parametrize("value", [None, "", 7, ["games.slice"]])
def test_non_names_are_refused(value):
    with pytest.raises(InvalidInput, match="is not a unit name"):
        validate_unit_name(value, suffix=".scope", option="scope")


def test_length_limit_is_systemds():
    longest = "g" * (NAME_MAX - len(".scope")) + ".scope"
    assert validate_unit_name(longest, suffix=".scope", option="scope")

    with pytest.raises(InvalidInput, match="at most 255"):
        validate_unit_name("g" + longest, suffix=".scope", option="scope")


def test_dashes_in_scope_names_do_not_nest():
    assert validate_unit_name("-game-.scope", suffix=".scope",
                              option="scope") == "-game-.scope"


@pytest.mark.parametrize("name, path", [
    ("games.slice", "games.slice"),
    ("games-steam.slice", "games.slice/games-steam.slice"),
    ("a-b-c.slice", "a.slice/a-b.slice/a-b-c.slice"),
])
def test_nested_slices_map_to_nested_cgroups(name, path):
    assert slice_cgroup_path(name) == path


def test_placeholder_service_is_named_after_the_scope():
    assert placeholder_service_name("game.scope") == \
        "gaming-box-scope-game.service"


def test_scope_too_long_for_its_placeholder_is_refused():
    scope = "g" * (NAME_MAX - len(".scope")) + ".scope"

    with pytest.raises(InvalidInput) as caught:
        placeholder_service_name(scope)

    limit = int(caught.value.fix.split("at most ")[1].split()[0])
    fitting = "g" * (limit - len(".scope")) + ".scope"
    assert len(placeholder_service_name(fitting)) == NAME_MAX


@given(st.text(STEM_CHARS + "-", min_size=1, max_size=60))
def test_any_stem_of_allowed_characters_is_a_valid_scope(stem):
    name = f"{stem}.scope"
    assert validate_unit_name(name, suffix=".scope", option="scope") == name


@given(st.text(min_size=1, max_size=20).filter(
    lambda text: any(char not in STEM_CHARS + "-." for char in text)))
def test_any_other_character_is_refused(stem):
    with pytest.raises(InvalidInput):
        validate_unit_name(f"a{stem}.scope", suffix=".scope", option="scope")


@given(st.lists(st.text(STEM_CHARS, min_size=1, max_size=8), min_size=1,
                max_size=5))
def test_each_slice_level_is_a_valid_parent(levels):
    name = "-".join(levels) + ".slice"

    path = slice_cgroup_path(validate_unit_name(name, suffix=".slice",
                                                option="slice"))

    parts = path.split("/")
    assert parts[-1] == name
    assert len(parts) == len(levels)
    for parent, child in zip(parts, parts[1:]):
        assert child.startswith(parent[:-len(".slice")] + "-")
