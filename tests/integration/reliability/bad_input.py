"""Bad input for every module and the role, one case per entry.

Each case names the area (a module or the role), what it tries, the
arguments, and what the error must mention: ``names`` is the offending
value or option as the message shows it.  Every case is expected to fail
before it changes anything on the guest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

PLAYER = "player"
MANAGER = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service"
LONG = "g" * 300
LAUNCHER = "org.gamingbox.Launcher"


@dataclass(frozen=True)
class Case:
    area: str
    case: str
    args: dict = field(default_factory=dict)
    names: str = ""
    # Refused by ansible-core's own argument check, before gaming-box code
    # runs.  The modules add the option and the fix to its message
    # (module_utils/_module.py); the role's argument spec check is
    # ansible-core's alone and names the cause only.
    core: bool = False

    @property
    def core_message_only(self) -> bool:
        return self.core and self.area == "game_sandbox"

    def as_item(self) -> dict:
        key = "vars" if self.area == "game_sandbox" else "args"
        return {"case": self.case, key: self.args}


def scope_case(case: str, names: str, *, core: bool = False,
               **args) -> Case:
    return Case("systemd_user_scope", case,
                {"user": PLAYER, "slice": "games.slice", **args}, names, core)


def override_case(case: str, names: str, *, core: bool = False,
                  **args) -> Case:
    return Case("flatpak_override", case,
                {"app": LAUNCHER, "user": PLAYER, **args}, names, core)


def filter_case(case: str, names: str, *, core: bool = False,
                **args) -> Case:
    return Case("cgroup_bpf_netfilter", case,
                {"name": "rel-bad", "cgroup": f"{MANAGER}/games.slice",
                 **args}, names, core)


def role_case(case: str, names: str, *, games: list | None = None,
              core: bool = False, **role_vars) -> Case:
    if games is not None:
        role_vars.setdefault("game_sandbox_users",
                             [{"name": PLAYER, "games": games}])
    return Case("game_sandbox", case, role_vars, names, core)


SCOPE_CASES = [
    scope_case("slice with a path traversal", "../games.slice",
               slice="../games.slice"),
    scope_case("slice with a newline", "slice",
               slice="games\nExecStart=/bin/sh.slice"),
    scope_case("slice name of 300 characters", "slice",
               slice=f"{LONG}.slice"),
    scope_case("slice name with unicode", "slice", slice="spiele-ü.slice"),
    scope_case("scope with a newline", "scope",
               scope="game\nExecStartPre=/bin/sh.scope"),
    scope_case("unknown property", "MemoryLimit",
               slice_properties={"MemoryLimit": "1G"}),
    scope_case("unparsable size", "lots",
               slice_properties={"MemoryHigh": "lots"}),
    scope_case("size with a newline and a unit line", "MemoryHigh",
               slice_properties={"MemoryHigh": "1G\nExecStart=/bin/sh"}),
    scope_case("CPUWeight out of range", "CPUWeight",
               slice_properties={"CPUWeight": 0}),
    scope_case("properties of the wrong type", "slice_properties",
               core=True, slice_properties=["MemoryHigh=1G"]),
    scope_case("unknown user", "nobody-here", user="nobody-here"),
]

OVERRIDE_CASES = [
    override_case("app id with a path traversal", "../../etc/passwd",
                  app="../../etc/passwd"),
    override_case("app id of two parts", "com.example", app="com.example"),
    override_case("app id with a newline", "app",
                  app="org.gamingbox.Launcher\n[Context]"),
    override_case("app id of 300 characters", "app",
                  app=f"org.gamingbox.{LONG}"),
    override_case("empty app id", "app", app=""),
    override_case("filesystem with a path traversal", "..",
                  filesystems=[{"path": "/sys/fs/cgroup/../../etc"}]),
    override_case("filesystem of the whole root", "/",
                  filesystems=[{"path": "/"}]),
    override_case("filesystem with a newline", "filesystem",
                  filesystems=[{"path": "/srv/games\n[Context]"}]),
    override_case("environment name with '='", "A=B",
                  environment=[{"name": "A=B", "value": "1"}]),
    override_case("persistent path with a traversal", "..",
                  persistent=[{"path": "../.ssh"}]),
    override_case("unknown user", "nobody-here", user="nobody-here"),
    override_case("filesystems of the wrong type", "filesystems",
                  core=True, filesystems="host"),
]

FILTER_CASES = [
    filter_case("name with a path traversal", "../evil", name="../evil"),
    filter_case("name with a newline", "name", name="rel\nbad"),
    filter_case("name of 300 characters", "name", name=LONG),
    filter_case("relative cgroup", "games.slice", cgroup="games.slice"),
    filter_case("cgroup with a traversal", "..",
                cgroup=f"{MANAGER}/../../../system.slice"),
    filter_case("the root cgroup", "/sys/fs/cgroup",
                cgroup="/sys/fs/cgroup"),
    filter_case("allow everything over IPv4", "0.0.0.0/0",
                allow=[{"cidr": "0.0.0.0/0"}]),
    filter_case("allow everything over IPv6", "::/0",
                allow=[{"cidr": "::/0"}]),
    filter_case("host bits set", "10.0.0.1/8", allow=[{"cidr": "10.0.0.1/8"}]),
    filter_case("prefix too long", "/33", allow=[{"cidr": "10.0.0.0/33"}]),
    filter_case("port out of range", "70000",
                allow=[{"cidr": "127.0.0.1", "ports": [70000]}]),
    filter_case("reversed port range", "30-20",
                allow=[{"cidr": "127.0.0.1", "ports": ["30-20"]}]),
    filter_case("any protocol with ports", "any",
                allow=[{"cidr": "127.0.0.1", "ports": [80],
                        "protocols": ["any"]}]),
    filter_case("unknown protocol", "icmp", core=True,
                allow=[{"cidr": "127.0.0.1", "protocols": ["icmp"]}]),
]

ROLE_CASES = [
    role_case("game name with a dash", "my-game", games=[{"name": "my-game"}]),
    role_case("game name with a path traversal", "../evil",
              games=[{"name": "../evil"}]),
    role_case("game name with unicode", "spiel_ü", games=[{"name": "spiel_ü"}]),
    role_case("game name with a newline", "game", games=[{"name": "a\nb"}]),
    role_case("slice with a dash", "games-x.slice",
              game_sandbox_slice="games-x.slice", games=[{"name": "demo"}]),
    role_case("unknown user", "nobody-here",
              game_sandbox_users=[{"name": "nobody-here",
                                   "games": [{"name": "demo"}]}]),
    role_case("users of the wrong type", "game_sandbox_users",
              core=True, game_sandbox_users="player"),
    role_case("protocol the role does not know", "icmp", core=True,
              games=[{"name": "demo", "network_allow": [
                  {"cidr": "127.0.0.1/32", "protocols": ["icmp"]}]}]),
]

CASES = SCOPE_CASES + OVERRIDE_CASES + FILTER_CASES + ROLE_CASES
AREAS = ["systemd_user_scope", "flatpak_override", "cgroup_bpf_netfilter",
         "game_sandbox"]
