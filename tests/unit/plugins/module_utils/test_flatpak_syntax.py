"""flatpak 1.14's rules for app ids, bus names and filesystem entries."""

from __future__ import annotations

import pytest

from ansible_collections.gamingbox.sandbox.plugins.module_utils._flatpak_syntax import (
    HOST_RESET,
    BadFilesystem,
    app_id_problem,
    bus_name_problem,
    format_filesystem,
    parse_filesystem,
    path_problem,
)


@pytest.mark.parametrize("app_id", [
    "com.valvesoftware.Steam", "org.gamingbox.Launcher", "a.b.c",
    "_a.b_1.c-d", "org.example.my-app", "a.b.-c",
])
def test_app_ids_flatpak_accepts(app_id):
    assert app_id_problem(app_id) is None


@pytest.mark.parametrize("app_id", [
    "", "global", "a.b", ".a.b.c", "a.b.c.", "a..b.c", "1a.b.c", "a.1b.c",
    "a-b.c.d", "a.b-c.d", "a.b.c d", "a.b.c/d", "x" * 252 + ".a.b",
])
def test_app_ids_flatpak_refuses(app_id):
    assert app_id_problem(app_id)


@pytest.mark.parametrize("name", [
    "org.freedesktop.Notifications", "org.mpris.*", "a.b", "a-b.c-d",
    "_a.b9",
])
def test_bus_names_flatpak_accepts(name):
    assert bus_name_problem(name) is None


@pytest.mark.parametrize("name", [
    "", "a", "*", "a.*", ":1.42", "a..b", "a.b.", "a.9b", "9a.b", "a.b*",
    "a.b.**", "a b.c",
])
def test_bus_names_flatpak_refuses(name):
    assert bus_name_problem(name)


def test_path_characters():
    assert path_problem("/a b/ü/€") is None
    assert "U+0009" in path_problem("/a\tb")
    assert path_problem("/a\u00a0b")
    assert path_problem("/a\u200bb")


@pytest.mark.parametrize("entry, negated, expected", [
    ("/a//b/./c/", False, ("/a/b/c", "rw")),
    ("/a/b/.", False, ("/a/b", "rw")),
    ("~", False, ("home", "rw")),
    ("~/", False, ("home", "rw")),
    ("home/x", False, ("~/x", "rw")),
    ("home", False, ("home", "rw")),
    ("xdg-run/x", False, ("xdg-run/x", "rw")),
    ("xdg-data//Steam/", False, ("xdg-data/Steam", "rw")),
    ("/x:ro", False, ("/x", "ro")),
    ("/x:create", False, ("/x", "create")),
    ("/x:", False, ("/x", "rw")),
    ("/x:bogus", False, ("/x", "rw")),
    ("/x:ro", True, ("/x", "none")),
    (r"/a\:b:ro", False, ("/a:b", "ro")),
    (r"/a\\b", False, ("/a\\b", "rw")),
    ("host:reset", True, (HOST_RESET, "none")),
    ("host-reset", True, (HOST_RESET, "none")),
    ("/..", False, ("/..", "rw")),
])
def test_filesystem_entries_flatpak_accepts(entry, negated, expected):
    assert parse_filesystem(entry, negated=negated) == expected


@pytest.mark.parametrize("entry, negated", [
    ("/", False), ("//", False), ("/.", False), ("foo", False),
    ("xdg-run", False), ("xdg-run/", False), ("/a/../b", False),
    ("~/../x", False), ("/a/..", False), ("host:reset", False),
    ("home:reset", True), ("host-reset", False), ("host-reset:ro", True),
    ("~foo", False),
])
def test_filesystem_entries_flatpak_refuses(entry, negated):
    with pytest.raises(BadFilesystem) as caught:
        parse_filesystem(entry, negated=negated)
    assert not caught.value.fatal


def test_bad_characters_are_fatal():
    with pytest.raises(BadFilesystem) as caught:
        parse_filesystem("/a\x07", negated=False)
    assert caught.value.fatal


@pytest.mark.parametrize("location, mode, entry", [
    ("/a:b", "ro", r"/a\:b:ro"),
    ("home", "none", "!home"),
    (HOST_RESET, "none", "!host:reset"),
    ("/x-reset", "none", "!/x-reset"),
    ("~/G", "create", "~/G:create"),
    ("/x", "rw", "/x"),
])
def test_format_reads_back(location, mode, entry):
    assert format_filesystem(location, mode) == entry
    negated = entry.startswith("!")
    parsed = parse_filesystem(entry[negated:], negated=negated)
    assert parsed == (location, mode)
