#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: flatpak_override
short_description: Manage Flatpak permission overrides of one app or of all apps
version_added: 0.1.0
description:
  - Edits the override file that C(flatpak override) edits, for one application or for the C(global) file that applies to every
    application, either of one user or system-wide.
  - The file is read and written in process with the meaning Flatpak 1.14 gives it, so the module needs no C(flatpak) command
    on the managed host and runs nothing per entry.
  - Each entry can be ensured present or absent on its own; O(exclusive=true) makes the file hold exactly the given entries,
    and O(state=absent) removes the file as C(flatpak override --reset) does.
  - Keys, groups and comments that the module does not manage are kept as they are. Entries that Flatpak 1.14 does not know,
    for example a socket added by a later Flatpak, are kept too unless O(exclusive=true).
  - The task reports a change only when what Flatpak reads from the file changes; a file that only orders its entries
    differently is left alone.
author:
  - gaming-box developers (@gaming-box)
options:
  app:
    description:
      - The application id whose overrides to manage, for example V(com.valvesoftware.Steam).
      - Use V(global) for the file that applies to every application of the O(scope).
      - An id that Flatpak would refuse (fewer than three parts, a part starting with a digit, a C(-) outside the last part)
        fails the task.
    type: str
    required: true
  scope:
    description:
      - V(user) edits the overrides of O(user) in C(~/.local/share/flatpak/overrides/), like C(flatpak override --user).
      - V(system) edits C(/var/lib/flatpak/overrides/), like C(flatpak override --system); this needs root.
    type: str
    choices: [user, system]
    default: user
  user:
    description:
      - The user, by name or uid, whose overrides to manage when O(scope=user).
      - When unset, the user the task runs as.
      - Only root may manage another user's overrides. Files and directories the module creates then belong to that user.
      - Must stay unset when O(scope=system).
    type: str
  overrides_dir:
    description:
      - The directory that holds the override files, instead of the default of the O(scope).
      - Use it when the user sets C(FLATPAK_USER_DIR) or C(XDG_DATA_HOME), for another system installation, or in tests.
    type: path
  state:
    description:
      - V(present) applies the entries to the file, creating it when needed.
      - V(absent) removes the whole file, so the application runs with the permissions of its manifest again. All entry
        options are ignored then.
    type: str
    choices: [present, absent]
    default: present
  exclusive:
    description:
      - When V(true), every key Flatpak reads from the file holds exactly the entries of this task, and everything else
        Flatpak reads is removed. Entries with O(filesystems[].state=absent) and similar are then redundant.
      - Comments, and groups and keys that Flatpak does not read, are kept even then.
    type: bool
    default: false
  shared:
    description:
      - Namespaces shared with the host, as C(--share) and C(--unshare) set them.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - The word Flatpak uses for it.
        type: str
        required: true
        choices: [network, ipc]
      allow: &flag_allow
        description:
          - V(true) grants it (C(--share), C(--socket), C(--device), C(--allow)).
          - V(false) writes a negated entry that withdraws it even when the manifest grants it (C(--unshare),
            C(--nosocket), C(--nodevice), C(--disallow)).
        type: bool
        default: true
      state: &flag_state
        description:
          - V(present) writes the entry; V(absent) removes any entry for this name, so the manifest decides again.
        type: str
        choices: [present, absent]
        default: present
  sockets:
    description:
      - Sockets the app may use, as C(--socket) and C(--nosocket) set them.
      - Like the command, an entry for V(fallback-x11) sets V(x11) the same way.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - The socket.
        type: str
        required: true
        choices: [x11, wayland, pulseaudio, session-bus, system-bus, fallback-x11, ssh-auth, pcsc, cups, gpg-agent]
      allow: *flag_allow
      state: *flag_state
  devices:
    description:
      - Devices the app may use, as C(--device) and C(--nodevice) set them.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - The device class.
        type: str
        required: true
        choices: [dri, all, kvm, shm]
      allow: *flag_allow
      state: *flag_state
  features:
    description:
      - Features the app may use, as C(--allow) and C(--disallow) set them.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - The feature.
        type: str
        required: true
        choices: [devel, multiarch, bluetooth, canbus, per-app-dev-shm]
      allow: *flag_allow
      state: *flag_state
  filesystems:
    description:
      - Locations of the host the app sees, as C(--filesystem) and C(--nofilesystem) set them.
    type: list
    elements: dict
    suboptions:
      path:
        description:
          - An absolute path such as C(/sys/fs/cgroup/user.slice), a path in the home directory such as C(~/Games), or one
            of V(host), V(host-os), V(host-etc), V(home), C(xdg-download), C(xdg-data/Steam) and the other C(xdg-*) names.
          - The path is taken literally; set the access with O(filesystems[].mode), not with a C(:ro) suffix.
          - Flatpak's spelling rules apply, so C(~) is V(home), C(home/x) is C(~/x), and doubled or trailing slashes are
            dropped. A path with a C(..) component, V(/), or an unknown word fails the task.
        type: str
        required: true
      mode:
        description:
          - V(rw) read and write, V(ro) read only, V(create) read and write and created when missing.
          - V(none) hides the location even when the manifest grants it (C(--nofilesystem)).
          - V(reset), only with O(filesystems[].path=host), writes C(!host:reset) like C(--nofilesystem=host:reset) -
            the app then gets none of the locations its manifest grants, and, as with the command, every other filesystem
            entry already in the file is dropped. Other filesystem entries of the same task still apply.
        type: str
        choices: [rw, ro, create, none, reset]
        default: rw
      state:
        description:
          - V(present) writes the entry; V(absent) removes any entry for this location, whatever its mode.
        type: str
        choices: [present, absent]
        default: present
  persistent:
    description:
      - Directories of the home directory kept per app in C(~/.var/app/APPID), as C(--persist) sets them.
    type: list
    elements: dict
    suboptions:
      path:
        description:
          - The path relative to the home directory, for example V(.steam).
        type: str
        required: true
      state:
        description:
          - V(present) writes the entry; V(absent) removes it.
        type: str
        choices: [present, absent]
        default: present
  environment:
    description:
      - Environment variables set or removed in the sandbox, as C(--env) and C(--unset-env) set them.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - The variable name. It must not be empty nor hold C(=), C([), C(]) or control characters.
        type: str
        required: true
      value:
        description:
          - The value to give the variable. Required with O(environment[].state=present) unless
            O(environment[].unset=true).
        type: str
      unset:
        description:
          - V(true) removes the variable inside the sandbox, even when the manifest sets it.
        type: bool
        default: false
      state:
        description:
          - V(present) writes the entry; V(absent) removes any entry for this variable.
        type: str
        choices: [present, absent]
        default: present
  session_bus:
    description:
      - Access to names on the session bus, as C(--own-name), C(--talk-name) and C(--no-talk-name) set them.
    type: list
    elements: dict
    suboptions: &bus_options
      name:
        description:
          - A well-known bus name such as V(org.freedesktop.Notifications), or a prefix such as V(org.mpris.*).
        type: str
        required: true
      policy:
        description:
          - V(own) may own and talk to the name, V(talk) may talk to it, V(see) may only see it, and V(none) withdraws
            access the manifest grants (C(--no-talk-name)).
          - The C(flatpak override) command of 1.14 cannot write V(see); Flatpak reads it from the file all the same.
        type: str
        choices: [none, see, talk, own]
        default: talk
      state:
        description:
          - V(present) writes the entry; V(absent) removes any entry for this name.
        type: str
        choices: [present, absent]
        default: present
  system_bus:
    description:
      - Access to names on the system bus, as C(--system-own-name), C(--system-talk-name) and C(--system-no-talk-name)
        set them.
    type: list
    elements: dict
    suboptions: *bus_options
  policies:
    description:
      - Generic policies for Flatpak subsystems, as C(--add-policy) and C(--remove-policy) set them.
    type: list
    elements: dict
    suboptions:
      subsystem:
        description:
          - The subsystem, the part before the first dot of C(--add-policy=SUBSYSTEM.KEY=VALUE).
        type: str
        required: true
      key:
        description:
          - The key within the subsystem.
        type: str
        required: true
      value:
        description:
          - The value; it must not start with C(!).
        type: str
        required: true
      allow:
        description:
          - V(true) adds the value (C(--add-policy)); V(false) writes it negated (C(--remove-policy)).
        type: bool
        default: true
      state:
        description:
          - V(present) writes the entry; V(absent) removes the value, negated or not.
        type: str
        choices: [present, absent]
        default: present
attributes:
  check_mode:
    support: full
    description: Nothing is written; the result says what would change.
  diff_mode:
    support: full
    description: The diff holds the whole file before and after.
  idempotent:
    support: full
    description: A second run with the same arguments reports no change.
notes:
  - The module follows Flatpak 1.14 (Debian 12). Words that later versions added, such as new sockets, are refused as input
    but kept when found in a file.
  - Without O(overrides_dir), user overrides are looked for in C(~/.local/share/flatpak/overrides/). A user whose Flatpak
    uses C(FLATPAK_USER_DIR) or another C(XDG_DATA_HOME) needs O(overrides_dir).
  - When root manages another user's overrides, the module refuses to follow a symbolic link inside that user's home on the
    way to the file.
  - Flatpak skips a filesystem entry whose path does not exist when the app starts. Create the directory before the app
    starts.
  - C(flatpak override) 1.14 writes a hidden location whose name ends in C(-reset) as C(!path:reset), which it then cannot
    read. This module writes such entries so that Flatpak reads them as meant.
  - The module does not manage C(flatpak override --env-fd), which only feeds C(--env).
  - Changes apply to app instances started afterwards.
requirements:
  - None on the managed host besides Python; the C(flatpak) command is not needed.
seealso:
  - name: flatpak-override(1)
    description: The command whose files this module edits.
    link: https://docs.flatpak.org/en/latest/flatpak-command-reference.html#flatpak-override
  - name: Sandbox permissions
    description: What each permission grants.
    link: https://docs.flatpak.org/en/latest/sandbox-permissions.html
  - module: community.general.flatpak
    description: Installs and removes Flatpak applications.
"""

EXAMPLES = r"""
- name: Let Steam see the cgroup of the games scope
  gamingbox.sandbox.flatpak_override:
    app: com.valvesoftware.Steam
    user: player
    filesystems:
      - path: /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/games.slice/game.scope
        mode: rw

- name: Withdraw the network from one app and keep it from talking to the secrets portal
  gamingbox.sandbox.flatpak_override:
    app: org.example.Game
    shared:
      - name: network
        allow: false
    session_bus:
      - name: org.freedesktop.secrets
        policy: none

- name: Set and remove environment variables for every app of the user
  gamingbox.sandbox.flatpak_override:
    app: global
    environment:
      - name: MANGOHUD
        value: "1"
      - name: LD_PRELOAD
        unset: true

- name: Drop one earlier grant and leave the rest of the file alone
  gamingbox.sandbox.flatpak_override:
    app: com.valvesoftware.Steam
    filesystems:
      - path: ~/Downloads
        state: absent

- name: Make the system-wide override hold exactly these entries
  become: true
  gamingbox.sandbox.flatpak_override:
    app: com.valvesoftware.Steam
    scope: system
    exclusive: true
    filesystems:
      - path: host
        mode: reset
      - path: xdg-data/Steam
        mode: create
    persistent:
      - path: .steam

- name: Remove all overrides of an app, like flatpak override --reset
  gamingbox.sandbox.flatpak_override:
    app: org.example.Game
    state: absent
"""

RETURN = r"""
path:
  description: The override file the task managed.
  returned: always
  type: str
  sample: /home/player/.local/share/flatpak/overrides/com.valvesoftware.Steam
flatpak_installed:
  description: Whether the C(flatpak) command exists on the host. The module works without it.
  returned: always
  type: bool
  sample: true
overrides:
  description:
    - What Flatpak reads from the file after the task (or would, in check mode), in the words of C(flatpak override).
    - Empty lists and dictionaries when O(state=absent).
  returned: always
  type: dict
  contains:
    shared:
      description: Shared namespaces; a leading C(!) marks a withdrawn one.
      type: list
      elements: str
      sample: ["!network"]
    sockets:
      description: Sockets; a leading C(!) marks a withdrawn one.
      type: list
      elements: str
      sample: [wayland, "!x11"]
    devices:
      description: Device classes; a leading C(!) marks a withdrawn one.
      type: list
      elements: str
      sample: [dri]
    features:
      description: Features; a leading C(!) marks a disallowed one.
      type: list
      elements: str
      sample: []
    filesystems:
      description: Filesystem entries as Flatpak writes them, with C(:ro) or C(:create) suffixes and C(!) for hidden ones.
      type: list
      elements: str
      sample: ["/sys/fs/cgroup/user.slice/game.scope", "~/Games:ro", "!home"]
    persistent:
      description: Persistent home directory paths.
      type: list
      elements: str
      sample: [.steam]
    environment:
      description: Variables set in the sandbox.
      type: dict
      sample: {MANGOHUD: "1"}
    unset_environment:
      description: Variables removed in the sandbox.
      type: list
      elements: str
      sample: [LD_PRELOAD]
    session_bus:
      description: Session bus names and their policy.
      type: dict
      sample: {org.freedesktop.secrets: none}
    system_bus:
      description: System bus names and their policy.
      type: dict
      sample: {}
    policies:
      description: Generic policies, C(SUBSYSTEM.KEY) to its values, C(!) marking removed ones.
      type: dict
      sample: {}
  sample:
    shared: ["!network"]
    sockets: []
    devices: []
    features: []
    filesystems: ["~/Games:ro"]
    persistent: []
    environment: {}
    unset_environment: []
    session_bus: {}
    system_bus: {}
    policies: {}
diff:
  description: The file before and after; empty text stands for a missing file.
  returned: when diff mode is on
  type: dict
  sample:
    before: ""
    after: "[Context]\nfilesystems=~/Games:ro;\n"
    before_header: /home/player/.local/share/flatpak/overrides/org.example.Game
    after_header: /home/player/.local/share/flatpak/overrides/org.example.Game
"""

from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    GamingBoxError,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._module import (
    GamingBoxModule,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._flatpak_override import (
    manage_override,
)

_STATE = {"type": "str", "choices": ["present", "absent"],
          "default": "present"}


def _flags(*names: str) -> dict:
    return {"type": "list", "elements": "dict", "options": {
        "name": {"type": "str", "required": True, "choices": list(names)},
        "allow": {"type": "bool", "default": True},
        "state": _STATE}}


def _bus() -> dict:
    return {"type": "list", "elements": "dict", "options": {
        "name": {"type": "str", "required": True},
        "policy": {"type": "str", "default": "talk",
                   "choices": ["none", "see", "talk", "own"]},
        "state": _STATE}}


ARGUMENT_SPEC = {
    "app": {"type": "str", "required": True},
    "scope": {"type": "str", "choices": ["user", "system"],
              "default": "user"},
    "user": {"type": "str"},
    "overrides_dir": {"type": "path"},
    "state": _STATE,
    "exclusive": {"type": "bool", "default": False},
    "shared": _flags("network", "ipc"),
    "sockets": _flags("x11", "wayland", "pulseaudio", "session-bus",
                      "system-bus", "fallback-x11", "ssh-auth", "pcsc",
                      "cups", "gpg-agent"),
    "devices": _flags("dri", "all", "kvm", "shm"),
    "features": _flags("devel", "multiarch", "bluetooth", "canbus",
                       "per-app-dev-shm"),
    "filesystems": {"type": "list", "elements": "dict", "options": {
        "path": {"type": "str", "required": True},
        "mode": {"type": "str", "default": "rw",
                 "choices": ["rw", "ro", "create", "none", "reset"]},
        "state": _STATE}},
    "persistent": {"type": "list", "elements": "dict", "options": {
        "path": {"type": "str", "required": True},
        "state": _STATE}},
    "environment": {"type": "list", "elements": "dict", "options": {
        "name": {"type": "str", "required": True},
        "value": {"type": "str"},
        "unset": {"type": "bool", "default": False},
        "state": _STATE}},
    "session_bus": _bus(),
    "system_bus": _bus(),
    "policies": {"type": "list", "elements": "dict", "options": {
        "subsystem": {"type": "str", "required": True},
        "key": {"type": "str", "required": True, "no_log": False},
        "value": {"type": "str", "required": True},
        "allow": {"type": "bool", "default": True},
        "state": _STATE}},
}


def main() -> None:
    module = GamingBoxModule("flatpak_override", argument_spec=ARGUMENT_SPEC,
                             supports_check_mode=True)
    try:
        result = manage_override(module.params, check_mode=module.check_mode,
                                 diff=module._diff)
    except GamingBoxError as err:
        module.fail_json(**err.as_result())
    module.exit_json(**result)


if __name__ == "__main__":
    main()
