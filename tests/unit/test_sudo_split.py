"""Which remote commands go through `sudo -n` and which run as the SSH user, from recorded runs.

Every command the executor, its checks and the collectors send is recorded and classified
here by what it does (its program, or for `sh -c` its fixed script), independently of the
flags the code sets. On a host with ``sudo = true`` exactly the root ones carry ``sudo -n --``;
the README's sudoers rule allows every one of them and nothing Switchboard never runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from actions import Drain, Failover, Reload, SetWeight, build_plan, builder, leftovers, locks
from actions.audit import AuditLog
from actions.checks import PEER_SH, peer_links, vip_moved
from actions.dispatcher import ClusterActions
from actions.executor import Executor
from actions.runner import Completed, FeedRunner
from collectors.follow import SCRIPT as FOLLOW_SCRIPT
from collectors.heartbeat import SCRIPT as HA_SCRIPT
from collectors.heartbeat import HeartbeatPoller
from collectors.nginx_config import RESOLVE_SCRIPT, ConfigReader
from collectors.ssh import HostSession
from collectors.tailer import LogTailer
from lab import users
from switchboard import remote
from tests.unit.executor_fakes import INV, FakeCluster, Recorder
from tests.unit.test_executor import NAMES, ORDER, UPSTREAM, Clock, configs

ROOT = Path(__file__).resolve().parents[2]

# What each fixed script does decides who runs it.
ROOT_SCRIPTS = {
    builder.STAGE_SH: "stage", builder.BACKUP_SH: "backup", builder.SWAP_SH: "swap",
    builder.RESTORE_SH: "restore", builder.REMOVE_SH: "remove staged",
    locks.ACQUIRE_SH: "take lock", locks.RELEASE_SH: "release lock",
    leftovers.REMOVE_SH: "remove leftovers",
}
USER_SCRIPTS = {
    builder.WORKERS_SH: "worker pids", leftovers.FIND_SH: "find leftovers",
    PEER_SH: "peer links", HA_SCRIPT: "heartbeat poll", RESOLVE_SCRIPT: "getent",
    FOLLOW_SCRIPT: "log follower",
}
ROOT_PROGRAMS = {"nginx", "unshare", f"{builder.HB_DIR}/hb_standby",
                 f"{builder.HB_DIR}/hb_takeover"}
USER_PROGRAMS = {"sha256sum", "ss", "cl_status", "ip", "logger", "stat"}


def needs_root(argv: Sequence[str]) -> bool:
    """The classification, by what the command does; unknown commands fail the test."""
    if list(argv[:2]) == ["sh", "-c"]:
        script = argv[2]
        if script in ROOT_SCRIPTS:
            return True
        if script in USER_SCRIPTS:
            return False
        raise AssertionError(f"unclassified script: {script[:60]}")
    if argv[0] in ROOT_PROGRAMS:
        return True
    if argv[0] in USER_PROGRAMS:
        return False
    raise AssertionError(f"unclassified command: {argv}")


def split(argv: Sequence[str]) -> tuple[bool, tuple[str, ...]]:
    """(went through sudo, the command itself)."""
    if remote.through_sudo(argv):
        return True, tuple(argv[3:])
    assert "sudo" not in argv, argv
    return False, tuple(argv)


class Scripted:
    """A RemoteRunner answering the checks' commands with fixed output."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.sent: list[tuple[str, tuple[str, ...]]] = []

    async def run(self, host: str, argv: Sequence[str], *, input: str | None = None,
                  timeout: float = 30.0) -> Completed:  # noqa: ASYNC109
        self.sent.append((host, tuple(argv)))
        return Completed(0, self.answers[host] if argv[0] == "sh" else
                         "2: eth0 inet 198.18.0.100/24 scope global eth0\n" if host == "lb2"
                         else "", "")


async def recorded_actions(tmp: Path) -> list[tuple[str, tuple[str, ...]]]:
    """Every command of: a weight change with leftovers to clean, the same failing at the
    last reload (undo), a drain, a reload, a failover failing its last check (undo), the
    failover's checks, and the dispatcher's own `nginx -T`."""
    sent: list[tuple[str, tuple[str, ...]]] = []
    files = {h: list(c.files) for h, c in configs().items()}
    runs: list[tuple[Any, str | None, tuple[str, ...]]] = [
        (SetWeight("web1", 3), "leftover", ORDER), (SetWeight("web1", 4), "fail reload", ORDER),
        (Drain("web1"), None, ORDER), (Reload(), None, ORDER),
        (Failover(), "fail rscstatus", ORDER), (Failover(), "fail rscstatus", ORDER[::-1])]
    for i, (intent, twist, order) in enumerate(runs):
        cluster = FakeCluster(tmp / f"run{i}", configs())
        for p in cluster.proxies.values():
            active = p.name == order[-1]
            p.holds_vip, p.resources = active, "all" if active else "none"
        if twist == "leftover":
            cluster.proxies["lb2"].file(UPSTREAM + ".switchboard-new").write_text("half")
        elif twist == "fail reload":
            cluster.fail("lb1", ("nginx", "-s", "reload"))
        elif twist == "fail rscstatus":
            cluster.fail(order[0], ("cl_status", "rscstatus"), exit_status=0, stderr="")
        recorder = Recorder(cluster)
        clock = Clock()
        plan = build_plan(intent, configs(), order, NAMES, drain_timeout=5)
        ex = Executor(recorder, INV, audit=AuditLog(tmp / f"a{i}.jsonl"), clock=clock,
                      sleep=clock.sleep)
        result = await ex.execute(plan, config_files=files)
        assert result.ok == (twist in (None, "leftover")), result.message
        if twist == "leftover":
            assert result.leftovers
        sent += recorder.sent
    peer = "@@ node lb1\nactive\n@@ link lb1 eth0\nup\n"
    checks = Scripted({"lb1": peer.replace("lb1", "lb2"), "lb2": peer})
    clock = Clock()
    await peer_links(checks, "lb1", "lb2", "lb2").run(lambda _l: None)
    await vip_moved(checks, "198.18.0.100", "lb1", "lb2", sleep=clock.sleep,
                    clock=clock).run(lambda _l: None)
    sent += checks.sent
    cluster = FakeCluster(tmp / "read", configs())
    recorder = Recorder(cluster)
    await ClusterActions(object(), INV, None, runner=recorder).read_configs()  # type: ignore[arg-type]
    return sent + recorder.sent


async def test_only_the_commands_that_need_root_go_through_sudo(tmp_path: Path) -> None:
    sent = await recorded_actions(tmp_path)
    kinds: dict[str, set[str]] = {"root": set(), "user": set()}
    for host, argv in sent:
        through, cmd = split(argv)
        root = needs_root(cmd)
        # lb2 has sudo = true in the inventory, lb1 not
        assert through == (root and host == "lb2"), (host, argv)
        kinds["root" if root else "user"].add(describe(cmd))
    assert kinds == {
        "root": {"nginx -T", "nginx -t", "nginx -s reload", "unshare", "stage", "backup",
                 "swap", "restore", "remove staged", "take lock", "release lock",
                 "remove leftovers", "hb_standby all", "hb_takeover all"},
        "user": {"sha256sum", "worker pids", "ss", "logger", "cl_status hbstatus",
                 "cl_status rscstatus", "find leftovers", "peer links", "ip"},
    }


def describe(cmd: Sequence[str]) -> str:
    if cmd[:2] == ("sh", "-c"):
        return {**ROOT_SCRIPTS, **USER_SCRIPTS}[cmd[2]]
    name = cmd[0].rsplit("/", 1)[-1]
    if name in ("nginx", "cl_status", "hb_standby", "hb_takeover"):
        return " ".join((name, *cmd[1:]))
    return name


def readme_rule() -> str:
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sudoers\n(.*?)```", text, re.S)
    assert len(blocks) == 1, "README.md must show exactly one sudoers block"
    return str(blocks[0])


def rule_commands(rule: str) -> list[tuple[str, ...]]:
    """The Cmnd_Alias's commands: an absolute path, then its exact arguments if any."""
    joined = rule.replace("\\\n", " ")
    alias = next(ln for ln in joined.splitlines() if ln.startswith("Cmnd_Alias"))
    return [tuple(c.split()) for c in alias.split("=", 1)[1].split(",")]


def allows(rule: list[tuple[str, ...]], cmd: Sequence[str]) -> tuple[str, ...] | None:
    """The sudoers entry that lets ``cmd`` run (sudo resolves a bare name on secure_path)."""
    for entry in rule:
        path, args = entry[0], entry[1:]
        same = cmd[0] == path if cmd[0].startswith("/") else path.endswith("/" + cmd[0])
        if same and (not args or tuple(cmd[1:]) == args):
            return entry
    return None


async def test_the_readme_sudoers_rule_allows_exactly_the_root_commands(
        tmp_path: Path) -> None:
    rule = rule_commands(readme_rule())
    used: set[tuple[str, ...]] = set()
    for _host, argv in await recorded_actions(tmp_path):
        _through, cmd = split(argv)
        if needs_root(cmd):
            entry = allows(rule, cmd)
            assert entry is not None, f"the README's sudoers rule does not allow {cmd}"
            used.add(entry)
    assert set(rule) == used  # nothing in the rule that Switchboard never runs as root
    assert all(entry[0].startswith("/") for entry in rule)


def test_the_lab_installs_the_readme_rule() -> None:
    """The lab's sudoers template is the README's rule, for its own user."""
    assert users.sudoers_rule("ops") == readme_rule()
    assert readme_rule().rstrip().endswith("ops ALL=(root) NOPASSWD: SWITCHBOARD")


# -- the collectors ------------------------------------------------------------------------


class FakeConn:
    """Stands in for the asyncssh connection: records each command line as sent."""

    def __init__(self, stderr: str = "", status: int = 0) -> None:
        self.lines: list[str] = []
        self.stderr, self.status = stderr, status

    def is_closed(self) -> bool:
        return False

    async def run(self, command: str, **_kw: Any) -> Any:
        self.lines.append(command)
        return _Done(self.status, "", self.stderr)

    async def create_process(self, command: str, **_kw: Any) -> Any:
        self.lines.append(command)
        return _Proc()


class _Done:
    def __init__(self, status: int, stdout: str, stderr: str) -> None:
        self.exit_status, self.stdout, self.stderr = status, stdout, stderr


class _Stream:
    async def read(self, _n: int) -> bytes:
        return b""


class _Proc:
    stdout = _Stream()
    exit_status = 0

    def terminate(self) -> None: ...

    def close(self) -> None: ...

    async def wait_closed(self) -> None: ...


def session(conn: FakeConn, name: str = "lb2") -> HostSession:
    s = HostSession(INV.host(name), lambda _e: None)

    async def connection(timeout: float | None = None) -> Any:  # noqa: ASYNC109
        return conn

    s.connection = connection  # type: ignore[method-assign]
    return s


async def test_the_collectors_read_as_the_user_and_run_nginx_T_as_root() -> None:
    assert INV.host("lb2").sudo
    conn = FakeConn()
    lb2 = session(conn)
    await HeartbeatPoller(lb2, INV.vip, lambda _e: None).poll()
    await LogTailer(lb2, "/var/log/nginx/access.log", lambda _e: None,
                    lambda _l: None)._follow_once()  # type: ignore[arg-type, return-value]
    reader = ConfigReader(lb2, lambda _e: None)
    await reader.read()
    await reader._resolve(["web1.example"])
    sent = [shlex.split(line) for line in conn.lines]
    assert [split(a)[0] for a in sent] == [False, False, True, False]
    assert [needs_root(split(a)[1]) for a in sent] == [False, False, True, False]
    assert conn.lines[2] == "sudo -n -- nginx -T"


# -- refusals say what to do ---------------------------------------------------------------


@pytest.mark.parametrize("stderr", ["sudo: a password is required",
                                    "sudo: a terminal is required to read the password"])
async def test_a_sudo_refusal_names_the_rule_and_never_waits(stderr: str) -> None:
    lb2 = session(FakeConn(stderr + "\n", 1))
    event = await ConfigReader(lb2, lambda _e: None).read()
    assert event.error is not None
    assert event.error.startswith(f"nginx -T exited with 1: {stderr}; sudo -n refused `nginx`"
                                  " to ops")
    assert "the sudoers rule in Switchboard's README, section 'sudo'" in event.error
    runner = FeedRunner(_Feed(lb2))
    done = await runner.run("lb2", ["sudo", "-n", "--", "sh", "-c", "true"])
    assert done.failure.startswith(f"{stderr}; sudo -n refused `sh` to ops")


class _Feed:
    def __init__(self, s: HostSession) -> None:
        self.s = s

    def session(self, _host: str) -> HostSession:
        return self.s


def test_refusal_hints() -> None:
    denied = "cat: /etc/x: Permission denied"
    assert remote.refusal_hint(["sudo", "-n", "--", "nginx", "-T"], "nginx: [emerg] x",
                               user="ops", sudo=True) == ""
    assert remote.refusal_hint(["sha256sum", "--", "/etc/x"], "no such file", user="ops",
                               sudo=True) == ""
    read = remote.refusal_hint(["sha256sum", "--", "/etc/x"], denied, user="ops", sudo=True)
    assert read.startswith("Switchboard runs this read as ops without sudo")
    assert "groups the SSH user needs" in read
    bare = remote.refusal_hint(["mkdir", "/run/x"], denied, user=None, sudo=False)
    assert bare.startswith("the SSH user may not do this") and "`sudo = true`" in bare


def test_heartbeat_refused_to_a_user_outside_haclient_says_so() -> None:
    from collectors.heartbeat import parse

    # recorded on the lab: the poll script as a user outside haclient, cl_status not setgid
    text = ("@@ uname\nlb1\n@@ addr\n"
            "2: eth0    inet 198.18.0.11/24 scope global eth0\\       valid_lft forever "
            "preferred_lft forever\n"
            "2: eth0    inet 198.18.0.100/24 scope global secondary eth0\\       valid_lft "
            "forever preferred_lft forever\n"
            "@@ hbstatus\nHeartbeat is stopped on this machine.\n@@ rc 1\n@@ denied ops\n")
    status = parse("lb1", text, "198.18.0.100", 0.0)
    assert not status.heartbeat_running and status.error is not None and status.holds_vip
    assert "add ops to group haclient (`usermod -aG haclient ops`)" in status.error
    stopped = parse("lb1", text.replace("@@ denied ops\n", ""), "198.18.0.100", 0.0)
    assert stopped.error == "Heartbeat is stopped on this machine."


async def test_a_cancel_that_arrives_as_a_command_ends_is_not_lost() -> None:
    """asyncio.wait_for (inside asyncssh) before Python 3.12 returns the command's result and
    drops a cancel that arrives at that moment: a feed stopping right after a refused
    `nginx -T` then never finished (the CLI hung instead of printing the refusal)."""

    class SwallowingConn(FakeConn):
        async def run(self, command: str, **_kw: Any) -> Any:
            task = asyncio.current_task()
            assert task is not None
            task.cancel()  # requested as the command ends...
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0)  # ...and dropped, as wait_for does
            return _Done(1, "", "sudo: a password is required\n")

    reader = ConfigReader(session(SwallowingConn()), lambda _e: None)
    read = asyncio.create_task(reader.read())
    with pytest.raises(asyncio.CancelledError):
        await read
    assert read.cancelled()
