"""SVG snapshots of the console's screens with frozen data and a frozen clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from textual.pilot import Pilot

from console.app import SwitchboardApp
from console.screens.confirm import ConfirmScreen
from state.snapshot import Snapshot
from tests.unit import console_fixtures as fx

# Real processes (sshd, nginx -t, a Textual pilot) or many examples: seconds, not ms.
pytestmark = pytest.mark.slow

Compare = Callable[..., bool]


def app(snap: Snapshot | None = None, **kw: Any) -> SwitchboardApp:
    return SwitchboardApp(fx.FakeFeed(snap or fx.healthy()), clock=fx.frozen_clock(), **kw)


def test_main_screen_80x24(snap_compare: Compare) -> None:
    assert snap_compare(app(), terminal_size=(80, 24))


def test_main_screen_160x48(snap_compare: Compare) -> None:
    assert snap_compare(app(), terminal_size=(160, 48))


def test_split_brain_banner_80x24(snap_compare: Compare) -> None:
    assert snap_compare(app(fx.split_brain()), terminal_size=(80, 24))


def test_disconnected_and_stale_160x48_light(snap_compare: Compare) -> None:
    snap = replace(fx.disconnected(), last_event_at=fx.NOW - 42)
    assert snap_compare(app(snap, theme="switchboard-light"), terminal_size=(160, 48))


def test_big_table_high_contrast_160x48(snap_compare: Compare) -> None:
    assert snap_compare(app(fx.big(120), theme="switchboard-high-contrast",
                            accent="#FF8800"), terminal_size=(160, 48))


def test_detail_screen_80x24(snap_compare: Compare) -> None:
    assert snap_compare(app(), press=["down", "down", "enter"], terminal_size=(80, 24))


def test_risky_confirm_dialog_80x24(snap_compare: Compare) -> None:
    async def failover(pilot: Pilot[Any]) -> None:
        await pilot.press("F")
        for _ in range(100):  # the action worker pushes the dialog when it gets its turn
            if isinstance(pilot.app.screen, ConfirmScreen):
                break
            await pilot.pause()

    assert snap_compare(app(dispatcher=fx.FakeDispatcher()), run_before=failover,
                        terminal_size=(80, 24))


def test_help_screen_read_only_80x24(snap_compare: Compare) -> None:
    assert snap_compare(app(read_only=True), press=["question_mark"], terminal_size=(80, 24))
