"""Hostile names, paths and values never reach a shell unquoted: locally, over sshd, in plans."""

from __future__ import annotations

import ast
import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actions import SetWeight, build_plan
from actions.audit import AuditLog
from actions.executor import Executor
from collectors.ssh import HostSession
from collectors.supervisor import Backoff
from collectors.tailer import LogTailer
from state.events import LogBatch
from switchboard import cli, remote
from switchboard.commands import actions as commands
from switchboard.nginx_parse import parse_dump
from tests.unit.executor_fakes import INV, INVENTORY, FakeCluster
from tests.unit.nginx_fixtures import dump
from tests.unit.test_action_commands import FakeFeed
from tests.unit.test_executor import configs

from .collectors_sshd import Events, LineEcho, Sshd, sshd  # noqa: F401

# Real processes (sshd, nginx -t, a Textual pilot) or many examples: seconds, not ms.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def nasty(marker: Path) -> list[str]:
    """Values that run ``touch MARKER`` if any shell ever sees them unquoted."""
    m = str(marker)
    return [f"web1;touch {m}", f"$(touch {m})", f"`touch {m}`", f"a\nb\ntouch {m}",
            f"'; touch {m}; '", f'"; touch {m}; "', f"x && touch {m}", f"x | touch {m}",
            f"x > {m}", f"$(printf x > {m})", f"${{IFS}}touch${{IFS}}{m}", "-rf", "--", "*",
            "~root", "$HOME", "\\", "wéb1 日本 ‮rtl", "a\tb c", "", " ", "'", '"', "\\'"]


def _markers(*dirs: Path) -> list[Path]:
    return [p for d in dirs for p in d.rglob("pwned*")]


# -- the one command builder, through a real /bin/sh -------------------------------------------

def _through_sh(line: str, cwd: Path) -> list[str]:
    done = subprocess.run(["sh", "-c", line], cwd=cwd, capture_output=True, check=True,
                          timeout=10)
    return done.stdout.decode().split("\0")[:-1]


def test_every_hostile_value_arrives_as_one_argument(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    values = nasty(marker)
    line = remote.command("printf", "%s\\0", *values)
    assert _through_sh(line, tmp_path) == values
    for sudo in (False, True):
        argv = remote.privileged(["printf", "%s\\0", *values], sudo=sudo)
        assert argv[:3] == (["sudo", "-n", "--"] if sudo else ["printf", "%s\\0", values[0]])
    both = remote.pipeline(["printf", "%s\\0", *values], ["cat"])
    assert _through_sh(both, tmp_path) == values
    assert not marker.exists() and _markers(tmp_path) == []


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(st.characters(exclude_characters="\0", codec="utf-8"), max_size=30),
                min_size=1, max_size=5))
def test_random_text_round_trips_through_the_shell(values: list[str]) -> None:
    line = remote.command("printf", "%s\\0", *values)
    cwd = Path("/tmp")
    assert _through_sh(line, cwd) == values


# -- over a real sshd ----------------------------------------------------------------------------

@asynccontextmanager
async def session_to(server: Sshd, **host: Any) -> AsyncIterator[HostSession]:
    server.trust()
    session = HostSession(server.host(**host), Events(), backoff=Backoff(0.05, 0.3))
    task = asyncio.create_task(session.maintain())
    try:
        await session.connection(15)
        yield session
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_hostile_arguments_over_sshd(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    marker = tmp_path / "pwned"
    values = nasty(marker)
    async with session_to(sshd) as s:
        done = await s.run(["printf", "%s\\0", *values])
        assert done.stdout.split("\0")[:-1] == values
        done = await s.run_script('printf "%s\\0" "$@"', *values)
        assert done.stdout.split("\0")[:-1] == values
        # a file whose name is made of shell metacharacters: written and read back intact
        weird = tmp_path / "up $(touch pwned2) ;`touch pwned3`'\" &.conf"
        await s.upload(str(weird), "upstream u { server 127.0.0.1; }\n")
        assert weird.read_text() == "upstream u { server 127.0.0.1; }\n"
        assert await s.read_file(str(weird)) == weird.read_text()
    assert not marker.exists()
    assert _markers(tmp_path, Path("/root")) == []


async def test_access_log_path_with_metacharacters_is_followed(
        sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    log = tmp_path / "access $(touch pwned) ;`touch pwned2` 'x'.log"
    log.write_bytes(b"")
    events = Events()
    async with session_to(sshd) as s:
        tailer = LogTailer(s, str(log), events, lambda _: LineEcho(), poll=0.05,
                           settle_polls=4, tick_seconds=0.5)
        task = asyncio.create_task(tailer.run())
        try:
            await events.until(lambda: tailer.position.inode not in ("", "-"))
            with log.open("a") as f:
                f.write("line one\nline two\n")

            def seen() -> list[str]:
                return [r.uri for e in events.items if isinstance(e, LogBatch)
                        for r in e.requests]
            await events.until(lambda: seen() == ["line one", "line two"])
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    assert _markers(tmp_path, Path("/root")) == []


# -- plans over a config whose file path is hostile ----------------------------------------------

HOSTILE_FILE = "/etc/nginx/conf.d/web $(touch pwned1);touch pwned2 `touch pwned3` 'q' &.conf"


async def test_plan_steps_quote_a_hostile_config_path(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    main = f'events {{}}\nhttp {{\n    include "{HOSTILE_FILE}";\n}}\n'
    upstream = ("upstream web_servers {\n    server 198.18.0.21:8001 max_fails=2;\n"
                "    server 198.18.0.22:8001;\n}\n")
    text = dump({"/etc/nginx/nginx.conf": main, HOSTILE_FILE: upstream})
    cfgs = {h: parse_dump(text, h) for h in ("lb2", "lb1")}
    monkeypatch.chdir(tmp_path)  # a relative `touch` would land here
    cluster = FakeCluster(tmp_path / "hosts", cfgs)
    plan = build_plan(SetWeight("web1", 3), cfgs, ("lb2", "lb1"),
                      {"web1": "198.18.0.21:8001"})
    result = await Executor(cluster, INV, audit=AuditLog(tmp_path / "audit.jsonl")).execute(plan)
    assert result.ok, result.message
    for p in cluster.proxies.values():
        assert "server 198.18.0.21:8001 weight=3 max_fails=2;" in p.live()[HOSTILE_FILE]
        assert p.strays() == []
    assert _markers(tmp_path) == []


# -- the headless commands with hostile arguments ------------------------------------------------

@pytest.fixture
def cli_inv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, FakeFeed]:
    feed = FakeFeed(FakeCluster(tmp_path / "hosts", configs()))
    inv = tmp_path / "inventory.toml"
    inv.write_text(INVENTORY)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)

    @asynccontextmanager
    async def fake_feed(_inv: Any, _accept: bool) -> AsyncIterator[FakeFeed]:
        yield feed

    monkeypatch.setattr(commands, "open_feed", fake_feed)
    return inv, feed


def _changes(feed: FakeFeed) -> list[tuple[str, tuple[str, ...]]]:
    reads = {("nginx", "-T")}
    return [(h, a) for h, a in feed.cluster.calls if a not in reads]


@pytest.mark.parametrize("command", ["weight", "down", "up", "backup", "drain", "undrain"])
def test_hostile_backend_names_are_refused_clearly(command: str, cli_inv: tuple[Path, FakeFeed],
                                                   tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    inv, feed = cli_inv
    for name in nasty(tmp_path / "pwned"):
        if name.startswith("-"):
            continue  # argparse reads these as options
        extra = ["3"] if command == "weight" else []
        code = cli.main(["-i", str(inv), command, name, *extra, "--yes"])
        err = capsys.readouterr().err
        assert code == 2, (name, err)
        assert f"unknown backend {name!r}" in err and "Traceback" not in err
    assert _changes(feed) == [] and _markers(tmp_path) == []


def test_hostile_upstream_names_and_weights_are_refused(cli_inv: tuple[Path, FakeFeed],
                                                        tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    inv, feed = cli_inv
    for name in nasty(tmp_path / "pwned"):
        if name.startswith("-"):
            continue
        code = cli.main(["-i", str(inv), "down", "web1", "--upstream", name, "--yes"])
        err = capsys.readouterr().err
        assert code == 2 and f"no upstream named {name!r}" in err
        with pytest.raises(SystemExit) as exit_:
            cli.main(["-i", str(inv), "weight", "web1", name, "--yes"])
        assert exit_.value.code == 2
        assert "not a whole number" in capsys.readouterr().err
    assert _changes(feed) == [] and _markers(tmp_path) == []


def test_failover_to_a_hostile_proxy_name_is_refused(cli_inv: tuple[Path, FakeFeed],
                                                     tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    inv, feed = cli_inv
    name = f"lb2;touch {tmp_path / 'pwned'}"
    assert cli.main(["-i", str(inv), "failover", "--to", name, "--yes"]) == 2
    assert f"unknown proxy {name!r}" in capsys.readouterr().err
    assert _changes(feed) == [] and _markers(tmp_path) == []


# -- a guard on the source: no remote command is pasted together ---------------------------------

REMOTE_CALLS = {"run", "create_process", "start_process", "run_script"}


def _pasted(node: ast.expr) -> bool:
    """A string built at run time by formatting or concatenation."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(v, ast.FormattedValue) for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add | ast.Mod):
        return True
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("format", "join"))


def test_no_remote_command_is_built_by_string_formatting() -> None:
    offenders: list[str] = []
    for folder in ("collectors", "actions", "switchboard"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr in REMOTE_CALLS):
                    continue
                where = f"{path.relative_to(ROOT)}:{node.lineno}"
                for arg in node.args:
                    if _pasted(arg):
                        offenders.append(f"{where}: a formatted string passed to "
                                         f"{node.func.attr}()")
                    # `sh -c SCRIPT`: the script must be a constant, its values positional
                    if isinstance(arg, ast.List | ast.Tuple):
                        words = arg.elts
                        for i, w in enumerate(words[:-1]):
                            if (isinstance(w, ast.Constant) and w.value == "-c"
                                    and _pasted(words[i + 1])):
                                offenders.append(f"{where}: `sh -c` with a formatted script")
    assert offenders == []
    # Only the SSH session talks to asyncssh, and it quotes through remote.command.
    ssh = (ROOT / "collectors" / "ssh.py").read_text()
    assert "remote.command(*args)" in ssh
    for folder in ("collectors", "actions", "switchboard", "console"):
        for path in (ROOT / folder).rglob("*.py"):
            if path.name != "ssh.py":
                text = path.read_text()
                assert "conn.run(" not in text and "create_process(" not in text, path
