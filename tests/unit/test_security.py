"""Security defaults: strict host keys, no key material in errors or audit, sudo -n, read-only."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import subprocess
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from actions import Failover, MarkDown, Reload, SetWeight, build_plan
from actions.audit import AuditLog
from actions.executor import Executor
from actions.runner import Completed
from collectors.ssh import HostSession
from collectors.supervisor import Backoff
from switchboard import cli
from switchboard.commands import actions as commands
from switchboard.errors import RemoteError
from tests.unit.executor_fakes import INV, INVENTORY, FakeCluster, Recorder
from tests.unit.test_action_commands import FakeFeed
from tests.unit.test_executor import NAMES, ORDER, configs
from tests.unit.test_sudo_split import needs_root

from .collectors_sshd import Events, Sshd, sshd  # noqa: F401

# Real processes (sshd, nginx -t, a Textual pilot) or many examples: seconds, not ms.
pytestmark = pytest.mark.slow

SECRET = "hunter2-PASSPHRASE"
TOKEN = "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI-K7MDENG"


# -- host keys -------------------------------------------------------------------------------

def test_strict_host_keys_by_default() -> None:
    args = cli.build_parser().parse_args(["watch"])
    assert args.accept_new_host_keys is False
    session = HostSession(INV.proxies[0], lambda _e: None)
    assert session.known.accept_new is False
    assert str(session.known.path).endswith(".ssh/known_hosts")


@pytest.mark.parametrize("accept_new", [False, True])
async def test_a_revoked_host_key_is_refused_even_with_accept_new(
        accept_new: bool, sshd: Sshd) -> None:  # noqa: F811
    # asyncssh drops `@revoked [host]:port` entries when no trusted key matches that name
    alg, blob = sshd.host_public_key.export_public_key().decode().split()[:2]
    sshd.known_hosts.write_text(f"@revoked [127.0.0.1]:{sshd.port} {alg} {blob}\n")
    events = Events()
    session = HostSession(sshd.host(), events, accept_new_host_keys=accept_new,
                          backoff=Backoff(0.05, 0.2))
    task = asyncio.create_task(session.maintain())
    try:
        await events.until(lambda: any(h.state == "failed" for h in events.health()))
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    failed = next(h for h in events.health() if h.state == "failed")
    assert failed.error is not None and "REVOKED" in failed.error
    assert sshd.host_public_key.get_fingerprint() in failed.error
    assert sshd.known_hosts.read_text().count("\n") == 1  # nothing appended


# -- no key material in errors, logs or the audit log ------------------------------------------

def _bad_keys(tmp: Path, good: Path) -> dict[str, Path]:
    encrypted = tmp / "id_encrypted"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", SECRET, "-f", str(encrypted)],
                   check=True, timeout=30)
    not_a_key = tmp / "secrets.env"
    not_a_key.write_text(f"{TOKEN}\n")
    truncated = tmp / "id_truncated"
    body = good.read_text()
    truncated.write_text(body[: len(body) // 2])
    return {"encrypted": encrypted, "not a key": not_a_key, "truncated": truncated,
            "missing": tmp / "no_such_key", "directory": tmp}


def _key_material(path: Path) -> list[str]:
    """Strings that would betray a key file's contents if they showed up somewhere."""
    if not path.is_file():
        return []
    text = path.read_text(errors="replace")
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("-----")]
    return [*(ln[:24] for ln in lines), TOKEN[:20], SECRET,
            base64.b64encode(TOKEN.encode()).decode()[:16]]


@asynccontextmanager
async def failing_session(host: Any, events: Events) -> AsyncIterator[HostSession]:
    session = HostSession(host, events, backoff=Backoff(0.05, 0.2))
    task = asyncio.create_task(session.maintain())
    try:
        yield session
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class _QuickRunner:
    """The executor's runner over a real HostSession, with short waits for a dead host."""

    def __init__(self, sessions: dict[str, HostSession]) -> None:
        self.sessions = sessions

    async def run(self, host: str, argv: Sequence[str], *, input: str | None = None,
                  timeout: float = 30.0) -> Completed:  # noqa: ASYNC109
        try:
            done = await self.sessions[host].run(argv, check=False, timeout=0.2, input=input,
                                                 privileged=False)
        except TimeoutError:
            raise RemoteError(host, "no answer") from None
        return Completed(done.exit_status, done.stdout, done.stderr)


@pytest.mark.parametrize("kind", ["encrypted", "not a key", "truncated", "missing",
                                  "directory"])
async def test_a_bad_key_is_a_clear_error_without_its_contents(
        kind: str, sshd: Sshd, tmp_path: Path,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sshd.trust()
    keys = tmp_path / "keys"
    keys.mkdir()
    key = _bad_keys(keys, sshd.client_key)[kind]
    host = sshd.host("lb1")
    host = replace(host, ssh=replace(host.ssh, key=str(key)))
    events = Events()
    async with failing_session(host, events) as session:
        await events.until(lambda: any(h.state == "failed" for h in events.health()))
        failed = next(h for h in events.health() if h.state == "failed")
        error = failed.error or ""
        assert f"SSH key {key}" in error, error
        hint = {"encrypted": "add it to the SSH agent", "not a key": "not a private key",
                "truncated": "not a private key", "missing": "No such file or directory",
                "directory": "Is a directory"}[kind]
        assert hint in error

        # The same failure through an action: the result and the audit log name no secret.
        inv = replace(INV, hosts=(host, replace(host, name="lb2")))
        audit = AuditLog(tmp_path / "audit.jsonl")
        runner = _QuickRunner({"lb1": session, "lb2": session})
        plan = build_plan(Reload(), configs(), ("lb2", "lb1"), NAMES)
        result = await Executor(runner, inv, audit=audit).execute(plan)
    assert not result.ok and f"SSH key {key}" in result.message
    logged = (tmp_path / "audit.jsonl").read_text()
    assert f"SSH key {key}" in logged
    seen = "\n".join([error, result.message, logged, caplog.text,
                      *(str(e) for e in events.items)])
    for material in _key_material(key):
        assert material not in seen


# -- sudo -n for privileged commands -------------------------------------------------------------



@pytest.mark.parametrize("intent", [SetWeight("web1", 3), MarkDown("web2"), Reload(),
                                    Failover()], ids=lambda i: type(i).__name__)
async def test_every_privileged_step_uses_sudo_n_where_the_inventory_asks(
        intent: Any, tmp_path: Path) -> None:
    cluster = FakeCluster(tmp_path / "hosts", configs())
    for p in cluster.proxies.values():
        p.holds_vip, p.resources = p.name == "lb1", "all" if p.name == "lb1" else "none"
    recorder = Recorder(cluster)
    plan = build_plan(intent, configs(), ORDER, NAMES)
    result = await Executor(recorder, INV, audit=AuditLog(tmp_path / "a.jsonl")).execute(plan)
    assert result.ok, result.message
    assert {h for h, _ in recorder.sent} == {"lb1", "lb2"}
    for host, argv in recorder.sent:
        sudo = argv[:3] == ("sudo", "-n", "--")
        # lb2 has sudo = true: the commands that need root go through sudo there, reads not
        if host == "lb2" and needs_root(argv[3 if sudo else 0:]):
            assert sudo, argv
        else:
            assert not sudo and "sudo" not in argv, (host, argv)
        assert "sudo" not in argv[3 if sudo else 0:], argv  # never twice, never without -n


def test_sessions_prefix_sudo_n_only_for_privileged_commands() -> None:
    lb2 = INV.host("lb2")
    session = HostSession(lb2, lambda _e: None)
    assert session.shell_command(["nginx", "-T"]) == "sudo -n -- nginx -T"
    assert session.shell_command(["getent", "ahosts", "x"], privileged=False) == \
        "getent ahosts x"
    lb1 = HostSession(INV.host("lb1"), lambda _e: None)
    assert lb1.shell_command(["nginx", "-T"]) == "nginx -T"


async def test_sudo_reaches_the_host_as_sudo_n(tmp_path: Path) -> None:
    """Over a real sshd whose PATH starts with a stand-in sudo that records its arguments."""
    fake = tmp_path / "bin"
    fake.mkdir()
    log = tmp_path / "sudo.log"
    (fake / "sudo").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" >> {log}\nshift 2\n'
                               'exec "$@"\n')
    (fake / "sudo").chmod(0o755)
    (tmp_path / "sshd").mkdir()
    server = Sshd(tmp_path / "sshd")
    with server.config.open("a") as f:
        f.write(f"SetEnv PATH={fake}:/usr/sbin:/usr/bin:/sbin:/bin\n")
    server.start()
    try:
        server.trust()
        session = HostSession(replace(server.host("lb2"), sudo=True), Events(),
                              backoff=Backoff(0.05, 0.2))
        task = asyncio.create_task(session.maintain())
        try:
            await session.connection(15)
            done = await session.run(["echo", "x; touch pwned"])
            assert done.stdout == "x; touch pwned\n"
            assert log.read_text().splitlines() == ["-n", "--", "echo", "x; touch pwned"]
            done = await session.run(["echo", "plain"], privileged=False)
            assert done.stdout == "plain\n" and log.read_text().count("\n") == 4
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        server.stop()


# -- --read-only refuses every action ------------------------------------------------------------

ACTIONS = [["weight", "web1", "3"], ["down", "web2"], ["up", "web1"], ["backup", "web2"],
           ["backup", "web2", "--off"], ["drain", "web2"], ["drain", "web2", "--wait"],
           ["undrain", "web2"], ["reload"], ["failover"], ["failover", "--to", "lb2"]]


@pytest.fixture
def watched(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, FakeFeed]:
    feed = FakeFeed(FakeCluster(tmp_path / "hosts", configs()))
    inv = tmp_path / "inventory.toml"
    inv.write_text(INVENTORY)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    @asynccontextmanager
    async def fake_feed(_inv: Any, _accept: bool) -> AsyncIterator[FakeFeed]:
        yield feed

    monkeypatch.setattr(commands, "open_feed", fake_feed)
    return inv, feed


@pytest.mark.parametrize("action", ACTIONS, ids=" ".join)
def test_read_only_refuses_every_action_and_runs_nothing(
        action: list[str], watched: tuple[Path, FakeFeed], tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    inv, feed = watched
    for extra in ([], ["--yes"], ["-y"]):
        assert cli.main(["-i", str(inv), "--read-only", *action, *extra]) == 2
        _out, err = capsys.readouterr()
        assert "--read-only" in err and "was not carried out" in err
        assert err.count("\n") == 1 and "Traceback" not in err
    assert feed.cluster.calls == []
    assert not (tmp_path / "state" / "switchboard" / "audit.jsonl").exists()
    assert all(p.live() == p.running for p in feed.cluster.proxies.values())


def test_read_only_console_has_no_dispatcher(monkeypatch: pytest.MonkeyPatch, tmp_path: Path
                                             ) -> None:
    inv = tmp_path / "inventory.toml"
    inv.write_text(INVENTORY)
    made: dict[str, Any] = {}

    class App:
        return_code = 0

        def __init__(self, feed: Any, **kw: Any) -> None:
            made.update(kw)

        def run(self) -> None:
            return None

    import collectors.runtime
    import console.app

    monkeypatch.setattr(console.app, "SwitchboardApp", App)
    monkeypatch.setattr(collectors.runtime, "ClusterFeed", lambda *a, **k: object())
    assert cli.main(["-i", str(inv), "--read-only", "console"]) == 0
    assert made["dispatcher"] is None and made["read_only"] is True


def test_errors_never_carry_key_material_in_asyncssh_messages(tmp_path: Path) -> None:
    """asyncssh's own key errors, for the record: they name neither contents nor passphrase."""
    keys = _bad_keys(tmp_path, _good_key(tmp_path))
    for path in keys.values():
        with pytest.raises((asyncssh.KeyImportError, OSError)) as e:
            asyncssh.load_keypairs([str(path)])
        for material in _key_material(path):
            assert material not in str(e.value)


def _good_key(tmp: Path) -> Path:
    path = tmp / "good_key"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(path))
    return path
