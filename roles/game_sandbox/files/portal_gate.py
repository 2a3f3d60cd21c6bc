# Copyright: gaming-box developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""gaming-box portal gate: every scope of a launcher is born frozen, then
sent where it belongs.

Run by /usr/bin/python3 (it has no shebang, as a role file):

  portal-gate prepare UID   create the user's gate cgroup, frozen (run as
                            ExecStartPre=+ of user@UID.service)
  portal-gate release UID   forget the user's gate: remove its
                            configuration, send on what waits, thaw it and
                            hand it back to the user manager
  portal-gate watch         the daemon (gaming-box-portal-gate.service)
  portal-gate status        what the gate sees, as JSON

Flatpak starts every instance of an app, the main one and each sub-sandbox
the portal spawns for pressure-vessel, in a new ``app-flatpak-APPID-*.scope``
(older versions: ``flatpak-APPID-*.scope``).  A drop-in for that name prefix
puts the scope into the gate slice, whose cgroup this program created and
froze before the user manager started.  A cgroup created under a frozen
parent is frozen, and so is a process moved into it, so nothing of the new
instance runs until the gate has decided where it goes:

- an instance whose ``flatpak run`` was not started by ``flatpak-portal`` is
  the launcher itself: it goes to the launcher scope, with its network;
- a portal sub-sandbox goes to the scope of the game whose launch is waiting
  for it, when exactly one game of this user has a launch without its
  sandbox yet;
- otherwise it waits in a hold cgroup under the portal slice (the default
  game allow-list and limits) until a process of it shows the
  ``GAMING_BOX_GAME`` variable the game's wrapper exported, and then moves
  to that game's scope.

The decision uses the parent of a process, which a sandboxed game cannot
choose, so no sub-sandbox ever gets the launcher's network.  Configuration:
one JSON file per user in ``/etc/gaming-box/portal-gate.d/``, written by the
game_sandbox role.  Python standard library only.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import pwd
import select
import sys
import time
from dataclasses import dataclass

CONFIG_DIR = "/etc/gaming-box/portal-gate.d"
CGROUP_ROOT = "/sys/fs/cgroup"
ANCHOR = ".gaming-box-keep"
HOLD_PREFIX = "hold-"
CLAIM_VARIABLE = b"GAMING_BOX_GAME="
PORTAL_EXECUTABLE = "flatpak-portal"

# How often to look while something waits (a new scope whose process is
# not attached yet, a held sandbox without a claim) and while nothing does.
BUSY_TICK = 0.01
IDLE_TICK = 1.0
# A held sandbox that shows no claim within this time stays where it is.
CLAIM_PATIENCE = 120.0
_GATE_MODE = 0o1775


class GateError(Exception):
    """A step of the gate failed; the message names the object and the fix."""


# ---------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class UserGate:
    """The gate of one user, as the role described it."""

    uid: int
    user: str
    gate: str
    launcher_scope: str
    hold_slice: str
    games: dict

    @property
    def manager_dir(self) -> str:
        return manager_dir(self.uid)


def manager_dir(uid: int) -> str:
    return (f"{CGROUP_ROOT}/user.slice/user-{uid}.slice/"
            f"user@{uid}.service")


def parse_config(text: str, *, source: str) -> UserGate:
    """One user's gate from its JSON file; every path inside its manager."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise GateError(f"{source}: not valid JSON ({exc}); run the "
                        f"gaming-box playbook again") from exc
    if not isinstance(data, dict):
        raise GateError(f"{source}: not a JSON object; run the playbook "
                        f"again")

    try:
        uid = int(data["uid"])
        games = data.get("games") or {}
        gate = UserGate(uid=uid, user=str(data["user"]),
                        gate=str(data["gate"]),
                        launcher_scope=str(data["launcher_scope"]),
                        hold_slice=str(data["hold_slice"]),
                        games={str(k): str(v) for k, v in games.items()})
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise GateError(f"{source}: missing or malformed key ({exc}); run "
                        f"the playbook again") from exc

    prefix = gate.manager_dir + "/"
    paths = [gate.gate, gate.launcher_scope, gate.hold_slice,
             *gate.games.values()]
    for path in paths:
        parts = path[len(prefix):].split("/")
        if not path.startswith(prefix) or any(
                part in ("", ".", "..") for part in parts):
            raise GateError(f"{source}: {path} is not a cgroup inside "
                            f"user@{uid}.service; run the playbook again")
    return gate


def load_configs(directory: str = CONFIG_DIR) -> list:
    """Every user's gate; a broken file is reported and skipped."""
    gates = []
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return gates
    for name in names:
        if not name.endswith(".json"):
            continue
        path = os.path.join(directory, name)
        try:
            with open(path, encoding="utf-8") as handle:
                gates.append(parse_config(handle.read(), source=path))
        except (OSError, GateError) as exc:
            log(f"skipping {path}: {exc}")
    return gates


def config_path(uid: int, directory: str = CONFIG_DIR) -> str:
    return os.path.join(directory, f"{uid}.json")


def config_for(uid: int, directory: str = CONFIG_DIR) -> UserGate:
    path = config_path(uid, directory)
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_config(handle.read(), source=path)
    except FileNotFoundError as exc:
        raise GateError(f"{path} does not exist: uid {uid} has no portal "
                        f"gate; run the gaming-box playbook") from exc


# ---------------------------------------------------------------------------
# Processes


def parent_of(pid: int, *, proc: str = "/proc") -> int | None:
    """The parent pid from /proc/PID/stat, or None when PID is gone."""
    try:
        with open(f"{proc}/{pid}/stat", encoding="utf-8",
                  errors="replace") as handle:
            stat = handle.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: split after the
    # last ')'.
    fields = stat[stat.rfind(")") + 2:].split()
    return int(fields[1]) if len(fields) > 1 else None


def executable_name(pid: int, *, proc: str = "/proc") -> str | None:
    try:
        return os.path.basename(os.readlink(f"{proc}/{pid}/exe"))
    except OSError:
        return None


def started_by_portal(pid: int, *, proc: str = "/proc") -> bool:
    parent = parent_of(pid, proc=proc)
    return parent is not None and \
        executable_name(parent, proc=proc) == PORTAL_EXECUTABLE


def claim_of(pid: int, *, proc: str = "/proc") -> str | None:
    """The game named by GAMING_BOX_GAME in the environment of PID."""
    try:
        with open(f"{proc}/{pid}/environ", "rb") as handle:
            environ = handle.read()
    except OSError:
        return None
    for entry in environ.split(b"\0"):
        if entry.startswith(CLAIM_VARIABLE):
            return entry[len(CLAIM_VARIABLE):].decode("utf-8", "replace")
    return None


def classify_launch(pid: int, *, manager_pid: int | None,
                    proc: str = "/proc") -> str:
    """"launcher" or "sandbox" for the first process of a new scope.

    A sub-sandbox's ``flatpak run`` is a child of flatpak-portal.  A process
    whose parent is gone, or is the user manager (orphans are reparented
    there), cannot be told apart, so it is treated as a sandbox: the
    cautious side, since a sandbox never gets the launcher's network.
    """
    parent = parent_of(pid, proc=proc)
    if parent is None or parent == manager_pid:
        return "sandbox"
    if executable_name(parent, proc=proc) in (PORTAL_EXECUTABLE, None):
        return "sandbox"
    return "launcher"


def waiting_launches(procs: list, *, members: set, manager_pid: int | None,
                     proc: str = "/proc") -> int:
    """Launches in one game scope that have no portal sandbox yet.

    A launch is a process that moved into the scope from outside (the
    wrapper, then what it execs, such as pressure-vessel): its parent is
    not in the scope, is not the user manager (that is the placeholder)
    and is not the portal.  A sandbox is a process whose parent is the
    portal.  Each launch through the portal starts one sandbox.
    """
    launches = sandboxes = 0
    for pid in procs:
        parent = parent_of(pid, proc=proc)
        if parent is None or parent in members or parent == manager_pid:
            continue
        if executable_name(parent, proc=proc) == PORTAL_EXECUTABLE:
            sandboxes += 1
        else:
            launches += 1
    return launches - sandboxes


# ---------------------------------------------------------------------------
# cgroups


def read_procs(cgroup: str) -> list:
    try:
        with open(os.path.join(cgroup, "cgroup.procs"),
                  encoding="ascii") as handle:
            return [int(line) for line in handle if line.strip()]
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise GateError(f"{cgroup}: cannot read cgroup.procs "
                        f"({exc.strerror})") from exc


def move(pids: list, destination: str) -> int:
    """Move each process; returns how many moved.  Gone ones are skipped."""
    target = os.path.join(destination, "cgroup.procs")
    moved = 0
    for pid in pids:
        try:
            with open(target, "w", encoding="ascii") as handle:
                handle.write(str(pid))
            moved += 1
        except ProcessLookupError:
            continue
        except OSError as exc:
            if exc.errno == errno.ESRCH:
                continue
            raise GateError(f"moving pid {pid} into {destination} failed "
                            f"({exc.strerror}); check that the scope "
                            f"exists (run the playbook again)") from exc
    return moved


def drain(source: str, destination: str, *, rounds: int = 50) -> int:
    """Move every process of SOURCE, again until none is left."""
    total = 0
    for _round in range(rounds):
        pids = read_procs(source)
        if not pids:
            return total
        total += move(pids, destination)
    raise GateError(f"{source} keeps getting new processes; freeze it "
                    f"before moving")


def write_value(path: str, value: str) -> None:
    with open(path, "w", encoding="ascii") as handle:
        handle.write(value)


def read_value(path: str) -> str:
    try:
        with open(path, encoding="ascii") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def freeze(cgroup: str, *, timeout: float = 2.0) -> None:
    write_value(os.path.join(cgroup, "cgroup.freeze"), "1")
    deadline = time.monotonic() + timeout
    events = os.path.join(cgroup, "cgroup.events")
    while "frozen 1" not in read_value(events):
        if time.monotonic() > deadline:
            raise GateError(f"{cgroup} did not freeze within {timeout} s")
        time.sleep(0.002)


def children(cgroup: str) -> list:
    try:
        return sorted(entry.path for entry in os.scandir(cgroup)
                      if entry.is_dir(follow_symlinks=False)
                      and entry.name != ANCHOR)
    except FileNotFoundError:
        return []


def manager_pid_of(uid: int) -> int | None:
    """The main pid of user@UID.service: the first process in its
    init.scope."""
    pids = read_procs(os.path.join(manager_dir(uid), "init.scope"))
    return pids[0] if pids else None


def prepare_gate(gate: UserGate) -> list:
    """Create the gate cgroup frozen, anchored and usable by the manager.

    The user manager creates scopes inside it and attaches processes, so
    the directory is group-writable for the user and sticky; the anchor, a
    root-owned child cgroup, keeps the manager from removing it; and
    cgroup.freeze stays root's, so only root thaws it.
    """
    if not os.path.isdir(gate.manager_dir):
        raise GateError(f"user@{gate.uid}.service is not running "
                        f"({gate.manager_dir} is missing); start it or "
                        f"enable lingering")
    parent = os.path.dirname(gate.gate)
    if not os.path.isdir(parent):
        # The filter of the portal slice, a sibling, is prepared first
        # (its drop-in sorts before this one) and creates the parent.
        raise GateError(f"{parent} does not exist, so the gate cannot be "
                        f"created in it; run the gaming-box playbook again")
    gid = pwd.getpwuid(gate.uid).pw_gid
    changes = []

    if _mkdir(gate.gate):
        changes.append(f"created {gate.gate}")

    status = os.stat(gate.gate)
    if (status.st_uid, status.st_gid) != (0, gid) or \
            status.st_mode & 0o7777 != _GATE_MODE:
        os.chown(gate.gate, 0, gid)
        os.chmod(gate.gate, _GATE_MODE)
        changes.append(f"gave {gate.gate} to root:{gid}, sticky")
    for name in ("cgroup.procs", "cgroup.threads", "cgroup.subtree_control"):
        path = os.path.join(gate.gate, name)
        if os.stat(path).st_uid != gate.uid:
            os.chown(path, gate.uid, gid)
            changes.append(f"gave {path} to uid {gate.uid}")
    if _mkdir(os.path.join(gate.gate, ANCHOR)):
        changes.append(f"anchored {gate.gate}")

    if read_value(os.path.join(gate.gate, "cgroup.freeze")) != "1":
        freeze(gate.gate)
        changes.append(f"froze {gate.gate}")
    return changes


def release_gate(gate: UserGate) -> list:
    """Thaw the gate and give it back, after sending on what waits.

    The user's configuration goes first, so the daemon forgets the gate
    instead of making it again.
    """
    changes = []
    try:
        os.unlink(config_path(gate.uid))
        changes.append(f"removed {config_path(gate.uid)}")
    except FileNotFoundError:
        pass
    if not os.path.isdir(gate.gate):
        return changes
    sent = Gatekeeper([gate]).admit(gate)
    if sent:
        changes.append(f"sent on {sent} waiting instance(s)")
    if read_value(os.path.join(gate.gate, "cgroup.freeze")) == "1":
        write_value(os.path.join(gate.gate, "cgroup.freeze"), "0")
        changes.append(f"thawed {gate.gate}")
    try:
        os.rmdir(os.path.join(gate.gate, ANCHOR))
        changes.append(f"removed the anchor of {gate.gate}")
    except FileNotFoundError:
        pass
    gid = pwd.getpwuid(gate.uid).pw_gid
    os.chown(gate.gate, gate.uid, gid)
    os.chmod(gate.gate, 0o755)
    os.chown(os.path.join(gate.gate, "cgroup.freeze"), gate.uid, gid)
    try:
        os.rmdir(gate.gate)
        changes.append(f"removed {gate.gate}")
    except OSError:
        pass  # the manager still has a scope in it; it removes it later
    return changes


def _mkdir(path: str) -> bool:
    try:
        os.mkdir(path, 0o755)
    except FileExistsError:
        return False
    return True


# ---------------------------------------------------------------------------
# The gatekeeper


class Gatekeeper:
    """Sends each new instance on, and promotes held sandboxes."""

    def __init__(self, gates: list) -> None:
        self.gates = gates
        self.held_since: dict = {}
        self.unclaimed: set = set()
        self.pending = False

    def tick(self) -> int:
        """One look at every gate; returns how many instances moved."""
        self.pending = False
        moved = 0
        for gate in self.gates:
            for step in (self.restore, self.admit, self.promote):
                try:
                    moved += step(gate)
                except (GateError, OSError) as exc:
                    # Whatever waits stays frozen or held; look again soon.
                    log(f"uid {gate.uid}: {exc}")
                    self.pending = True
        return moved

    def restore(self, gate: UserGate) -> int:
        """Make the gate of a running manager whose gate is missing (its
        prepare failed, or someone removed it), unless the user's
        configuration is gone, as after a release."""
        if not os.path.isdir(gate.gate) and \
                os.path.isdir(os.path.dirname(gate.gate)) and \
                os.path.exists(config_path(gate.uid)):
            for change in prepare_gate(gate):
                log(change)
        return 0

    def admit(self, gate: UserGate) -> int:
        """Send on every instance that waits, frozen, at the gate."""
        if not os.path.isdir(gate.gate):
            return 0
        if read_value(os.path.join(gate.gate, "cgroup.freeze")) == "0":
            # The gate was thawed behind our back (a manual echo, an old
            # manager): freeze it again before anything else lands.
            freeze(gate.gate)
            log(f"{gate.gate} was thawed; froze it again")

        manager_pid = manager_pid_of(gate.uid)
        sent = 0
        for scope in children(gate.gate):
            pids = read_procs(scope)
            if not pids:
                # systemd makes the directory first and attaches the
                # process right after; look again in a moment.
                self.pending = True
                continue
            kind = classify_launch(pids[0], manager_pid=manager_pid)
            if kind == "launcher":
                destination = gate.launcher_scope
            else:
                destination = self.sandbox_destination(gate, manager_pid)
            drain(scope, destination)
            sent += 1
            log(f"{os.path.basename(scope)} ({kind}, pid {pids[0]}) -> "
                f"{destination[len(gate.manager_dir) + 1:]}")
        return sent

    def sandbox_destination(self, gate: UserGate,
                            manager_pid: int | None) -> str:
        waiting = []
        for game, scope in sorted(gate.games.items()):
            procs = read_procs(scope)
            if waiting_launches(procs, members=set(procs),
                                manager_pid=manager_pid) > 0:
                waiting.append(game)
        if len(waiting) == 1 and os.path.exists(
                os.path.join(gate.games[waiting[0]], "cgroup.procs")):
            return gate.games[waiting[0]]

        # None or several launches wait: hold it until it names its game.
        hold = os.path.join(gate.hold_slice,
                            f"{HOLD_PREFIX}{time.monotonic_ns()}")
        os.mkdir(hold, 0o755)
        self.held_since[hold] = time.monotonic()
        return hold

    def promote(self, gate: UserGate) -> int:
        """Move each held sandbox that names its game into that game."""
        promoted = 0
        for hold in children(gate.hold_slice):
            if not os.path.basename(hold).startswith(HOLD_PREFIX):
                continue
            pids = read_procs(hold)
            if not pids:
                _remove_cgroup(hold)
                self.held_since.pop(hold, None)
                self.unclaimed.discard(hold)
                continue
            if hold in self.unclaimed:
                continue
            claim = next((c for c in map(claim_of, pids) if c), None)
            if claim is None:
                since = self.held_since.setdefault(hold, time.monotonic())
                if time.monotonic() - since > CLAIM_PATIENCE:
                    self.unclaimed.add(hold)
                    log(f"{hold} names no game; it stays under the "
                        f"portal slice's defaults")
                else:
                    self.pending = True
                continue
            if claim not in gate.games:
                self.unclaimed.add(hold)
                log(f"{hold} names the game {claim!r}, which uid "
                    f"{gate.uid} does not have; it stays held")
                continue

            freeze(hold)
            drain(hold, gate.games[claim])
            _remove_cgroup(hold)
            self.held_since.pop(hold, None)
            promoted += 1
            log(f"{os.path.basename(hold)} -> game {claim}")
        return promoted

    def status(self) -> list:
        report = []
        for gate in self.gates:
            report.append({
                "uid": gate.uid,
                "gate": gate.gate,
                "gate_exists": os.path.isdir(gate.gate),
                "gate_frozen": read_value(
                    os.path.join(gate.gate, "cgroup.freeze")) == "1",
                "waiting": [os.path.basename(p) for p in children(gate.gate)],
                "held": [os.path.basename(p)
                         for p in children(gate.hold_slice)
                         if os.path.basename(p).startswith(HOLD_PREFIX)],
            })
        return report


def _remove_cgroup(path: str) -> None:
    try:
        os.rmdir(path)
    except OSError:
        pass  # not empty after all; the next look removes it


# ---------------------------------------------------------------------------
# The daemon


class Inotify:
    """Just enough of inotify(7) to wake when a scope appears."""

    IN_CREATE = 0x100
    IN_MOVED_TO = 0x80
    IN_CLOSE_WRITE = 0x8
    IN_DELETE = 0x200

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.inotify_add_watch.argtypes = [ctypes.c_int,
                                                ctypes.c_char_p,
                                                ctypes.c_uint32]
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self.watched: dict = {}

    def watch(self, path: str, mask: int) -> None:
        if path in self.watched and os.path.isdir(path):
            return
        wd = self.libc.inotify_add_watch(self.fd, path.encode(), mask)
        if wd >= 0:
            self.watched[path] = wd
        else:
            self.watched.pop(path, None)

    def wait(self, timeout: float) -> None:
        readable = select.select([self.fd], [], [], timeout)[0]
        if readable:
            try:
                while os.read(self.fd, 65536):
                    pass
            except BlockingIOError:
                pass


def watch() -> int:
    notify = Inotify()
    gates, stamp = [], None
    keeper = Gatekeeper(gates)
    log("watching")
    while True:
        current = _config_stamp()
        if current != stamp:
            stamp = current
            keeper.gates = gates = load_configs()
            log(f"gates of uid {[g.uid for g in gates]}")
        notify.watch(CONFIG_DIR, Inotify.IN_CLOSE_WRITE |
                     Inotify.IN_MOVED_TO | Inotify.IN_DELETE)
        for gate in gates:
            if os.path.isdir(gate.gate):
                notify.watch(gate.gate, Inotify.IN_CREATE)
        keeper.tick()
        notify.wait(BUSY_TICK if keeper.pending else IDLE_TICK)


def _config_stamp() -> tuple:
    try:
        return tuple(sorted((e.name, e.stat().st_mtime_ns)
                            for e in os.scandir(CONFIG_DIR)))
    except FileNotFoundError:
        return ()


def log(message: str) -> None:
    print(f"portal-gate: {message}", file=sys.stderr, flush=True)


def main(argv: list) -> int:
    usage = "usage: portal-gate prepare UID | release UID | watch | status"
    if not argv:
        print(usage, file=sys.stderr)
        return 2
    command, args = argv[0], argv[1:]
    try:
        if command in ("prepare", "release") and len(args) == 1 and \
                args[0].isdigit():
            gate = config_for(int(args[0]))
            changes = (prepare_gate(gate) if command == "prepare"
                       else release_gate(gate))
            print(json.dumps({"changed": bool(changes),
                              "changes": changes}))
            return 0
        if command == "watch" and not args:
            return watch()
        if command == "status" and not args:
            print(json.dumps(Gatekeeper(load_configs()).status(), indent=1))
            return 0
    except GateError as exc:
        print(f"portal-gate: {exc}", file=sys.stderr)
        return 1
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
