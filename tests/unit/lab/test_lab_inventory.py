"""The Ansible inventory written for the running guests."""

from pathlib import Path

from ruamel.yaml import YAML

from lab.inventory import inventory_data, render_inventory, write_inventory
from lab.state import GuestRecord, LabState

KEY = Path("/srv/lab/state/id_ed25519")


def record(name: str, port: int) -> GuestRecord:
    return GuestRecord(name=name, ssh_port=port, pid=1, memory_mib=1536,
                       cpus=1, image="/cache/base-0")


def parsed(text: str) -> dict:
    return YAML(typ="safe").load(text)


def test_hosts_in_gaming_desktops_with_connection_vars():
    data = inventory_data([record("gbox-1", 40001), record("gbox-2", 40002)],
                          KEY)

    hosts = parsed(render_inventory(data))["all"]["children"][
        "gaming_desktops"]["hosts"]

    assert list(hosts) == ["gbox-1", "gbox-2"]
    assert hosts["gbox-2"] == {
        "ansible_host": "127.0.0.1",
        "ansible_port": 40002,
        "ansible_user": "root",
        "ansible_ssh_private_key_file": str(KEY),
        "ansible_ssh_common_args": "-o StrictHostKeyChecking=no "
                                   "-o UserKnownHostsFile=/dev/null "
                                   "-o IdentitiesOnly=yes",
        "ansible_python_interpreter": "/usr/bin/python3",
        "gaming_box_lab_user": "player",
    }


def test_rendered_file_starts_with_a_comment():
    text = render_inventory(inventory_data([record("gbox-1", 1)], KEY))

    assert text.startswith("# Written by `python -m lab up`")


def test_write_orders_guests_numerically(tmp_path):
    state = LabState(tmp_path, {name: record(name, 40000 + number)
                                for number, name in
                                ((10, "gbox-10"), (2, "gbox-2"))})

    path = write_inventory(state)

    hosts = parsed(path.read_text())["all"]["children"][
        "gaming_desktops"]["hosts"]
    assert list(hosts) == ["gbox-2", "gbox-10"]
    assert not list(tmp_path.glob(".inventory.yml.*"))
