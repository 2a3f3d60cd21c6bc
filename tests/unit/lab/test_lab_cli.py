"""Argument parsing of python -m lab."""

import pytest

from lab.cli import build_parser


def parse(*argv: str):
    return build_parser().parse_args(list(argv))


def test_up_defaults_to_one_guest():
    args = parse("up")

    assert args.count == 1
    assert args.memory is None and args.cpus is None
    assert args.timeout == 600.0


def test_up_takes_count_and_sizes():
    args = parse("up", "-n", "3", "--memory", "1024", "--cpus", "2")

    assert (args.count, args.memory, args.cpus) == (3, 1024, 2)


@pytest.mark.parametrize("count", ["0", "-1", "two"])
def test_up_refuses_a_count_below_one(count, capsys):
    with pytest.raises(SystemExit):
        parse("up", "-n", count)


def test_ssh_keeps_the_remote_command_as_given():
    args = parse("ssh", "gbox-2", "--", "systemctl", "--user", "-M",
                 "player@", "status")

    assert args.guest == "gbox-2"
    assert args.remote == ["systemctl", "--user", "-M", "player@", "status"]


def test_ssh_passes_a_second_double_dash_on():
    assert parse("ssh", "gbox-1", "--", "ls", "--", "-x").remote == [
        "ls", "--", "-x"]


def test_ssh_without_command_is_a_shell():
    assert parse("ssh", "gbox-1").remote == []


def test_a_command_is_required():
    with pytest.raises(SystemExit):
        parse()


@pytest.mark.parametrize("argv", [["image"], ["image", "--rebuild"],
                                  ["down"], ["status"],
                                  ["reboot", "gbox-1"]])
def test_every_command_parses(argv):
    assert parse(*argv).command == argv[0]
