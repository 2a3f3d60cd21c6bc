#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: systemd_user_scope
short_description: Keep a limited slice and a named scope alive in a user's systemd manager
version_added: 0.1.0
description:
  - Creates a persistent slice with resource limits in the systemd manager of one user,
    and optionally a named scope inside it that exists from the moment the user manager starts,
    before any game launcher runs.
  - The slice is a unit file in the user's C(~/.config/systemd/user/), enabled for C(default.target) and started,
    so it stays active and is never garbage-collected while the user manager runs,
    even when nothing runs in it.
  - The scope is kept alive by a placeholder service, C(gaming-box-scope-NAME.service),
    whose only process (C(sleep infinity)) lives in the scope.
    When that process dies the service restarts and creates the scope again;
    the service is enabled, so the scope also comes back after a reboot or a restart of the user manager.
  - Property changes take effect at once through a reload of the user manager, without restarting anything,
    and persist because they live in the unit file and in the drop-in C(~/.config/systemd/user/SCOPE.d/50-gaming-box.conf).
    No runtime drop-in is written, so nothing shadows the files later.
  - Every file the module writes starts with a marker comment. The module rewrites or removes only files that carry it.
  - The work in the user's manager and home runs in a child process that has dropped to the user's uid and groups,
    because the user's D-Bus daemon authenticates a client by its uid.
options:
  user:
    description:
      - The user whose manager holds the slice and the scope, as a name or a numeric uid.
      - Only root may name another user, so use O(user) together with C(become=true).
      - When omitted, the module acts for the user it runs as.
    type: str
  linger:
    description:
      - When V(true) and lingering is off for O(user), enable it through logind,
        which starts the user manager at once and at every boot without a login,
        and wait for the manager to come up.
      - When V(false), lingering is left as it is. The user manager must then already run, for example because the user is logged in.
      - Lingering is never disabled by this module, and O(linger) is ignored when O(state=absent).
    type: bool
    default: false
  slice:
    description:
      - The slice that holds the scope, for example V(games.slice).
      - A dash nests slices, as in systemd, so V(games-steam.slice) lives inside V(games.slice).
        The parent slice exists implicitly; give it limits of its own with a separate task.
      - The name may hold letters, digits and the characters C(:-_.), must end in C(.slice), and may not contain C(/), C(..), C(@) or C(\).
    type: str
    required: true
  slice_properties:
    description:
      - Resource properties of the slice, by systemd property name.
        For example V(MemoryHigh=6G) in a unit file becomes the key C(MemoryHigh) with the value V(6G).
      - Supported are C(MemoryMin), C(MemoryLow), C(MemoryHigh), C(MemoryMax) and C(MemorySwapMax)
        (a size with an optional C(K), C(M), C(G), C(T), C(P) or C(E) suffix, a percentage of the host's memory, or V(infinity));
        C(CPUWeight) and C(IOWeight) (1 to 10000);
        C(CPUQuota) (a percentage of one CPU, for example V(50%) or V(200%));
        C(AllowedCPUs) (CPU numbers and ranges such as V(0-3,6));
        and C(TasksMax) (a number, a percentage, or V(infinity)).
      - Each property needs a cgroup controller delegated to the user manager
        (memory, cpu, cpuset, pids or io). The module fails, before changing anything,
        when a property's controller is not delegated, because systemd would accept the property and ignore it.
      - A property left out falls back to systemd's default.
    type: dict
    default: {}
  scope:
    description:
      - The scope to keep alive inside O(slice), for example V(game.scope).
      - The same naming rules as for O(slice) apply, with the suffix C(.scope).
      - When omitted, the module manages only the slice.
    type: str
  scope_properties:
    description:
      - Resource properties of the scope, with the same names and values as O(slice_properties).
      - They are written to a drop-in that systemd applies to the scope from the moment it is created.
      - Requires O(scope).
    type: dict
    default: {}
  state:
    description:
      - With V(present), the slice, the placeholder service and the drop-in are written, enabled and started.
      - With V(absent), the files this module wrote for O(slice) and O(scope) are disabled and removed,
        the placeholder is stopped, and the slice is stopped when nothing runs in it.
        Processes that a launcher moved into the scope or the slice are not killed.
        The scope then disappears when its last process exits, and the slice stays active without limits until the user manager stops;
        the module warns about both.
    type: str
    choices: [present, absent]
    default: present
  timeout:
    description:
      - How many seconds to wait in total for the user manager to come up, for jobs to finish
        and for the placeholder to be running in its scope.
    type: int
    default: 120
notes:
  - Only cgroup v2 (the unified hierarchy) is supported. The module fails on hosts with cgroup v1 or hybrid hierarchies.
  - On Debian 12 the user manager is delegated the C(cpu), C(memory) and C(pids) controllers only,
    so C(IOWeight) and C(AllowedCPUs) fail until C(io) or C(cpuset) is delegated to C(user@.service).
  - Percentages of memory or tasks are turned into numbers by systemd from the host's size; the module does not check those values after applying them.
  - Unit names are checked more strictly than systemd does. C(\), C(@), C(..) and a leading C(.) are refused.
  - A scope cannot move to another slice. Changing O(slice) for an existing scope restarts its placeholder,
    which creates the scope again in the new slice once every process has left the old one.
    A launcher that was given the old path has to be restarted.
  - When a game still runs in the scope and the placeholder dies, the placeholder retries every two seconds
    until the game exits, and then creates the scope again.
    The same happens when the module is run while a game holds a scope that an earlier O(state=absent) left behind;
    the limits apply to that scope at once, and the module warns that the placeholder has not taken over yet.
  - Without lingering, the user manager and with it the slice and the scope stop when the user's last session ends.
attributes:
  check_mode:
    description: Can run in check mode and report what would change without changing the host.
    support: full
  diff_mode:
    description: Returns the unit files and the properties in effect before and after.
    support: full
  platform:
    description: Target operating systems.
    support: full
    platforms: posix
  idempotent:
    description: A second run with the same options reports no change.
    support: full
requirements:
  - python3-dbus (dbus-python) on the managed host; the module re-runs itself under the system Python when the configured interpreter lacks it.
  - systemd with a user manager (systemd 247 or later, for the unified hierarchy by default), C(systemd-run) and C(sleep).
  - dbus-user-session, which provides the user bus at C(/run/user/UID/bus).
seealso:
  - name: systemd.resource-control
    description: The meaning of each resource property.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.resource-control.html
  - name: systemd.scope
    description: Scope units and their drop-ins.
    link: https://www.freedesktop.org/software/systemd/man/latest/systemd.scope.html
  - module: ansible.builtin.systemd_service
author:
  - gaming-box developers (@gaming-box)
"""

EXAMPLES = r"""
- name: Keep games.slice/game.scope alive for player, with limits
  gamingbox.sandbox.systemd_user_scope:
    user: player
    linger: true
    slice: games.slice
    slice_properties:
      MemoryHigh: 6G
      MemoryMax: 7G
      CPUWeight: 50
    scope: game.scope
    scope_properties:
      TasksMax: 4096
  become: true
  register: game_scope

- name: Show where the wrapper has to move the game
  ansible.builtin.debug:
    msg: "{{ game_scope.cgroup_path }}"

- name: Give Steam's games a nested slice of their own
  gamingbox.sandbox.systemd_user_scope:
    user: player
    slice: games-steam.slice
    slice_properties:
      CPUQuota: 300%
      MemorySwapMax: 0
    scope: steam-game.scope
  become: true

- name: Remove the scope, its placeholder and the slice again
  gamingbox.sandbox.systemd_user_scope:
    user: player
    slice: games.slice
    scope: game.scope
    state: absent
  become: true
"""

RETURN = r"""
user:
  description: The name of the user whose manager was targeted.
  returned: success
  type: str
  sample: player
uid:
  description: The uid of that user.
  returned: success
  type: int
  sample: 1000
linger_changed:
  description: Whether lingering was (or, in check mode, would be) enabled by this run.
  returned: success
  type: bool
  sample: false
cgroup_path:
  description:
    - The absolute cgroup directory of the scope, or of the slice when O(scope) is not given.
    - This is the directory a launcher's sandbox must see and a wrapper writes its pid into (C(cgroup.procs)).
    - In check mode, or before the unit runs, it is where the unit will be.
  returned: success
  type: str
  sample: /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/games.slice/game.scope
slice_cgroup_path:
  description: The absolute cgroup directory of the slice.
  returned: success
  type: str
  sample: /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/games.slice
controllers:
  description: The cgroup controllers available in RV(cgroup_path), read from its C(cgroup.controllers); empty when it does not exist.
  returned: success
  type: list
  elements: str
  sample: [cpu, memory, pids]
delegated_controllers:
  description: The cgroup controllers the user manager has been given by C(user@UID.service).
  returned: success
  type: list
  elements: str
  sample: [cpu, memory, pids]
properties:
  description:
    - The supported resource properties in effect for the slice and the scope, read back over D-Bus, by unit name.
    - Sizes are in bytes, V(infinity) means no limit, C(CPUQuota) is a percentage of one CPU, and C(null) means the property is unset.
    - A unit the manager does not know (yet) is left out.
  returned: success
  type: dict
  sample:
    games.slice:
      MemoryMin: 0
      MemoryLow: 0
      MemoryHigh: 6442450944
      MemoryMax: 7516192768
      MemorySwapMax: infinity
      CPUWeight: 50
      CPUQuota: null
      AllowedCPUs: ""
      TasksMax: 4915
      IOWeight: null
    game.scope:
      MemoryMin: 0
      MemoryLow: 0
      MemoryHigh: infinity
      MemoryMax: infinity
      MemorySwapMax: infinity
      CPUWeight: null
      CPUQuota: null
      AllowedCPUs: ""
      TasksMax: 4096
      IOWeight: null
placeholder:
  description: The placeholder service keeping the scope alive, or C(null) when O(scope) is not given.
  returned: success
  type: dict
  contains:
    unit:
      description: The name of the placeholder service.
      type: str
      sample: gaming-box-scope-game.service
    pid:
      description: The pid of its C(sleep) process, which lives in the scope; C(null) when it does not run.
      type: int
      sample: 1234
    active:
      description: Whether the placeholder service is active.
      type: bool
      sample: true
    file:
      description: The path of the placeholder's unit file.
      type: str
      sample: /home/player/.config/systemd/user/gaming-box-scope-game.service
files:
  description: The files this module manages for the task that exist after the run.
  returned: success
  type: list
  elements: str
  sample:
    - /home/player/.config/systemd/user/games.slice
    - /home/player/.config/systemd/user/gaming-box-scope-game.service
    - /home/player/.config/systemd/user/game.scope.d/50-gaming-box.conf
"""

from ansible_collections.gamingbox.sandbox.plugins.module_utils._errors import (
    GamingBoxError,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._module import (
    GamingBoxModule,
)
from ansible_collections.gamingbox.sandbox.plugins.module_utils._user_scope import (
    converge,
)


def main() -> None:
    module = GamingBoxModule(
        "systemd_user_scope",
        argument_spec={
            "user": {"type": "str"},
            "linger": {"type": "bool", "default": False},
            "slice": {"type": "str", "required": True},
            "slice_properties": {"type": "dict", "default": {}},
            "scope": {"type": "str"},
            "scope_properties": {"type": "dict", "default": {}},
            "state": {"type": "str", "default": "present",
                      "choices": ["present", "absent"]},
            "timeout": {"type": "int", "default": 120},
        },
        supports_check_mode=True,
    )

    try:
        result = converge(module.params, check_mode=module.check_mode)
    except GamingBoxError as err:
        module.fail_json(**err.as_result())

    for warning in result.pop("warnings"):
        module.warn(warning)
    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
