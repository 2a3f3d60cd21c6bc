"""The unit files and drop-ins gaming-box writes."""

from __future__ import annotations

import shlex

from ansible_collections.gamingbox.sandbox.plugins.module_utils._unit_files import (
    MARKER,
    UnitPaths,
    is_ours,
    render_placeholder,
    render_scope_dropin,
    render_slice,
    written_properties,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._unit_properties import (
    parse_properties,
)


def sections(text):
    found, current = {}, None
    for line in text.splitlines():
        if line.startswith("["):
            current = found.setdefault(line.strip("[]"), [])
        elif current is not None and line and not line.startswith("#"):
            current.append(line)
    return found


def test_slice_file_sets_properties_and_is_wanted_by_default_target():
    settings = parse_properties({"MemoryHigh": "6G", "CPUWeight": 50},
                                unit="games.slice")

    text = render_slice("games.slice", settings.values())

    assert text.startswith(MARKER + "\n")
    assert sections(text) == {
        "Unit": ["Description=gaming-box slice games.slice"],
        "Slice": ["MemoryHigh=6G", "CPUWeight=50"],
        "Install": ["WantedBy=default.target"],
    }


def test_slice_without_properties_still_has_its_sections():
    assert sections(render_slice("games.slice", []))["Slice"] == []


def test_placeholder_runs_sleep_in_the_scope_and_restarts_for_ever():
    text = render_placeholder(scope="game.scope", slice_name="games.slice",
                              systemd_run="/usr/bin/systemd-run",
                              sleep="/usr/bin/sleep")

    service = sections(text)
    assert "StartLimitIntervalSec=0" in service["Unit"]
    assert {"Type=exec", "Restart=always"} <= set(service["Service"])
    assert service["Install"] == ["WantedBy=default.target"]
    exec_start = next(line for line in service["Service"]
                      if line.startswith("ExecStart="))
    argv = shlex.split(exec_start[len("ExecStart="):])
    assert argv[:4] == ["/usr/bin/systemd-run", "--user", "--scope",
                        "--quiet"]
    assert {"--slice=games.slice", "--unit=game.scope"} <= set(argv)
    assert argv[argv.index("--"):] == ["--", "/usr/bin/sleep", "infinity"]


def test_scope_dropin_holds_only_a_scope_section():
    settings = parse_properties({"MemoryMax": "2G"}, unit="game.scope")

    assert sections(render_scope_dropin(settings.values())) == {
        "Scope": ["MemoryMax=2G"]}


def test_only_files_with_the_marker_are_ours():
    assert is_ours(render_scope_dropin([]))
    assert not is_ours(None)
    assert not is_ours("[Slice]\nMemoryHigh=1G\n")
    assert not is_ours("# notes\n" + MARKER + "\n")


def test_written_properties_read_our_own_files_back():
    settings = parse_properties({"MemoryHigh": "1.5G", "TasksMax": "10%"},
                                unit="games.slice")

    text = render_slice("games.slice", settings.values())

    assert written_properties(text) == {"MemoryHigh": "1610612736",
                                        "TasksMax": "10%"}
    assert written_properties("[Slice]\nMemoryHigh=1G\n") == {}


def test_paths_live_in_the_users_config():
    paths = UnitPaths.for_home("/home/player")

    assert paths.unit_file("games.slice") == \
        "/home/player/.config/systemd/user/games.slice"
    assert paths.dropin("game.scope") == \
        "/home/player/.config/systemd/user/game.scope.d/50-gaming-box.conf"
