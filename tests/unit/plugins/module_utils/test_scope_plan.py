"""Planning systemd_user_scope's changes from a snapshot of the host."""

from __future__ import annotations

import pytest

from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    HostError,
    InvalidInput,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._scope_plan import (
    Snapshot,
    check_controllers,
    desired_files,
    diff_files,
    managed_properties,
    parse_request,
    plan_changes,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._users import (
    Account,
)

PLAYER = Account(name="player", uid=1000, gid=1000, home="/home/player")
UNITS = "/home/player/.config/systemd/user"
SLICE = f"{UNITS}/games.slice"
SERVICE = f"{UNITS}/gaming-box-scope-game.service"
DROPIN = f"{UNITS}/game.scope.d/50-gaming-box.conf"
TOOLS = {"systemd_run": "/usr/bin/systemd-run", "sleep": "/usr/bin/sleep"}


def request(**options):
    params = {"slice": "games.slice", "scope": "game.scope",
              "slice_properties": {"MemoryHigh": "6G"},
              "scope_properties": {"TasksMax": 100}, "state": "present"}
    params.update(options)
    return parse_request(params, account=PLAYER)


def empty_host():
    return Snapshot(files={}, units={}, unit_files={})


def converged(req, *, active=True):
    """The snapshot of a host on which ``req`` has already run."""
    files = desired_files(req, **TOOLS)
    state = "active" if active else "inactive"
    units = {req.slice_name: {"ActiveState": state},
             req.service_name: {"ActiveState": state},
             req.scope_name: {"ActiveState": state}}
    unit_files = {req.slice_name: (SLICE, "enabled"),
                  req.service_name: (SERVICE, "enabled")}
    return Snapshot(files={path: text for path, text in files.items()
                           if text is not None},
                    units=units, unit_files=unit_files)


def plan(req, snapshot):
    return plan_changes(req, snapshot, desired_files(req, **TOOLS)
                        if req.state == "present" else {})


def test_fresh_host_gets_every_file_enabled_and_started():
    req = request()

    steps = plan(req, empty_host())

    paths = [change.path for change in steps.files]
    assert paths == [SLICE, SERVICE, DROPIN]
    assert all(change.before is None for change in steps.files)
    assert steps.reload
    assert steps.enable == steps.start == ["games.slice",
                                           "gaming-box-scope-game.service"]
    assert steps.restart == steps.stop == steps.disable == []
    assert steps.changed


def test_second_run_changes_nothing():
    req = request()

    steps = plan(req, converged(req))

    assert not steps.changed


def test_new_property_rewrites_a_file_and_reloads_without_restart():
    before = request()
    after = request(slice_properties={"MemoryHigh": "4G"})

    steps = plan(after, converged(before))

    assert [change.path for change in steps.files] == [SLICE]
    assert "MemoryHigh=4G" in steps.files[0].after
    assert steps.reload
    assert steps.start == steps.restart == steps.enable == []


def test_dropping_every_scope_property_removes_the_dropin():
    before = request()

    steps = plan(request(scope_properties={}), converged(before))

    assert [(change.path, change.after) for change in steps.files] == \
        [(DROPIN, None)]


def test_moving_the_scope_to_another_slice_restarts_its_placeholder():
    before = request()
    after = request(slice="games-steam.slice")
    snapshot = converged(before)
    snapshot.unit_files["games-steam.slice"] = ("", "")

    steps = plan(after, snapshot)

    assert SERVICE in [change.path for change in steps.files]
    assert steps.restart == ["gaming-box-scope-game.service"]


def test_stale_unit_is_reloaded_even_when_files_match():
    req = request()
    snapshot = converged(req)
    snapshot.units["games.slice"]["NeedDaemonReload"] = True

    steps = plan(req, snapshot)

    assert steps.reload and not steps.files


def test_placeholder_waiting_for_its_restart_is_not_started_again():
    req = request()
    snapshot = converged(req)
    snapshot.units[req.service_name]["ActiveState"] = "activating"

    assert not plan(req, snapshot).changed


def test_slice_only_task_touches_no_scope():
    req = request(scope=None, scope_properties={})

    steps = plan(req, empty_host())

    assert [change.path for change in steps.files] == [SLICE]
    assert steps.start == ["games.slice"]


def test_scope_properties_without_scope_are_refused():
    with pytest.raises(InvalidInput, match="scope is not"):
        request(scope=None)


def test_a_file_we_did_not_write_is_never_overwritten():
    snapshot = empty_host()
    snapshot.files[SLICE] = "[Slice]\nMemoryHigh=1G\n"

    with pytest.raises(HostError) as caught:
        plan(request(), snapshot)

    assert caught.value.obj == SLICE
    assert "not written by gaming-box" in caught.value.cause


def test_a_unit_defined_elsewhere_is_refused():
    snapshot = empty_host()
    snapshot.unit_files["games.slice"] = ("/usr/lib/systemd/user/games.slice",
                                          "static")

    with pytest.raises(HostError, match="/usr/lib/systemd/user/games.slice"):
        plan(request(), snapshot)


def test_a_running_scope_of_someone_else_is_refused():
    snapshot = empty_host()
    snapshot.units["game.scope"] = {"ActiveState": "active"}

    with pytest.raises(HostError) as caught:
        plan(request(), snapshot)

    assert "systemctl --user stop game.scope" in caught.value.fix


def test_our_scope_still_held_by_a_game_is_taken_over():
    snapshot = empty_host()
    snapshot.units["game.scope"] = {
        "ActiveState": "active",
        "Description": "gaming-box placeholder scope game.scope"}

    steps = plan(request(), snapshot)

    assert len(steps.files) == 3
    assert "gaming-box-scope-game.service" in steps.start


def test_absent_removes_only_our_files_and_stops_the_placeholder():
    req = request()
    snapshot = converged(req)
    snapshot.files[DROPIN] = "[Scope]\nMemoryMax=1G\n"

    steps = plan(request(state="absent"), snapshot)

    assert [(change.path, change.after) for change in steps.files] == \
        [(SLICE, None), (SERVICE, None)]
    assert steps.stop == ["gaming-box-scope-game.service"]
    assert steps.disable == ["gaming-box-scope-game.service", "games.slice"]
    assert steps.reload
    assert steps.start == steps.enable == []
    assert any(DROPIN in warning for warning in steps.warnings)


def test_absent_on_a_clean_host_changes_nothing():
    assert not plan(request(state="absent"), empty_host()).changed


def test_controllers_not_delegated_fail_naming_the_property_and_the_fix():
    req = request(slice_properties={"IOWeight": 50})

    with pytest.raises(HostError) as caught:
        check_controllers(req, ["cpu", "memory", "pids"])

    assert caught.value.obj == "games.slice property IOWeight"
    assert "'io'" in caught.value.cause
    assert "Delegate=cpu memory pids io" in caught.value.fix
    assert "user@1000.service" in caught.value.fix

    check_controllers(req, ["cpu", "io", "memory", "pids"])


def test_diff_shows_each_file_before_and_after():
    before = request()
    steps = plan(request(slice_properties={"MemoryHigh": "4G"}),
                 converged(before))

    (entry,) = diff_files(steps)

    assert entry["before_header"] == entry["after_header"] == SLICE
    assert "MemoryHigh=6G" in entry["before"]
    assert "MemoryHigh=4G" in entry["after"]


def test_managed_properties_include_those_written_before():
    before = request(slice_properties={"CPUWeight": 10})
    after = request(slice_properties={"MemoryHigh": "1G"})

    names = managed_properties(after, converged(before).files)

    assert names == {"games.slice": ["CPUWeight", "MemoryHigh"],
                     "game.scope": ["TasksMax"]}
