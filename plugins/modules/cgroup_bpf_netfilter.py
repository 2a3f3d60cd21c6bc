#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: cgroup_bpf_netfilter
short_description: Let the processes of one cgroup reach only an allow-list of networks
version_added: 0.1.0
description:
  - Attaches cgroup eBPF programs to one cgroup, typically the slice or scope
    that games run in, so that its processes can reach only the listed
    networks, ports and protocols. Everything outside that cgroup keeps its
    network.
  - A refused C(connect()) or UDP C(sendmsg()) fails at once with C(EPERM)
    (hooks C(cgroup/connect4), C(connect6), C(sendmsg4), C(sendmsg6)), so a
    game gives up instead of waiting for a timeout. A C(cgroup_skb) egress
    program, and an ingress one when O(ingress=true), judges every packet as
    a backstop for ping and raw sockets and for sockets connected before
    the filter was attached.
  - The allow-list lives in BPF maps (longest-prefix-match tries), so the C
    program never changes. It is compiled once with bcc; its bytecode and
    the encoded maps are stored in C(/var/lib/gaming-box/netfilter/NAME.json),
    and the objects are pinned under C(/sys/fs/bpf/gaming-box/NAME/).
  - A loader built from this collection's own code is installed as
    C(/usr/local/libexec/gaming-box/netfilter-loader). It needs neither bcc,
    LLVM nor kernel headers, and puts the filter back whenever the cgroup
    comes back (after a reboot, a logout or a restart of the user manager).
  - For a cgroup inside a user manager (C(user@UID.service)) the filter is
    fail-closed; see the notes.
author:
  - gaming-box developers (@gaming-box)
options:
  name:
    description:
      - Name of the filter. It names the spec file, the pin directory, the
        lock and the systemd drop-in, so it may hold only lowercase
        letters, digits, C(-) and C(_).
      - One cgroup can carry several filters of different names; a
        connection must then pass all of them.
    type: str
    required: true
  cgroup:
    description:
      - Absolute path of the cgroup directory to filter, below the cgroup2
        mount, for example
        C(/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/games.slice).
      - The path is checked, not resolved; C(..), C(.) and the root cgroup
        are refused.
      - When the path lies inside C(user@UID.service) and does not exist
        yet, it is created for the user manager to use (the manager must be
        running). Any other path must exist already.
      - Required when O(state=present). With O(state=absent) it is used only
        when the stored spec of the filter is gone.
    type: path
  allow:
    description:
      - The networks the cgroup's processes may reach. Anything not listed
        is refused.
      - The default allows only the loopback networks C(127.0.0.0/8) and
        C(::1/128).
      - An IPv4-mapped IPv6 address (C(::ffff:a.b.c.d)) is always judged by
        the IPv4 entries, so it never slips past them; mapped networks
        cannot be listed themselves.
      - Entries are sorted and deduplicated, so their order does not
        matter.
    type: list
    elements: dict
    default:
      - cidr: 127.0.0.0/8
      - cidr: ::1/128
    suboptions:
      cidr:
        description:
          - An IPv4 or IPv6 network such as C(10.0.0.0/8) or C(fd00::/8), or
            a single address. Host bits must be zero.
          - C(0.0.0.0/0) and C(::/0) are refused unless O(allow[].ports)
            narrows them, since they would allow everything.
        type: str
        required: true
      ports:
        description:
          - Destination ports (or, for O(ingress), the remote end's ports)
            that this entry allows, as numbers or ranges such as
            C('27015-27030').
          - Leave it out to allow every port.
        type: list
        elements: raw
      protocols:
        description:
          - Protocols this entry allows. V(tcp) and V(udp) may carry ports;
            V(any) allows every IP protocol (ICMP echo included) and takes
            no ports.
          - Defaults to V(tcp) and V(udp) when O(allow[].ports) is set, and
            to V(any) otherwise.
        type: list
        elements: str
        choices: [tcp, udp, any]
  ingress:
    description:
      - Also judge incoming packets, by their source address and port.
    type: bool
    default: false
  state:
    description:
      - V(present) attaches the filter and installs what keeps it attached.
      - V(absent) detaches and unpins exactly what this filter attached,
        removes its spec and drop-in, and, with the last filter, the loader
        and its service.
    type: str
    choices: [present, absent]
    default: present
notes:
  - "Fail-closed design for a cgroup inside C(user@UID.service): a drop-in
    C(user@UID.service.d/gaming-box-netfilter-NAME.conf) runs
    C(netfilter-loader prepare NAME) as root (C(ExecStartPre=+)) before
    the user manager starts. It creates the cgroup directory, gives its
    files to the user and attaches the filter; when the manager later
    starts the slice, its mkdir finds the directory and the filter is
    already there. The directory is then owned by root, group-writable for
    the user's group and sticky, and holds an empty root-owned child cgroup
    C(.gaming-box-keep): the manager still creates its scopes inside and
    writes the limits, but it cannot remove the directory, so stopping and
    restarting the slice reuses the same filtered cgroup. If C(prepare)
    fails, it leaves the directory to root alone, so nothing can start in
    it, and the user manager starts anyway."
  - "The service C(gaming-box-netfilter.service) runs
    C(netfilter-loader watch): it re-attaches a filter as soon as inotify
    reports its cgroup again. For a cgroup outside a user manager this is
    the only mechanism, and it is not fail-closed: a process that moves
    into a freshly created cgroup within milliseconds can send before the
    watcher attaches (seen in the lab when the pre-created directory was
    taken away)."
  - "Only sockets created inside the cgroup are filtered: a socket inherited
    from, or passed in by, a process outside it keeps its network; the
    egress program still sees it if it was created inside. A process of
    the same user outside a sandbox can move itself out of the cgroup;
    inside Flatpak it cannot see the other cgroups to do so."
  - "On ingress, O(allow[].ports) match the remote end's port, which suits
    a game acting as a client. Later IP fragments carry no ports and pass
    when any rule lets their protocol reach the peer."
  - "A network holds at most 16 port rules (its own and those of wider
    networks it lies in), and each address family at most 1024 networks."
  - "Compiling needs bcc (Debian python3-bpfcc) and the headers of the running
    kernel. The bytecode is reused until the program text or the kernel
    release changes, so later runs do not need bcc."
  - "Counters are per filter and survive allow-list changes, but not a
    reboot or O(state=absent)."
  - "If someone removes the pins in C(/sys/fs/bpf/gaming-box) by hand, the
    programs stay attached but are no longer recognised; the next run
    attaches a new copy beside them."
requirements:
  - Linux 4.17 or newer with CONFIG_CGROUP_BPF, the unified cgroup2
    hierarchy and a BPF file system on C(/sys/fs/bpf).
  - systemd.
  - python3-bpfcc and linux-headers for the running kernel when the program
    has to be compiled.
seealso:
  - name: bpftool-cgroup
    description: Inspect the attached programs with C(bpftool cgroup tree).
    link: https://man7.org/linux/man-pages/man8/bpftool-cgroup.8.html
attributes:
  check_mode:
    support: full
    description: Nothing is written, loaded or compiled; on a first run the
      result says a change would happen, without a generation id.
  diff_mode:
    support: full
    description: The diff shows the cgroup, allow-list, ingress flag,
      generation and whether the filter is attached, before and after.
  idempotent:
    support: full
    description: A second run with the same arguments recognises the
      attached filter and reports no change; the order of O(allow) does not
      matter.
  platform:
    support: full
    platforms: posix
    description: Linux only, with systemd, cgroup2 and cgroup BPF.
"""

EXAMPLES = r"""
- name: Let games reach only localhost
  gamingbox.sandbox.cgroup_bpf_netfilter:
    name: games
    cgroup: /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/games.slice
  become: true

- name: Allow one game server on a few UDP ports, plus localhost
  gamingbox.sandbox.cgroup_bpf_netfilter:
    name: games
    cgroup: /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/games.slice
    allow:
      - cidr: 127.0.0.0/8
      - cidr: ::1/128
      - cidr: 192.0.2.10
        ports: [27015, "27020-27030"]
        protocols: [udp]
    ingress: true
  become: true
  register: games_filter

- name: Show how many connections were refused
  ansible.builtin.debug:
    msg: "{{ games_filter.counters.connect_blocked }} connections refused"

- name: Remove the filter and its loader
  gamingbox.sandbox.cgroup_bpf_netfilter:
    name: games
    state: absent
  become: true
"""

RETURN = r"""
filter:
  description: The filter after the task.
  returned: always
  type: dict
  contains:
    name:
      description: The filter's name.
      type: str
      sample: games
    cgroup:
      description: The filtered cgroup.
      type: str
      sample: /sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/games.slice
    allow:
      description: The allow-list in canonical form.
      type: list
      elements: dict
      sample: [{"cidr": "127.0.0.0/8", "ports": [], "protocols": ["any"]}]
    ingress:
      description: Whether incoming packets are judged too.
      type: bool
      sample: false
    attached:
      description: Whether every program of the filter is attached.
      type: bool
      sample: true
    generation:
      description: Digest of what is loaded into the kernel; it changes with
        the allow-list. Null in check mode before the first compile.
      type: str
      sample: 3f2a9c0d11b84e75
    programs:
      description: The filter's programs with their kernel ids. Empty in
        check mode and with O(state=absent).
      type: list
      elements: dict
      sample: [{"hook": "connect4", "id": 41, "attached": true}]
    spec_path:
      description: The stored spec the loader reads.
      type: str
      sample: /var/lib/gaming-box/netfilter/games.json
    pin_dir:
      description: Where the filter's objects are pinned.
      type: str
      sample: /sys/fs/bpf/gaming-box/games
    loader:
      description: The installed loader.
      type: str
      sample: /usr/local/libexec/gaming-box/netfilter-loader
    self_check:
      description:
        - UDP targets the filter refuses, for a process inside the cgroup to check that the filter is in place,
          for example a launch wrapper before it execs the game. A C(connect()) of a UDP socket sends no packet;
          behind the filter it fails at once with C(EPERM).
        - The candidates are V(100::1) (the discard-only prefix) and V(192.0.2.1) (TEST-NET-1), port 9.
          A family is V(null) when the allow-list lets its candidate through.
        - Returned with O(state=present) only.
      type: dict
      returned: when O(state=present)
      sample: {"ipv6": "100::1", "ipv4": "192.0.2.1", "port": 9, "protocol": "udp"}
counters:
  description:
    - Connections and packets the filter allowed and refused since it was
      first attached in this boot, summed over CPUs.
    - With O(state=absent), the last values before removal.
  returned: always
  type: dict
  sample:
    connect_allowed: 12
    connect_blocked: 3
    sendmsg_allowed: 0
    sendmsg_blocked: 1
    egress_allowed: 140
    egress_blocked: 0
    ingress_allowed: 0
    ingress_blocked: 0
compiled:
  description: Whether bcc compiled the program during this run.
  returned: always
  type: bool
  sample: false
"""

from ..module_utils._errors import GamingBoxError
from ..module_utils._module import GamingBoxModule
from ..module_utils._netfilter_task import run_task


def main() -> None:
    module = GamingBoxModule(
        "cgroup_bpf_netfilter",
        argument_spec=dict(
            name=dict(type="str", required=True),
            cgroup=dict(type="path"),
            allow=dict(
                type="list", elements="dict",
                default=[{"cidr": "127.0.0.0/8"}, {"cidr": "::1/128"}],
                options=dict(
                    cidr=dict(type="str", required=True),
                    ports=dict(type="list", elements="raw"),
                    protocols=dict(type="list", elements="str",
                                   choices=["tcp", "udp", "any"]),
                ),
            ),
            ingress=dict(type="bool", default=False),
            state=dict(type="str", choices=["present", "absent"],
                       default="present"),
        ),
        required_if=[("state", "present", ("cgroup",))],
        supports_check_mode=True,
    )

    try:
        result = run_task(module.params, check_mode=module.check_mode)
    except GamingBoxError as err:
        module.fail_json(**err.as_result())

    if not module._diff:
        result.pop("diff")
    module.exit_json(**result)


if __name__ == "__main__":
    main()
