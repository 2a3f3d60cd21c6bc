"""Reliability of gaming-box on a lab guest: bad input, escapes, faults.

The suite uses gbox-3 only and writes every case it runs as a row of
docs/reliability.md.  Bad input runs first: every case of one area is one
playbook run, and the guest must look the same afterwards as before.  The
escape attempts then lay the recipe down with lab/gaming-box-vars.yml and
start the lab game through the lab launcher, as lab/playbooks/verify.yml
does.  The faults come last, each followed by a start of the game that must
land in its scope, limited and filtered; the last of them removes the
recipe and lays it down again.  The recipe is left on the guest.
"""

from __future__ import annotations

import difflib
import json
import re
import time
from pathlib import Path

import pytest
import yaml

from reliability import faults
from reliability.bad_input import AREAS, CASES
from reliability.table import Row, write

pytestmark = pytest.mark.lab

HERE = Path(__file__).parent
REPO = HERE.parents[1]
HOST = "gbox-3"
BAD_INPUT = HERE / "reliability" / "bad_input.yml"
SNAPSHOT = (HERE / "reliability" / "snapshot.sh").read_text()
TABLE = REPO / "docs" / "reliability.md"
LAB_VARS = yaml.safe_load((REPO / "lab" / "gaming-box-vars.yml").read_text())

APP, GAME, GAME_SLICE, WRAPPER = (faults.APP, faults.GAME,
                                  faults.GAME_SLICE, faults.WRAPPER)
MEMORY_MAX = 384 << 20  # lab/gaming-box-vars.yml
# The launcher's persistent home: ~/.var/app/APPID outside is ~ inside.
APP_HOME = f"/home/player/.var/app/{APP}"
PROBES = ["escape_probe.py", "launcher_fd.py"]
TASK_OF_AREA = {
    "systemd_user_scope": "Run systemd_user_scope once per case",
    "flatpak_override": "Run flatpak_override once per case",
    "cgroup_bpf_netfilter": "Run cgroup_bpf_netfilter once per case",
}
# A sentence that tells the user what to do.
FIX = re.compile(r"\b(Use|Set|Give|Create|Remove|Run|Name|Write|Leave|List|"
                 r"Pick|Choose|Check|Start|Enable|Delegate|Drop|Narrow|"
                 r"Replace|Put|Add|Omit|Spell|Shorten|Keep|Install|Make|"
                 r"Split|Fix|Allow|Specify)\b[^.]*\.")


ROWS: list[Row] = []
RUNTIME: dict[str, float] = {}


@pytest.fixture(scope="module", autouse=True)
def table(request):
    """Write docs/reliability.md from whatever rows the tests recorded."""
    selected = len([item for item in request.session.items
                    if item.module is request.module])
    yield
    write(TABLE, ROWS, runtime=RUNTIME,
          complete=selected == _test_count(request.module))


def _test_count(module) -> int:
    """How many tests this file holds (the bad input test is one per
    area), so a run that selected fewer is known to be partial."""
    tests = [name for name in vars(module) if name.startswith("test_")]
    return len(tests) - 1 + len(AREAS)


def snapshot(guest) -> list[str]:
    done = guest.run(["sh", "-c", SNAPSHOT], timeout=300)
    return done.stdout.splitlines()


def changes(before: list[str], after: list[str]) -> list[str]:
    return [line for line in difflib.unified_diff(before, after, lineterm="",
                                                  n=0)
            if line[:1] in "+-" and line[:3] not in ("+++", "---")]


def error_text(result: dict) -> str:
    """The whole message a user reads for one failed case."""
    text = result.get("msg", "")
    if "error" in result:
        error = result["error"]
        text = f"{text} {error.get('object', '')} {error.get('cause', '')}"
    return text


def fix_text(result: dict) -> str:
    if "error" in result:
        return result["error"].get("fix", "")
    match = FIX.search(result.get("msg", ""))
    return match.group(0) if match else ""


def area_results(run, area: str) -> dict[str, dict]:
    if area == "game_sandbox":
        tasks = run.report["plays"][0]["tasks"]
        debug = [task for task in tasks if task["task"]["name"] ==
                 "Report the outcome of every role case"]
        return debug[-1]["hosts"][HOST]["rel_role_outcomes"]
    results = run.task_result(TASK_OF_AREA[area], HOST)["results"]
    return {result["item"]["case"]: result for result in results}


@pytest.mark.parametrize("area", AREAS)
def test_bad_input_is_refused_clearly_and_changes_nothing(playbook, guest3,
                                                          area):
    cases = [case for case in CASES if case.area == area]
    started = time.monotonic()
    before = snapshot(guest3)

    run = playbook(BAD_INPUT, limit=HOST, extra_vars={
        "rel_area": area, "rel_cases": [case.as_item() for case in cases]})
    after = snapshot(guest3)
    RUNTIME[f"bad input {area}"] = time.monotonic() - started

    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-3000:]
    results = area_results(run, area)
    changed = changes(before, after)
    problems = []
    for case in cases:
        result = results.get(case.case, {})
        message, fix = error_text(result), fix_text(result)
        verdict = "pass"
        if not result.get("failed"):
            verdict = "FAIL: accepted"
        elif case.names not in message and case.core_message_only:
            verdict = ("pass, but ansible-core's message names neither "
                       "the option nor a fix")
        elif case.names not in message:
            verdict = f"FAIL: message does not name {case.names!r}"
        elif not fix and not case.core_message_only:
            verdict = "FAIL: message has no fix"
        elif changed:
            verdict = "FAIL: guest changed"
        elif not fix:
            verdict = "pass, no fix sentence (ansible-core's message)"
        observed = f"{message} Fix: {fix or 'none'}" \
            if result.get("failed") else "accepted"
        expected = f"refused, names {case.names}, " + (
            "says what is wrong" if case.core_message_only
            else "says how to fix it")
        ROWS.append(Row(area, case.case, f"{expected}, guest unchanged",
                        observed, verdict))
        if verdict.startswith("FAIL"):
            problems.append((case.case, verdict, result.get("msg")))
    assert not changed, changed
    assert not problems, problems


# --- escapes from inside the game ---------------------------------------

def player_flatpak(guest, launcher_args: list[str], *, timeout: int = 600):
    """Run the lab launcher as the player, as a desktop session would."""
    return guest.run(["runuser", "-u", "player", "--", "env",
                      *faults.SESSION_ENV, "flatpak", "run", APP,
                      *launcher_args], timeout=timeout)


events = faults.events


def read_int(guest, path: str, key: str | None = None) -> int:
    text = guest.run(["cat", path], check=True).stdout
    if key is None:
        return int(text.split()[0])
    fields = dict(line.split() for line in text.splitlines())
    return int(fields[key])


@pytest.fixture(scope="module")
def recipe(playbook, guest3):
    """The lab's recipe on gbox-3, and the probes in the launcher's home."""
    started = time.monotonic()
    remote_was_up = guest3.run(["test", "-e", "/run/netns/remote"]
                               ).returncode == 0
    run = playbook(REPO / "playbooks" / "gaming-box.yml", limit=HOST,
                   extra_vars=LAB_VARS)
    assert run.rc == 0, run.stdout[-3000:] + run.stderr[-3000:]
    guest3.run(["install", "-d", "-o", "player", "-g", "player", APP_HOME],
               check=True)
    for probe in PROBES:
        guest3.put_file(f"{APP_HOME}/{probe}",
                        (HERE / "reliability" / probe).read_text(),
                        mode=0o644, owner="player")
    guest3.run(["gbox-remote-ns", "up"], check=True, timeout=120)
    RUNTIME["recipe"] = time.monotonic() - started
    yield

    # The recipe stays: the fleet scenario that follows in `make test`
    # lays it down on gbox-3 anyway.
    guest3.run(["rm", "-f", *(f"{APP_HOME}/{probe}" for probe in PROBES)])
    if not remote_was_up:
        guest3.run(["gbox-remote-ns", "down"], timeout=120)


BLOCKED_ERRNOS = {"EPERM", "EACCES", "ENOENT", "EROFS", "ETIMEDOUT",
                  "ECONNREFUSED", "ENETUNREACH"}
NETWORK_ESCAPES = {
    "tcp-ipv4": "TCP to the remote host over IPv4",
    "tcp-ipv6": "TCP to the remote host over IPv6",
    "tcp-mapped": "TCP to ::ffff:10.201.0.2 (IPv4-mapped IPv6)",
    "udp-ipv4": "UDP to the remote host over IPv4",
    "udp-ipv6": "UDP to the remote host over IPv6",
    "udp-mapped": "UDP to ::ffff:10.201.0.2 (IPv4-mapped IPv6)",
    "ping-remote": "ICMP echo to the remote host through a ping socket",
}


def blocked(probe: dict) -> bool:
    if probe.get("ok"):
        return probe.get("detail") == "sent, no reply"
    return probe.get("errno") in BLOCKED_ERRNOS


def test_escape_attempts_from_inside_the_game(guest3, recipe):
    started = time.monotonic()
    tasks_max = LAB_VARS["game_sandbox_users"][0]["games"][0]["limits"][
        "TasksMax"]
    options = (f"python3 /home/player/launcher_fd.py {WRAPPER} %command%")

    done = player_flatpak(guest3, [
        "run", "--options", options, "--",
        "python3", "/home/player/escape_probe.py", "--fork-bomb"])
    RUNTIME["escapes"] = time.monotonic() - started

    found = {event["case"]: event for event in events(done.stdout)
             if event.get("event") == "probe"}
    assert "start" in found, done.stdout[-3000:] + done.stderr[-3000:]
    scope = found["start"]["cgroup"]
    assert scope.endswith(f"/{GAME}.scope"), found["start"]
    problems = []

    def record(case, expected, observed, verdict, ok):
        ROWS.append(Row("escape", case, expected, observed, verdict))
        if not ok:
            problems.append((case, observed))

    for key, case in NETWORK_ESCAPES.items():
        probe = found.get(key, {})
        observed = probe.get("detail") or probe.get("errno") or "no result"
        record(case, "refused at once (EPERM) or dropped", observed,
               "blocked" if blocked(probe) else "FAIL: not blocked",
               blocked(probe))

    raw = found.get("raw-socket", {})
    record("raw socket (SOCK_RAW, IPPROTO_ICMP)",
           "refused by the kernel: the game has no CAP_NET_RAW",
           raw.get("errno") or raw.get("detail", "no result"),
           "blocked (kernel)" if raw.get("errno") == "EPERM"
           else "FAIL: opened", raw.get("errno") == "EPERM")

    inherited = found.get("launcher-socket", {})
    record("socket the launcher opened before the wrapper moved",
           "stays the launcher's socket and is judged as the launcher's, "
           "so it is not filtered; the wrapper moves before it execs the "
           "game so that every socket the game opens is the scope's; a "
           "launcher that hands sockets to its games cannot be filtered "
           "per game",
           inherited.get("detail") or inherited.get("errno", "no result"),
           "not blocked (by design)", inherited.get("ok") is True)

    for key, target in (("move-to-slice", "the game's slice"),
                        ("move-to-manager", "the user manager's app.slice")):
        probe = found.get(key, {})
        # Above the scope the sandbox has only the directories Flatpak
        # made for the mount: writing "cgroup.procs" there makes a plain
        # file, and the game stays where it was.
        stayed = not probe.get("ok") or probe.get("detail", "").endswith(
            f"now in {scope}")
        record(f"game moves itself out of its scope into {target}",
               "refused: the sandbox sees only the scope's own cgroup "
               "directory", probe.get("errno") or probe.get("detail", ""),
               "blocked" if stayed else "FAIL: moved", stayed)
    after = found.get("after-moves", {}).get("cgroup")
    record("game still in its scope after the move attempts",
           f"cgroup {scope}", str(after),
           "blocked" if after == scope else "FAIL: left the scope",
           after == scope)

    bomb = found.get("fork-bomb", {})
    bounded = (0 < bomb.get("started", 0) < tasks_max
               and bomb.get("refused", 0) > 0
               and bomb.get("slice_pids", tasks_max + 1) <= tasks_max)
    record(f"fork bomb: 2000 sleeps under TasksMax={tasks_max}",
           f"at most {tasks_max} tasks, further forks refused (EAGAIN), "
           "launcher unaffected",
           f"{bomb.get('started')} started, {bomb.get('refused')} refused, "
           f"pids.current {bomb.get('slice_pids')}",
           "blocked" if bounded else "FAIL: not bounded", bounded)

    assert not problems, (problems, done.stdout[-3000:])


def test_memory_hog_is_killed_inside_its_scope(guest3, recipe):
    limits = LAB_VARS["game_sandbox_users"][0]["games"][0]["limits"]
    events_file = f"{GAME_SLICE}/memory.events"
    kills_before = read_int(guest3, events_file, "oom_kill")

    # Seen: without swap, MemoryHigh throttles the game so hard that it
    # stalls just below MemoryMax instead of being OOM-killed; the game's
    # own timeout bounds the stall.
    done = player_flatpak(guest3, [
        "run", "--options", f"timeout -s KILL 30 {WRAPPER} %command%", "--",
        "gbox-game", "--alloc-mib", "768", "--hold", "1"])

    kills = read_int(guest3, events_file, "oom_kill") - kills_before
    peak = read_int(guest3, f"{GAME_SLICE}/memory.peak")
    seen = events(done.stdout)
    exits = [event["code"] for event in seen
             if event.get("event") == "game-exit"]
    held = peak <= MEMORY_MAX and exits != []
    verdict = "FAIL: not contained"
    if held:
        verdict = "blocked (OOM kill)" if kills else \
            "limited: throttled below MemoryMax, not killed"
    ROWS.append(Row(
        "escape", f"memory hog: 768 MiB under MemoryMax={limits['MemoryMax']}",
        "the game never gets more than MemoryMax; the launcher survives and "
        "reports the exit", f"oom_kill +{kills}, slice memory.peak {peak}, "
        f"launcher saw game-exit {exits}", verdict))
    assert held, done.stdout[-3000:] + done.stderr[-3000:]


def test_portal_child_lands_in_the_game_scope(guest3, recipe):
    done = player_flatpak(guest3, [
        "run", "--portal", "--options", f"{WRAPPER} %command%", "--",
        "gbox-game", "--timeout", "3", "--connect", "tcp:10.201.0.2:7000"])

    seen = events(done.stdout)
    start = next((event for event in seen if event.get("event") == "start"),
                 {})
    connect = next((event for event in seen
                    if event.get("event") == "connect"), {})
    cgroup = start.get("cgroup", "")
    covered = cgroup.startswith(GAME_SLICE.removeprefix("/sys/fs/cgroup")) \
        and blocked(connect)
    ROWS.append(Row(
        "escape", "game started through the Flatpak portal "
        "(gbox-launcher run --portal, through the lab's pressure-vessel "
        "stand-in)",
        "the portal's new scope is born frozen in the gate and sent into "
        "the game's scope before it runs; its first connection to the "
        "remote host is refused",
        f"game in {cgroup or 'unknown cgroup'}, remote connect "
        f"errno={connect.get('errno')}",
        "blocked" if covered else "FAIL: not covered"))
    assert covered, done.stdout[-3000:] + done.stderr[-3000:]


# --- faults: after each, the game still lands, limited and filtered -----

FAULT_EXPECTED = "the game lands in its scope, limited and filtered"


def record_fault(case: str, expected: str, landing: faults.Landing,
                 extra: str = "", ok: bool = True) -> None:
    observed = f"{extra}; {landing.observed}" if extra else landing.observed
    verdict = "pass" if landing.ok and ok else "FAIL"
    ROWS.append(Row("fault", case, expected, observed, verdict))


def test_fault_placeholder_killed(guest3, recipe):
    unit = f"gaming-box-scope-{GAME}.service"

    killed = faults.kill_main_process(guest3, unit, user=True)
    back = faults.restarted(guest3, unit, killed, user=True)
    landing = faults.game_lands(guest3)

    record_fault("placeholder process killed (SIGKILL)",
                 "systemd restarts the placeholder within seconds and the "
                 f"scope is back; {FAULT_EXPECTED}", landing,
                 f"placeholder back: {back}", back)
    assert back and landing.ok, landing.observed


def test_fault_user_manager_restarted(guest3, recipe):
    guest3.run(["systemctl", "restart", f"user@{faults.UID}.service"],
               check=True, timeout=300)
    up = faults.wait_for(lambda: guest3.run(
        ["systemctl", "--user", "-M", "player@", "is-system-running"],
        timeout=60).stdout.strip() in ("running", "degraded"), timeout=180)
    landing = faults.game_lands(guest3)

    record_fault("user manager restarted (systemctl restart user@1000)",
                 "the loader filters the new manager's slices before it "
                 f"starts anything; {FAULT_EXPECTED}", landing,
                 f"manager up: {up}", up)
    assert up and landing.ok, landing.observed


def test_fault_loader_killed(guest3, recipe):
    unit = "gaming-box-netfilter.service"

    killed = faults.kill_main_process(guest3, unit)
    back = faults.restarted(guest3, unit, killed)
    landing = faults.game_lands(guest3)

    record_fault("loader killed (SIGKILL to gaming-box-netfilter.service)",
                 "the attached programs stay (pinned), systemd restarts the "
                 f"loader; {FAULT_EXPECTED}", landing,
                 f"loader back: {back}", back)
    assert back and landing.ok, landing.observed


def test_fault_portal_gate_killed(guest3, recipe):
    unit = "gaming-box-portal-gate.service"

    killed = faults.kill_main_process(guest3, unit)
    # At once: whatever the portal starts meanwhile waits frozen.
    landing = faults.game_lands(guest3, portal=True)
    back = faults.restarted(guest3, unit, killed, timeout=0)

    record_fault("portal gate killed (SIGKILL), a portal game started at "
                 "once", "the new sandbox waits frozen until systemd has "
                 "restarted the gate; the portal game lands in its scope, "
                 "limited and filtered", landing, f"gate back: {back}", back)
    assert back and landing.ok, landing.observed


def test_fault_disk_full_while_writing_an_override(guest3, recipe,
                                                   playbook):
    overrides = "/home/player/.local/share/flatpak/overrides"
    override = f"{overrides}/{APP}"
    original = guest3.get_file(override)
    # A tiny file system over the overrides directory, holding a copy of
    # what was there, filled to the last block.
    guest3.run(["bash", "-c", (
        f"set -e; tmp=$(mktemp -d); cp -a {overrides}/. $tmp/; "
        f"mount -t tmpfs -o size=64k,mode=0755,uid=1000,gid=1000 "
        f"gbox-full {overrides}; cp -a $tmp/. {overrides}/; rm -rf $tmp; "
        f"dd if=/dev/zero of={overrides}/.filler bs=4k 2>/dev/null || true")],
        check=True, timeout=120)
    try:
        write = playbook(HERE / "reliability" / "override_write.yml",
                         limit=HOST, extra_vars={"rel_app": APP})
        run = write.task_result("Add a variable to the launcher's override",
                                HOST)
        kept = guest3.get_file(override) == original
        leftovers = guest3.run(["find", overrides, "-name", "*.tmp"]
                               ).stdout.split()
    finally:
        guest3.run(["umount", overrides], check=True, timeout=60)
    landing = faults.game_lands(guest3)

    message = run.get("msg", "")
    clear = run.get("failed") is True and "No space left" in message \
        and override in message
    record_fault("disk full while writing an override",
                 "the module fails naming the file and the cause; the old "
                 f"override is intact, no temporary file is left; "
                 f"{FAULT_EXPECTED}", landing,
                 f"{message[:200]} old file intact: {kept}, leftovers: "
                 f"{leftovers or 'none'}", clear and kept and not leftovers)
    assert clear, run
    assert kept and not leftovers, leftovers
    assert landing.ok, landing.observed


@pytest.mark.slow
def test_fault_guest_rebooted(guest3, recipe):
    guest3.reboot()
    guest3.run(["gbox-remote-ns", "up"], check=True, timeout=120)
    gates = json.loads(guest3.run(
        ["/usr/bin/python3", "/usr/local/libexec/gaming-box/portal-gate",
         "status"], check=True, timeout=120).stdout)
    frozen = [(gate["gate_exists"], gate["gate_frozen"]) for gate in gates]
    landing = faults.game_lands(guest3)
    portal = faults.game_lands(guest3, portal=True)

    record_fault("guest rebooted", "the loader filters and the gate is "
                 "frozen before the user manager starts anything; "
                 f"{FAULT_EXPECTED}, also through the portal", landing,
                 f"gate (exists, frozen) {frozen}; portal: {portal.observed}",
                 frozen == [(True, True)] and portal.ok)
    assert frozen == [(True, True)], gates
    assert landing.ok, landing.observed
    assert portal.ok, portal.observed


def idempotent_rerun(playbook) -> tuple[int, int]:
    run = playbook(REPO / "playbooks" / "gaming-box.yml", limit=HOST,
                   extra_vars=LAB_VARS)
    return run.rc, run.stats(HOST).get("changed", -1)


PLACEHOLDERS = {f"gaming-box-scope-{name}.service"
                for name in ("demo", "arena", "launchers")}


def duplicates(guest) -> list[str]:
    """What a second copy of the recipe would leave: extra override
    entries, extra placeholders, doubled BPF attachments, temporary
    files."""
    override = guest.get_file(
        f"/home/player/.local/share/flatpak/overrides/{APP}").decode()
    found = [f"{path} listed {override.count(path)} times"
             for path in (f"{GAME}.scope", "arena.scope")
             if override.count(path) != 1]
    units = guest.run(["systemctl", "--user", "-M", "player@", "list-units",
                       "--all", "--plain", "--no-legend",
                       "gaming-box-scope-*"], timeout=60).stdout
    names = {line.split()[0] for line in units.splitlines() if line.strip()}
    if names != PLACEHOLDERS:
        found.append(f"placeholder units: {sorted(names)}")
    shown = guest.run(["bpftool", "cgroup", "show", GAME_SLICE],
                      timeout=60).stdout.splitlines()[1:]
    hooks = [line.split()[1] for line in shown if line.split()]
    found += [f"{hook} attached {hooks.count(hook)} times"
              for hook in sorted(set(hooks)) if hooks.count(hook) != 1]
    temporary = guest.run(["find", "/home/player/.config/systemd",
                           "/home/player/.local/share/flatpak/overrides",
                           "/home/player/.local/share/gaming-box",
                           "/etc/systemd/system", "/etc/gaming-box",
                           "-name", "*.tmp*"]).stdout.split()
    return found + temporary


@pytest.mark.slow
def test_fault_runs_interrupted_and_at_once_with_a_launcher_started_early(
        guest3, recipe, playbook):
    """One removal of the recipe serves three faults, in the order a
    rollout meets them: a launcher the user opened before the playbook
    ran, a run killed half way, then two runs at once to finish it."""
    removed = playbook(REPO / "playbooks" / "uninstall.yml", limit=HOST,
                       extra_vars=LAB_VARS)
    assert removed.rc == 0, removed.stdout[-3000:]
    go = f"{APP_HOME}/go"
    guest3.run(["rm", "-f", go])

    # The launcher tries the game only once every run has ended, as a user
    # who opened Steam during the rollout and then clicked Play.
    early = guest3.popen(["timeout", "900", *faults.launcher_argv(
        "while [ ! -e /home/player/go ]; do sleep 0.5; done; "
        f"{WRAPPER} %command%", ["--timeout", "3", "--connect",
                                 faults.REMOTE])])
    # Six changes in, the run is among the games' slices and filters, well
    # before the launchers' overrides.
    killed = faults.playbook_process(REPO / "playbooks" / "gaming-box.yml",
                                     limit=HOST, extra_vars=LAB_VARS,
                                     json_report=False)
    seen, cut = faults.interrupt_after(killed, changes=6)
    runs = [faults.playbook_process(REPO / "playbooks" / "gaming-box.yml",
                                    limit=HOST, extra_vars=LAB_VARS)
            for _run in range(2)]
    outputs = [run.communicate(timeout=1800)[0] for run in runs]
    guest3.run(["install", "-o", "player", "/dev/null", go], check=True)
    early_out, early_err = early.communicate(timeout=300)
    guest3.run(["rm", "-f", go])

    rc, changed = idempotent_rerun(playbook)
    extra = duplicates(guest3)
    landing = faults.game_lands(guest3)

    codes = [run.returncode for run in runs]
    converged = codes == [0, 0] and rc == 0 and changed == 0 and not extra
    after = (f"the two runs after it: codes {codes}; next run rc {rc}, "
             f"changed {changed}; duplicates: {extra or 'none'}")
    record_fault("playbook run killed half way (SIGKILL after 6 changed "
                 "tasks), then run again", "the next run converges, the one "
                 f"after changes nothing, nothing is doubled; "
                 f"{FAULT_EXPECTED}", landing,
                 f"killed after {seen} changes (still running: {cut}); "
                 f"{after}", cut and converged)
    record_fault("two playbook runs at once against one guest (finishing "
                 "the killed run)", "both converge, the next run changes "
                 f"nothing, nothing is doubled; {FAULT_EXPECTED}", landing,
                 after, converged)

    escaped = [event for event in faults.events(early_out)
               if event.get("event") == "connect" and event.get("ok")]
    refused = "restart the launcher" in early_err or \
        "not found" in early_err
    told = [APP in json.dumps(item.get("restart", []))
            for output in outputs for item in summary_items(output)]
    record_fault("launcher started before the playbook ran",
                 "its sandbox was made before the override existed, so it "
                 "cannot see the wrapper or the scope: the game does not "
                 "start uncontained, and the playbook's summary asks for a "
                 f"restart of the launcher; after it {FAULT_EXPECTED}",
                 landing, (early_err.strip().splitlines() or
                           ["no message"])[-1] +
                 f"; summary asks for a restart: {any(told)}",
                 refused and not escaped and any(told))

    assert cut, "the run ended before it could be interrupted"
    assert codes == [0, 0], [output[-3000:] for output in outputs]
    assert (rc, changed) == (0, 0)
    assert not extra, extra
    assert not escaped and refused, (early_out, early_err)
    assert any(told), outputs
    assert landing.ok, landing.observed


def summary_items(output: str) -> list[dict]:
    """The entries of the player's part of the playbook's summary."""
    try:
        report = json.loads(output)
    except json.JSONDecodeError:
        return []
    for play in report.get("plays", []):
        for task in play.get("tasks", []):
            if task["task"]["name"] == "Show what each desktop got":
                message = task["hosts"].get(HOST, {}).get("msg", {})
                if isinstance(message, dict):
                    return list(message.get("player", []))
    return []
