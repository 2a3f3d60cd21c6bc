"""What an override file means to flatpak, and minimal edits to it."""

from __future__ import annotations

import pytest

from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    HostError,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._flatpak_context import (
    Overrides,
    load,
    store,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._keyfile import (
    KeyFile,
)


def read(text: str) -> Overrides:
    return load(KeyFile.parse(text, origin="test"), origin="test")


def test_later_entries_win_and_negation_withdraws():
    model = read("[Context]\nshared=network;!network;ipc;\n"
                 "sockets=!x11;x11;fallback-x11;\n")

    assert model.shared == {"network": False, "ipc": True}
    # Only the command adds x11 for fallback-x11; the file means what it says.
    assert model.sockets == {"x11": True, "fallback-x11": True}


def test_filesystems_are_normalised_and_host_reset_hides_host():
    model = read("[Context]\nfilesystems=host;!host:reset;~;home/G:ro;"
                 "/a//b/:create;\n")

    assert model.filesystems == {"host": "none", "host-reset": "none",
                                 "home": "rw", "~/G": "ro", "/a/b": "create"}


def test_host_granted_after_the_reset_stays_granted():
    model = read("[Context]\nfilesystems=!host:reset;host:ro;\n")

    assert model.filesystems == {"host": "ro", "host-reset": "none"}


def test_unknown_words_are_kept_aside():
    model = read("[Context]\nsockets=inherit-wayland-socket;wayland;\n"
                 "filesystems=nowhere;/ok;;\n"
                 "[Session Bus Policy]\norg.a.b=maybe\n")

    assert model.sockets == {"wayland": True}
    assert model.filesystems == {"/ok": "rw"}
    assert model.unknown == {"sockets": ["inherit-wayland-socket"],
                             "filesystems": ["nowhere", ""],
                             "Session Bus Policy": ["org.a.b"]}


def test_unset_environment_wins_over_the_environment_group():
    model = read("[Context]\nunset-environment=A;\n"
                 "[Environment]\nA=\nB=\\s1\nC[de]=x\n")

    assert model.environment == {"A": None, "B": " 1"}


def test_policies_dedupe_like_flatpak():
    model = read("[Policy a]\nb=x;!y;!x;\n[Policy a.b]\nc=z;\n")

    assert model.policies == {("a", "b"): ["!y", "!x"], ("a.b", "c"): ["z"]}


@pytest.mark.parametrize("text, cause", [
    ("[Context]\nfilesystems=/a\x07;\n", "non-graphical"),
    ("[Context]\npersistent=a\x07;\n", "non-graphical"),
    ("[Context]\nsockets=x\\q;\n", "invalid escape"),
    ("[Session Bus Policy]\nnot-a-bus-name=talk\n", "bus name"),
])
def test_files_flatpak_refuses_to_load(text, cause):
    with pytest.raises(HostError, match=cause):
        read(text)


def test_store_touches_only_changed_keys():
    text = ("# mine\n[Context]\nsockets = x11 ; wayland;\n"
            "filesystems=home;\n\n[X-Other]\nk=v\n")
    doc = KeyFile.parse(text, origin="test")
    before = load(doc, origin="test")
    after = before.copy()
    after.filesystems["/new"] = "ro"
    after.environment["A"] = None
    after.session_bus["org.a.b"] = "see"

    store(doc, before, after)

    assert doc.render() == (
        "# mine\n[Context]\nsockets = x11 ; wayland;\n"
        "filesystems=home;/new:ro;\nunset-environment=A;\n\n"
        "[X-Other]\nk=v\n\n[Session Bus Policy]\norg.a.b=see\n\n"
        "[Environment]\nA=\n")
    assert read(doc.render()).meaning() == after.meaning()


def test_store_removes_emptied_keys_and_groups():
    text = "[Context]\nshared=network;\n[Environment]\nA=1\n"
    doc = KeyFile.parse(text, origin="test")
    before = load(doc, origin="test")

    store(doc, before, Overrides())

    assert doc.render() == ""


def test_report_uses_the_commands_words():
    model = read("[Context]\nshared=!network;\nfilesystems=!host:reset;~/G:ro;\n"
                 "unset-environment=B;\n[Environment]\nA=1\nB=\n"
                 "[Policy s]\nk=v;\n")

    report = model.report()

    assert report["shared"] == ["!network"]
    assert report["filesystems"] == ["!host:reset", "!host", "~/G:ro"]
    assert report["environment"] == {"A": "1"}
    assert report["unset_environment"] == ["B"]
    assert report["policies"] == {"s.k": ["v"]}
