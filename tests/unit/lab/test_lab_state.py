"""lab.json round trips and guest ordering."""

import json

from lab.state import GuestRecord, LabState, load_state, save_state


def record(name: str) -> GuestRecord:
    return GuestRecord(name=name, ssh_port=40000, pid=123, memory_mib=2048,
                       cpus=2, image="/cache/base-0123")


def test_missing_state_is_an_empty_lab(tmp_path):
    assert load_state(tmp_path / "nothing").guests == {}


def test_save_then_load_gives_the_same_guests(tmp_path):
    state = LabState(tmp_path, {"gbox-1": record("gbox-1")})

    save_state(state)

    assert load_state(tmp_path).guests == state.guests
    assert json.loads((tmp_path / "lab.json").read_text())["version"] == 1


def test_guests_sort_by_number():
    state = LabState(None, {n: record(n) for n in
                            ("gbox-10", "gbox-2", "gbox-1")})

    assert [g.name for g in state.sorted_guests()] == [
        "gbox-1", "gbox-2", "gbox-10"]


def test_guest_files_live_in_its_own_directory(tmp_path):
    spec = LabState(tmp_path).spec(record("gbox-3"))

    assert spec.overlay == tmp_path / "gbox-3" / "overlay.qcow2"
    assert spec.public_key == tmp_path / "id_ed25519.pub"
