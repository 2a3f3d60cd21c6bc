"""Rendering and parsing of the stored filter spec."""

from __future__ import annotations

import json

import pytest

from ansible_collections.gamingbox.sandbox.plugins.module_utils import (
    _netfilter_state as state,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    HostError,
    InvalidInput,
)

CGROUP = ("/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/"
          "games.slice")


def make_spec(**changes) -> state.FilterSpec:
    fields = dict(
        name="games", cgroup=CGROUP, ingress=False,
        allow=[{"cidr": "127.0.0.0/8", "protocols": ["any"], "ports": []}],
        owner_uid=1000,
        programs=[
            state.ProgramSpec(hook="connect4", function="gbox_connect4",
                              prog_type=18, attach_type=10, ingress=False,
                              insns=bytes(range(16)),
                              relocations=[[0, "allow_v4"]]),
            state.ProgramSpec(hook="ingress", function="gbox_ingress",
                              prog_type=8, attach_type=0, ingress=True,
                              insns=bytes(8), relocations=[]),
        ],
        maps=[state.MapSpec(name="allow_v4", map_type=11, key_size=8,
                            value_size=136, max_entries=1024, flags=1,
                            per_filter=False,
                            entries=[(b"\x08\0\0\0\x7f\0\0\0", bytes(136))])],
        counter_names=["connect_allowed", "connect_blocked"],
        license="GPL", build={"kernel": "6.1.0-test", "source_sha256": "ab"})
    fields.update(changes)
    return state.FilterSpec(**fields)


def test_render_parse_round_trip_is_byte_identical():
    spec = make_spec()
    text = spec.render()
    again = state.FilterSpec.parse(text, path="x.json")
    assert again.render() == text
    assert again.programs[0].insns == bytes(range(16))
    assert again.maps[0].entries == spec.maps[0].entries


def test_render_is_sorted_json_with_readable_allow_list():
    data = json.loads(make_spec().render())
    assert data["format"] == state.FORMAT
    assert data["allow"][0]["cidr"] == "127.0.0.0/8"
    assert data["programs"][0]["insns"] == bytes(range(16)).hex()


def test_generation_follows_what_reaches_the_kernel():
    base = make_spec().generation
    assert len(base) == 16
    assert make_spec(allow=[]).generation == base  # display only
    assert make_spec(build={"kernel": "other"}).generation == base
    entries = [(b"\x08\0\0\0\x0a\0\0\0", bytes(136))]
    changed_maps = [state.MapSpec(name="allow_v4", map_type=11, key_size=8,
                                  value_size=136, max_entries=1024, flags=1,
                                  per_filter=False, entries=entries)]
    assert make_spec(maps=changed_maps).generation != base
    assert make_spec(ingress=True).generation != base
    assert make_spec(cgroup=CGROUP + "/game.scope").generation != base


def test_ingress_program_is_attached_only_when_asked():
    assert [p.hook for p in make_spec().attached_programs()] == ["connect4"]
    assert [p.hook for p in make_spec(ingress=True).attached_programs()] == [
        "connect4", "ingress"]


def test_paths_of_a_spec():
    spec = make_spec()
    assert spec.pin_dir == "/sys/fs/bpf/gaming-box/games"
    assert spec.generation_dir == f"/sys/fs/bpf/gaming-box/games/" \
                                  f"{spec.generation}"
    assert spec.counters_pin == "/sys/fs/bpf/gaming-box/games/counters"
    assert state.spec_path("games") == \
        "/var/lib/gaming-box/netfilter/games.json"


@pytest.mark.parametrize("text, words", [
    ("{", "is not JSON"),
    ('{"format": 99}', "format 1"),
    ('{"format": 1, "name": "games"}', "incomplete or damaged"),
])
def test_damaged_spec_names_the_file_and_the_fix(text, words):
    with pytest.raises(HostError) as caught:
        state.FilterSpec.parse(text, path="/var/lib/x.json")
    assert caught.value.obj == "/var/lib/x.json"
    assert words in caught.value.cause
    assert "Run the cgroup_bpf_netfilter task again" in caught.value.fix


def test_read_and_list_specs(tmp_path):
    assert state.read_spec("games", spec_dir=str(tmp_path)) is None
    (tmp_path / "games.json").write_text(make_spec().render())
    (tmp_path / ".games.json.tmp").write_text("junk")
    assert state.read_spec("games", spec_dir=str(tmp_path)).name == "games"
    assert state.list_specs(spec_dir=str(tmp_path)) == ["games"]
    assert state.list_specs(spec_dir=str(tmp_path / "none")) == []


@pytest.mark.parametrize("name", ["", "Games", "-x", "a/b", "a" * 41, None,
                                  "../etc"])
def test_names_that_cannot_be_paths_are_refused(name):
    with pytest.raises(InvalidInput):
        state.check_name(name)


def test_good_names_pass():
    assert state.check_name("player-game_1") == "player-game_1"
