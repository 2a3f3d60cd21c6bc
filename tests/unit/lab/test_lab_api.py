"""How the test API turns arguments into guest-side commands."""

from pathlib import Path

from lab.api import Guest
from lab.guests import player_env
from lab.ssh import SshTarget
from lab.state import LabState

GUEST = Guest(name="gbox-1", ssh_port=40001,
              target=SshTarget(40001, Path("/k"), Path("/tmp/c")),
              lab_state=LabState(Path("/state")))


def test_root_commands_run_as_given():
    assert GUEST.command(["id", "-u"]) == ["id", "-u"]
    assert GUEST.command(["id"], user="root") == ["id"]


def test_other_users_go_through_runuser_then_env():
    command = GUEST.command(["systemctl", "--user", "status"],
                            user="player", env={"A": "b c"})

    assert command == ["runuser", "-u", "player", "--", "env", "A=b c",
                       "systemctl", "--user", "status"]


def test_player_environment_reaches_the_user_bus():
    assert player_env() == {
        "HOME": "/home/player",
        "XDG_RUNTIME_DIR": "/run/user/1000",
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=/run/user/1000/bus",
    }


def test_guests_compare_by_name_and_target_only():
    other = Guest(name="gbox-1", ssh_port=40001, target=GUEST.target,
                  lab_state=LabState(Path("/elsewhere")))

    assert other == GUEST
    assert hash(other) == hash(GUEST)
