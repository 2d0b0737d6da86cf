"""The `console` sub-command: options, the feed it builds from the inventory, the demo feed."""

from __future__ import annotations

import argparse
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from console.app import SwitchboardApp
from console.demo import DemoFeed
from console.widgets.backends import BackendTable
from switchboard.commands import console as command
from switchboard.errors import InventoryError, RemoteError
from tests.unit import console_fixtures as fx

INVENTORY = """\
[cluster]
name = "prod-eu"
vip = "198.18.0.100"
protected = true
accent = "#ff8800"

[[hosts]]
name = "lb1"
role = "lb"
address = "198.18.0.11"

[[hosts]]
name = "web1"
role = "web"
address = "198.18.0.21"
"""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="switchboard")
    p.add_argument("--inventory")
    p.add_argument("--accept-new-host-keys", action="store_true")
    p.add_argument("--read-only", action="store_true")
    command.register(p.add_subparsers(dest="command"))
    return p


def test_options_and_their_defaults() -> None:
    args = parser().parse_args(["console"])
    assert (args.theme, args.window, args.demo) == ("switchboard-dark", "1m", False)
    args = parser().parse_args(["console", "--theme", "switchboard-high-contrast",
                                "--window", "15m"])
    assert (args.theme, args.window) == ("switchboard-high-contrast", "15m")


def test_unknown_theme_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        parser().parse_args(["console", "--theme", "solarized"])
    assert e.value.code == 2
    assert "switchboard-light" in capsys.readouterr().err


def test_run_builds_the_cluster_feed_from_the_inventory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    inv = tmp_path / "inventory.toml"
    inv.write_text(INVENTORY)
    made: dict[str, Any] = {}

    class ClusterFeed(fx.FakeFeed):
        def __init__(self, inventory: Any, *, accept_new_host_keys: bool) -> None:
            super().__init__(fx.healthy())
            made.update(inventory=inventory, accept=accept_new_host_keys)

    fake = types.ModuleType("collectors.runtime")
    fake.ClusterFeed = ClusterFeed  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "collectors.runtime", fake)

    def run(self: SwitchboardApp) -> None:
        made["app"] = self

    monkeypatch.setattr(SwitchboardApp, "run", run)
    args = parser().parse_args(["--inventory", str(inv), "--accept-new-host-keys",
                                "--read-only", "console", "--window", "5m"])
    assert args.run(args) == 0
    app = made["app"]
    assert made["accept"] is True and made["inventory"].name == "prod-eu"
    assert isinstance(app.feed, ClusterFeed)
    assert app.read_only and app.protected and app.accent == "#ff8800"
    assert app.window == "5m" and app.dispatcher is None


def test_a_bad_accent_colour_names_the_inventory_key(tmp_path: Path) -> None:
    inv = tmp_path / "inventory.toml"
    inv.write_text(INVENTORY.replace('"#ff8800"', '"orangeish"'))
    args = parser().parse_args(["--inventory", str(inv), "console"])
    with pytest.raises(InventoryError) as e:
        args.run(args)
    assert "cluster.accent" in str(e.value) and "orangeish" in str(e.value)
    assert e.value.exit_code == 2


async def test_a_feed_that_cannot_start_ends_the_app_with_its_error() -> None:
    class Refused(fx.FakeFeed):
        async def start(self) -> None:
            raise RemoteError("lb1", "host key not in known_hosts (use --accept-new-host-keys)")

    app = SwitchboardApp(Refused(fx.healthy()), clock=fx.frozen_clock())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
    assert app.return_code == 1


async def test_demo_feed_moves_and_renders() -> None:
    now = [fx.NOW]
    feed = DemoFeed(clock=lambda: now[0])
    app = SwitchboardApp(feed, clock=lambda: now[0])
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(BackendTable)
        assert table.row_count == 3
        first = feed.snapshot().backends[0].windows["1m"].rate
        now[0] += 5
        app.tick()
        await pilot.pause()
        assert feed.snapshot().backends[0].windows["1m"].rate != first
        assert table.row_count == 3
