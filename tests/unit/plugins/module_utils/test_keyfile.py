"""The key file editor: GKeyFile's reading rules, and edits that keep the rest."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    HostError,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils import (
    _keyfile as keyfile,
)

MESSY = (
    "# written by hand\n"
    "\n"
    "[Context]   \n"
    "  filesystems = home;  \n"
    "# keep me\n"
    "sockets=x11;\r\n"
    "\n"
    "[X-Unknown]\n"
    "odd key=with spaces\n"
    "Name[de]=Spiel\n"
)


def parse(text: str) -> keyfile.KeyFile:
    return keyfile.KeyFile.parse(text, origin="test")


def test_untouched_file_renders_byte_for_byte():
    assert parse(MESSY).render() == MESSY


def test_values_are_trimmed_like_gkeyfile():
    doc = parse(MESSY)

    assert doc.get("Context", "filesystems") == "home;  "
    assert doc.get("Context", "sockets") == "x11;"
    assert doc.keys("X-Unknown") == ["odd key", "Name[de]"]


def test_repeated_groups_merge_and_the_last_key_wins():
    doc = parse("[A]\nk=1\n[B]\nk=2\n[A]\nk=3\nj=4\n")

    assert doc.groups() == ["A", "B"]
    assert doc.get("A", "k") == "3"
    assert doc.keys("A") == ["k", "j"]


def test_set_replaces_the_last_occurrence_and_drops_the_others():
    doc = parse("[A]\nk=1\n# note\n[A]\nk=3\n")

    doc.set("A", "k", "9")

    assert doc.render() == "[A]\n# note\n[A]\nk=9\n"


def test_new_key_goes_after_the_groups_last_key():
    doc = parse("[A]\nk=1\n\n# about B\n[B]\n")

    doc.set("A", "j", "2")

    assert doc.render() == "[A]\nk=1\nj=2\n\n# about B\n[B]\n"


def test_new_group_is_separated_by_an_empty_line():
    doc = parse("# only a comment")

    doc.set("Context", "shared", "network;")

    assert doc.render() == "# only a comment\n\n[Context]\nshared=network;\n"


def test_new_group_in_an_empty_file():
    doc = parse("")

    doc.set("Context", "shared", "network;")

    assert doc.render() == "[Context]\nshared=network;\n"


def test_remove_takes_every_occurrence():
    doc = parse("[A]\nk=1\nk=2\nj=3\n")

    assert doc.remove("A", "k")
    assert not doc.remove("A", "k")
    assert doc.render() == "[A]\nj=3\n"


def test_empty_group_goes_but_one_with_comments_stays():
    doc = parse("[A]\nk=1\n\n[B]\n# mine\nk=1\n")
    doc.remove("A", "k")
    doc.remove("B", "k")

    doc.drop_group_if_empty("A")
    doc.drop_group_if_empty("B")

    assert doc.render() == "[B]\n# mine\n"


@pytest.mark.parametrize("text, reason", [
    ("k=v\n[A]\n", "before the first group"),
    ("[A]\njust words\n", "not a key-value pair"),
    ("[A]\n=v\n", "not a key-value pair"),
    ("[A]x\n", "not a key-value pair"),
    ("[A\x01]\n", "invalid group name"),
    ("[A]\nk]=v\n", "invalid key name"),
    ("[A]\nk [de]=v\n", "invalid key name"),
    ("[A]\nEncoding=latin1\n", "unsupported encoding"),
])
def test_lines_gkeyfile_refuses(text, reason):
    with pytest.raises(HostError, match=reason):
        parse(text)


def test_encoding_is_only_checked_in_the_first_group():
    parse("[A]\nEncoding=UTF-8\n[B]\nEncoding=latin1\n")


def test_decode_string_keeps_unknown_escapes_and_drops_a_final_backslash():
    assert keyfile.decode_string(r"\sa\tb\\c\;d\qe\\") == " a\tb\\c\\;d\\qe\\"
    assert keyfile.decode_string("abc\\") == "abc"


def test_decode_list_splits_on_unescaped_separators_only():
    assert keyfile.decode_list(r"a\;b;;c") == ["a;b", "", "c"]
    assert keyfile.decode_list("a;b") == ["a", "b"]
    assert keyfile.decode_list("a; ") == ["a", " "]
    assert keyfile.decode_list("") == []


@pytest.mark.parametrize("raw", ["a\\", r"a\q;"])
def test_decode_list_refuses_what_gkeyfile_refuses(raw):
    with pytest.raises(keyfile.KeyFileValueError):
        keyfile.decode_list(raw)


def test_encode_escapes_leading_blanks_only():
    assert keyfile.encode_string("  a b\t") == r"\s\sa b" + "\t"
    assert keyfile.encode_list([" a", "b;c"]) == r"\sa;b\;c;"


@given(st.text())
def test_strings_round_trip(text):
    assert keyfile.decode_string(keyfile.encode_string(text)) == text


@given(st.lists(st.text()))
def test_lists_round_trip(items):
    assert keyfile.decode_list(keyfile.encode_list(items)) == items


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",),
                                      blacklist_characters="\0")))
def test_set_then_get_returns_the_value(value):
    assume(value[:1] not in ("\v", "\f"))
    doc = parse("[A]\n# c\n")

    doc.set("A", "k", keyfile.encode_string(value))

    assert keyfile.decode_string(parse(doc.render()).get("A", "k")) == value


@pytest.mark.parametrize("name, ok", [
    ("FOO", True), ("with space", True), ("", False), ("A=B", False),
    ("A[x]", False), ("#A", False), (" A", False), ("A ", False),
])
def test_key_names(name, ok):
    assert keyfile.is_key_name(name) is ok


def test_set_refuses_what_a_line_cannot_hold():
    doc = parse("")

    with pytest.raises(ValueError):
        doc.set("A", "k", "a\0b")
    with pytest.raises(ValueError):
        doc.set("A", "k=", "v")
    with pytest.raises(ValueError):
        doc.set("A", "k", "\fv")
