"""Targets of gbox-game --connect and gbox-launcher probe."""

import argparse
import sys

import pytest

from lab.config import RECIPE_DIR

# The module is part of the image recipe: leave no byte code next to it.
sys.dont_write_bytecode = True
sys.path.insert(0, str(RECIPE_DIR / "flatpak" / "launcher" / "lib" / "gbox"))
from netprobe import Target, parse_target, probe  # noqa: E402

sys.dont_write_bytecode = False


@pytest.mark.parametrize("text, expected", [
    ("tcp:10.201.0.2:7000", Target("tcp", "10.201.0.2", 7000)),
    ("udp:localhost:53", Target("udp", "localhost", 53)),
    ("tcp:[::1]:80", Target("tcp", "::1", 80)),
    ("tcp:[::ffff:10.0.0.2]:80", Target("tcp", "::ffff:10.0.0.2", 80)),
    ("udp:[fd42:201::2]:7000", Target("udp", "fd42:201::2", 7000)),
])
def test_targets_parse(text, expected):
    assert parse_target(text) == expected
    assert str(parse_target(text)) == text


@pytest.mark.parametrize("text", [
    "icmp:1.2.3.4:1", "tcp:1.2.3.4", "tcp:::1:80", "tcp:[::1]80",
    "tcp:host:0", "tcp:host:65536", "tcp:host:http", "tcp::80",
])
def test_bad_targets_say_why(text):
    with pytest.raises(argparse.ArgumentTypeError, match=text.replace(
            "[", r"\[").replace("]", r"\]")):
        parse_target(text)


def test_refused_connection_reports_the_errno():
    # Port 1 on loopback: nothing listens there on a test machine.
    result = probe(Target("tcp", "127.0.0.1", 1), timeout=2)

    assert result["ok"] is False
    assert result["errno"] == "ECONNREFUSED"
    assert result["target"] == "tcp:127.0.0.1:1"
    assert result["elapsed_ms"] >= 0


def test_udp_reports_send_and_missing_reply():
    result = probe(Target("udp", "127.0.0.1", 9), timeout=0.2,
                   expect_reply=True)

    assert result["sent"] is True
    assert result["reply"] is False
    assert result["ok"] is False
