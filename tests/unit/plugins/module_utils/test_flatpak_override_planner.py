"""The planner: task entries checked like the command's, merged like it."""

from __future__ import annotations

import os

import pytest
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    HostError,
    InvalidInput,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._flatpak_context import (
    Overrides,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._flatpak_override import (
    locate,
    parse_changes,
    plan,
)
from ansible_collections.gamingbox.sandbox.plugins.modules.flatpak_override import (
    ARGUMENT_SPEC,
)


def changes(**options):
    result = ArgumentSpecValidator(ARGUMENT_SPEC).validate(
        {"app": "org.example.Game", **options})
    assert not result.error_messages, result.error_messages
    return parse_changes(result.validated_parameters)


def planned(current=None, *, exclusive=False, **options):
    return plan(current or Overrides(), changes(**options),
                exclusive=exclusive)


def test_entries_are_set_and_dropped_one_by_one():
    current = Overrides(sockets={"x11": True, "wayland": True},
                        filesystems={"home": "ro"})

    model = planned(current,
                    sockets=[{"name": "x11", "state": "absent"},
                             {"name": "pulseaudio", "allow": False}],
                    filesystems=[{"path": "~/Games", "mode": "create"}])

    assert model.sockets == {"wayland": True, "pulseaudio": False}
    assert model.filesystems == {"home": "ro", "~/Games": "create"}


def test_fallback_x11_sets_x11_like_the_command():
    assert planned(sockets=[{"name": "fallback-x11"}]).sockets == {
        "fallback-x11": True, "x11": True}
    assert planned(sockets=[{"name": "fallback-x11", "allow": False}]
                   ).sockets == {"fallback-x11": False, "x11": False}


def test_host_reset_forgets_the_files_filesystems_but_not_the_tasks():
    current = Overrides(filesystems={"home": "rw", "/a": "ro"})

    model = planned(current, filesystems=[
        {"path": "/b"}, {"path": "host", "mode": "reset"},
        {"path": "host", "mode": "ro"}])

    assert model.filesystems == {"host-reset": "none", "host": "ro",
                                 "/b": "rw"}


def test_exclusive_starts_from_nothing():
    current = Overrides(shared={"network": False}, unknown={"sockets": ["z"]},
                        environment={"A": "1"})

    model = planned(current, exclusive=True,
                    environment=[{"name": "B", "unset": True}])

    assert model.meaning() == Overrides(environment={"B": None}).meaning()


def test_environment_and_buses_and_policies():
    current = Overrides(policies={("s", "k"): ["a", "!b"]})

    model = planned(
        current,
        environment=[{"name": "A", "value": ""}, {"name": "B", "unset": True}],
        session_bus=[{"name": "org.a.*", "policy": "own"}],
        system_bus=[{"name": "org.b.c", "policy": "none"}],
        policies=[{"subsystem": "s", "key": "k", "value": "b"},
                  {"subsystem": "s", "key": "k", "value": "a",
                   "state": "absent"}],
        persistent=[{"path": ".steam"}])

    assert model.environment == {"A": "", "B": None}
    assert model.session_bus == {"org.a.*": "own"}
    assert model.system_bus == {"org.b.c": "none"}
    assert model.policies == {("s", "k"): ["b"]}
    assert model.persistent == {".steam": None}


def test_a_path_is_literal():
    model = planned(filesystems=[{"path": "/mnt/a:b\\c", "mode": "ro"}])

    assert model.filesystems == {"/mnt/a:b\\c": "ro"}


@pytest.mark.parametrize("options, words", [
    ({"filesystems": [{"path": "/"}]}, "host gives a similar result"),
    ({"filesystems": [{"path": "relative"}]}, "unknown filesystem location"),
    ({"filesystems": [{"path": "/a/../b"}]}, '".."'),
    ({"filesystems": [{"path": "/a:ro"}]}, "access suffix"),
    ({"filesystems": [{"path": "/a\x07"}]}, "non-graphical"),
    ({"filesystems": [{"path": "home", "mode": "reset"}]}, "host only"),
    ({"persistent": [{"path": ""}]}, "empty"),
    ({"persistent": [{"path": "../.ssh"}]}, "'..'"),
    ({"persistent": [{"path": "/srv/saves"}]}, "absolute"),
    ({"environment": [{"name": "A=B", "value": "1"}]}, "'='"),
    ({"environment": [{"name": "", "unset": True}]}, "non-empty"),
    ({"environment": [{"name": "A"}]}, "either value or unset"),
    ({"environment": [{"name": "A", "value": "1", "unset": True}]},
     "either value or unset"),
    ({"session_bus": [{"name": "org"}]}, "bus name"),
    ({"system_bus": [{"name": ":1.7"}]}, "bus name"),
    ({"policies": [{"subsystem": "a.b", "key": "k", "value": "v"}]},
     "subsystem"),
    ({"policies": [{"subsystem": "a", "key": "k", "value": "!v"}]}, "'!'"),
])
def test_input_flatpak_would_refuse(options, words):
    with pytest.raises(InvalidInput, match=words) as caught:
        changes(**options)
    assert caught.value.fix


@pytest.mark.parametrize("options", [
    {"filesystems": [{"path": "~/G"}, {"path": "home/G", "state": "absent"}]},
    {"filesystems": [{"path": "/a", "mode": "ro"}, {"path": "/a//"}]},
    {"sockets": [{"name": "fallback-x11"}, {"name": "x11", "allow": False}]},
    {"environment": [{"name": "A", "value": "1"},
                     {"name": "A", "unset": True}]},
])
def test_entries_that_contradict_each_other(options):
    with pytest.raises(InvalidInput, match="disagree"):
        changes(**options)


def test_repeated_identical_entries_are_fine():
    changes(filesystems=[{"path": "/a"}, {"path": "/a/"}],
            sockets=[{"name": "fallback-x11"}, {"name": "x11"}])


def test_absent_entries_ignore_what_they_would_have_set():
    changes(filesystems=[{"path": "/a", "mode": "ro", "state": "absent"},
                         {"path": "/a", "state": "absent"}])


@pytest.mark.parametrize("app", ["org.example", "1.2.3", "org.example.Game/x"])
def test_app_ids_flatpak_would_refuse(app):
    with pytest.raises(InvalidInput, match="flatpak would refuse"):
        locate(app=app, scope="user", user=None, overrides_dir="/tmp")


def test_locations():
    system = locate(app="global", scope="system", user=None,
                    overrides_dir=None)
    mine = locate(app="a.b.c", scope="user", user=None, overrides_dir=None)

    assert system.path == "/var/lib/flatpak/overrides/global"
    assert mine.path == os.path.expanduser(
        "~/.local/share/flatpak/overrides/a.b.c")
    assert mine.uid == -1


def test_system_scope_takes_no_user():
    with pytest.raises(InvalidInput, match="belong to no user"):
        locate(app="a.b.c", scope="system", user="root", overrides_dir=None)


def test_unknown_user():
    with pytest.raises(InvalidInput, match="no such user"):
        locate(app="a.b.c", scope="user", user="no-such-user-here",
               overrides_dir=None)


@pytest.mark.skipif(os.geteuid() != 0, reason="acts for another user")
def test_another_users_home_must_exist():
    with pytest.raises(HostError, match="does not exist"):
        locate(app="a.b.c", scope="user", user="nobody", overrides_dir=None)
