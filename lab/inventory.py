"""The Ansible inventory of the running lab (lab/state/inventory.yml)."""

from __future__ import annotations

import io
from pathlib import Path

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from lab.config import GROUP, LAB_USER
from lab.state import GuestRecord, LabState, write_atomic

__all__ = ["inventory_data", "render_inventory", "write_inventory"]

HEADER = ("Written by `python -m lab up` for the guests running now; "
          "`python -m lab down` removes it.")
# Guests are new on every `up` and ports are recycled: host keys carry no
# trust here and must not end up in anyone's known_hosts.
SSH_COMMON_ARGS = ("-o StrictHostKeyChecking=no "
                   "-o UserKnownHostsFile=/dev/null -o IdentitiesOnly=yes")


def host_vars(record: GuestRecord, private_key: Path) -> CommentedMap:
    return CommentedMap([
        ("ansible_host", "127.0.0.1"),
        ("ansible_port", record.ssh_port),
        ("ansible_user", "root"),
        ("ansible_ssh_private_key_file", str(private_key)),
        ("ansible_ssh_common_args", SSH_COMMON_ARGS),
        ("ansible_python_interpreter", "/usr/bin/python3"),
        ("gaming_box_lab_user", LAB_USER),
    ])


def inventory_data(guests: list[GuestRecord],
                   private_key: Path) -> CommentedMap:
    hosts = CommentedMap((record.name, host_vars(record, private_key))
                         for record in guests)
    data = CommentedMap(all=CommentedMap(
        children=CommentedMap({GROUP: CommentedMap(hosts=hosts)})))
    data.yaml_set_start_comment(HEADER)
    return data


def render_inventory(data: CommentedMap) -> str:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


def write_inventory(state: LabState) -> Path:
    data = inventory_data(state.sorted_guests(), state.private_key)
    write_atomic(state.inventory, render_inventory(data))
    return state.inventory
