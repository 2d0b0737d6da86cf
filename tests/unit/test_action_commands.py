"""The dispatcher over a feed, and the headless `switchboard weight|down|...|failover` commands."""

from __future__ import annotations

import asyncio
import builtins
import io
import json
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from actions import Failover, MarkDown, Refused, SetWeight
from actions.dispatcher import ClusterActions, proxy_order
from console.feed import ActionDispatcher
from state.events import ActionNote, Event
from state.snapshot import HaView, ProxyView, Snapshot
from state.upstreams import ProxyConfig
from switchboard import cli
from switchboard.commands import actions as commands
from tests.unit.executor_fakes import INV, INVENTORY, FakeCluster
from tests.unit.test_executor import UPSTREAM, configs


def ha(active: str | None = "lb1", standby: str | None = "lb2", **kw: Any) -> HaView:
    return HaView("heartbeat", "198.18.0.100", (active,) if active else (), active, standby,
                  kw.get("split_brain", False), kw.get("peer_dead", False),
                  kw.get("links_degraded", False), "lb1 active; lb2 standby")


def proxy(name: str) -> ProxyView:
    return ProxyView(name, "connected", None, None, 0.0, 0, 0, None, None, name == "lb1",
                     "active", 0, None)


class FakeSession:
    def __init__(self, cluster: FakeCluster, host: str) -> None:
        self.cluster, self.host = cluster, host

    async def run(self, argv: Sequence[str], *, check: bool = True,
                  timeout: float | None = 30.0,  # noqa: ASYNC109
                  input: str | None = None, privileged: bool = True) -> Any:
        assert privileged is False  # the executor adds sudo itself
        return await self.cluster.run(self.host, argv, input=input, timeout=timeout or 30.0)


class FakeFeed:
    def __init__(self, cluster: FakeCluster, view: HaView | None = None,
                 drift: tuple[str, ...] = ()) -> None:
        self.cluster = cluster
        self.view = view or ha()
        self.drift = drift
        self.events: list[Event] = []
        self.refreshed = 0

    def snapshot(self) -> Snapshot:
        return Snapshot(0.0, "lab", 0, 0, (), (proxy("lb1"), proxy("lb2")), self.view,
                        self.drift)

    def session(self, host_name: str) -> FakeSession:
        return FakeSession(self.cluster, host_name)

    def configs(self) -> dict[str, ProxyConfig]:
        return {h: p for h, p in configs().items()}

    async def refresh_config(self) -> None:
        self.refreshed += 1

    def publish(self, event: Event) -> None:
        self.events.append(event)


@pytest.fixture
def feed(tmp_path: Path) -> FakeFeed:
    return FakeFeed(FakeCluster(tmp_path / "hosts", configs()))


def test_proxy_order_is_standby_first_active_last() -> None:
    view = Snapshot(0.0, "lab", 0, 0, (), (), ha("lb1", "lb2"))
    assert proxy_order(view, INV) == (["lb2", "lb1"], None)
    view2 = Snapshot(0.0, "lab", 0, 0, (), (), ha("lb2", "lb1"))
    assert proxy_order(view2, INV) == (["lb1", "lb2"], None)
    order, warning = proxy_order(Snapshot(0.0, "lab", 0, 0, (), (), ha(None, None)), INV)
    assert order == ["lb1", "lb2"] and warning and "inventory order" in warning


async def test_dispatcher_applies_over_the_feed_sessions(feed: FakeFeed, tmp_path: Path) -> None:
    from actions.audit import AuditLog

    actions = ClusterActions(feed, INV, AuditLog(tmp_path / "audit.jsonl"))
    plan = actions.plan(SetWeight("web1", 3))
    assert plan.hosts == ("lb2", "lb1")
    lines: list[str] = []
    result = await actions.apply(plan.intent, plan, lines.append)
    assert result.ok and result.message.startswith("set weight of web1 to 3: done")
    assert all("weight=3" in p.live()[UPSTREAM] for p in feed.cluster.proxies.values())
    assert feed.refreshed == 1
    notes = [e for e in feed.events if isinstance(e, ActionNote)]
    assert notes[0].action == "weight" and notes[-1].level == "success"


async def test_dispatcher_refuses_read_only_busy_and_foreign_plans(feed: FakeFeed) -> None:
    with pytest.raises(Refused, match="read-only"):
        ClusterActions(feed, INV, None, read_only=True).plan(SetWeight("web1", 3))
    actions = ClusterActions(feed, INV, None)
    plan = actions.plan(SetWeight("web1", 3))
    with pytest.raises(Refused, match="not made for this action"):
        await actions.apply(SetWeight("web1", 4), plan, print)
    hold = asyncio.Event()

    def slow(host: str, argv: tuple[str, ...]) -> None:
        hold.set()

    feed.cluster.hooks.append(slow)
    first = asyncio.create_task(actions.apply(plan.intent, plan, lambda _l: None))
    await hold.wait()
    second = await actions.apply(plan.intent, plan, lambda _l: None)
    assert second.refused and "another action is still running" in second.message
    assert (await first).ok


def test_cluster_actions_is_the_consoles_dispatcher(feed: FakeFeed) -> None:
    dispatcher: ActionDispatcher = ClusterActions(feed, INV, None)  # checked by mypy
    preview = dispatcher.plan(SetWeight("web1", 3))
    assert preview.title == "set weight of web1 to 3" and preview.risk == "normal"
    assert "+    server 198.18.0.21:8001 weight=3" in preview.render()


def test_failover_is_refused_by_the_ha_view(feed: FakeFeed) -> None:
    actions = ClusterActions(feed, INV, None)
    plan = actions.plan(Failover())
    assert plan.hosts == ("lb2", "lb1") and plan.risk == "risky"
    assert plan.steps[0].description.startswith("nginx is running on lb2")
    feed.view = ha(split_brain=True)
    with pytest.raises(Refused, match="split brain"):
        actions.plan(Failover())
    feed.view = ha()
    feed.drift = ("web_servers: 198.18.0.22:8001 weight 1 on lb1, 3 on lb2",)
    with pytest.raises(Refused, match="upstreams differ"):
        actions.plan(Failover())
    feed.view = ha(None, None)
    with pytest.raises(Refused, match="names none yet"):
        actions.plan(Failover())


# -- the command line ---------------------------------------------------------------------------


@pytest.fixture
def cli_env(feed: FakeFeed, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    inv = tmp_path / "inventory.toml"
    inv.write_text(INVENTORY)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))

    @asynccontextmanager
    async def fake_feed(_inv: Any, _accept: bool) -> AsyncIterator[FakeFeed]:
        yield feed

    monkeypatch.setattr(commands, "open_feed", fake_feed)
    return inv


def tty(monkeypatch: pytest.MonkeyPatch, *answers: str) -> list[str]:
    prompts: list[str] = []
    replies = iter(answers)

    def fake_input(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(replies)

    monkeypatch.setattr(sys, "stdin", io.StringIO())
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(builtins, "input", fake_input)
    return prompts


def test_dry_run_prints_the_plan_and_changes_nothing(cli_env: Path, feed: FakeFeed,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-i", str(cli_env), "weight", "web1", "3", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Plan: set weight of web1 to 3" in out and "+    server 198.18.0.21:8001 weight=3" \
        in out and "(dry run: nothing was changed)" in out
    assert not any(a == ("nginx", "-s", "reload") for _h, a in feed.cluster.calls)
    # --read-only still allows looking at a plan
    assert cli.main(["-i", str(cli_env), "--read-only", "down", "web2", "--dry-run"]) == 0


def test_read_only_and_no_terminal_refuse_with_2(cli_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-i", str(cli_env), "--read-only", "weight", "web1", "3", "--yes"]) == 2
    assert "--read-only" in capsys.readouterr().err
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    assert cli.main(["-i", str(cli_env), "reload"]) == 2
    assert "add --yes" in capsys.readouterr().err


def test_yes_applies_and_prints_each_step(cli_env: Path, feed: FakeFeed, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["-i", str(cli_env), "weight", "web1", "3", "--yes"]) == 0
    out = capsys.readouterr().out
    assert "  [lb2] reload: ok (" in out and "set weight of web1 to 3: done on lb2, lb1" in out
    audit = (tmp_path / "state" / "switchboard" / "audit.jsonl").read_text().splitlines()
    assert [json.loads(line)["kind"] for line in audit] == ["plan", "result"]


def test_prompt_yes_no_and_typed_name_for_risky(cli_env: Path, feed: FakeFeed,
                                                monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    prompts = tty(monkeypatch, "n")
    assert cli.main(["-i", str(cli_env), "weight", "web1", "3"]) == 2
    assert prompts == ["Apply 'set weight of web1 to 3'? [y/N] "]
    prompts = tty(monkeypatch, "y")
    assert cli.main(["-i", str(cli_env), "weight", "web1", "3"]) == 0
    # Failover always needs the cluster's name typed.
    prompts = tty(monkeypatch, "yes")
    assert cli.main(["-i", str(cli_env), "failover"]) == 2
    assert prompts[0].endswith("type lab to apply 'fail over to the standby (lb1 → lb2)': ")
    assert "not confirmed" in capsys.readouterr().err


def test_refusals_from_the_rules_exit_2(cli_env: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    assert cli.main(["-i", str(cli_env), "up", "web1", "--yes"]) == 2
    assert "is not down; nothing to change" in capsys.readouterr().err


def test_markdown_intent_from_the_command_line() -> None:
    args = cli.build_parser().parse_args(["down", "web2", "--upstream", "web_servers"])
    assert args.make_intent(args) == MarkDown("web2", "web_servers")


def test_durations_share_one_argument_type_with_each_commands_bound(
        capsys: pytest.CaptureFixture[str]) -> None:
    parser = cli.build_parser()
    assert parser.parse_args(["drain", "web1", "--wait", "--timeout", "86400"]).timeout == 86400
    assert parser.parse_args(["watch", "--interval", "0.5"]).interval == 0.5
    for argv, why in ((["drain", "web1", "--timeout", "0"], "between 0 and 86400 seconds"),
                      (["watch", "--interval", "3601"], "between 0 and 3600 seconds"),
                      (["watch", "--interval", "soon"], "not a number of seconds: 'soon'")):
        with pytest.raises(SystemExit) as info:
            parser.parse_args(argv)
        assert info.value.code == 2 and why in capsys.readouterr().err


def test_headless_commands_and_actions_do_not_import_the_textual_console() -> None:
    import ast

    root = Path(__file__).resolve().parents[2]
    for path in [root / "switchboard" / "commands" / "actions.py",
                 *sorted((root / "actions").glob("*.py"))]:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.split(".")[0] in ("console", "textual")], path
