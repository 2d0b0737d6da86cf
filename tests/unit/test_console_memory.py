"""The console's memory stays bounded: no closed widget kept alive, no past frame's drawing kept."""

from __future__ import annotations

import gc
import weakref
from dataclasses import replace

import pytest
from textual.widgets._footer import FooterKey

from console.app import SwitchboardApp
from console.screens.help import HelpScreen
from console.widgets.backends import BackendTable
from console.widgets.footer import Footer
from state.snapshot import Snapshot
from tests.unit import console_fixtures as fx

# Textual pilots: seconds, not ms.
pytestmark = pytest.mark.slow

CYCLES = 12  # the soak opens help every 10 s: two minutes of it
FRAMES = 80  # about 27 s of refreshes


def keys_alive() -> weakref.WeakSet[FooterKey]:
    gc.collect()
    return weakref.WeakSet(o for o in gc.get_objects() if isinstance(o, FooterKey))


async def test_opening_and_closing_help_leaves_no_footer_keys_behind() -> None:
    app = SwitchboardApp(fx.FakeFeed(fx.healthy()), clock=fx.frozen_clock())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        footer = app.query_one(Footer)
        before = keys_alive()  # other tests' apps may have left some for the collector
        for _ in range(CYCLES):
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            await pilot.pause()
        shown = set(footer.query(FooterKey))
        assert shown
        # Each open and close rebuilds the footer twice; before the fix every rebuilt
        # key stayed alive (9 keys x 2 x 12 cycles here), held by the footer's watchers.
        leaked = {key for key in keys_alive() if key not in before} - shown
        assert not leaked, f"{len(leaked)} closed footer keys are still alive"


async def test_keys_rebuilt_after_help_still_follow_the_footer() -> None:
    app = SwitchboardApp(fx.FakeFeed(fx.healthy()), clock=fx.frozen_clock())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        for _ in range(3):
            await pilot.press("question_mark", "escape")
            await pilot.pause()
        footer = app.query_one(Footer)
        assert all(key.compact for key in footer.query(FooterKey))
        footer.compact = False
        await pilot.pause()
        # The watchers the rebuilt keys placed on the footer were kept: they still follow.
        assert not any(key.compact for key in footer.query(FooterKey))


def busy(k: int) -> Snapshot:
    """web2 retries thousands of requests elsewhere: its 'hid' count overflows its cell."""
    s = fx.healthy()
    return replace(s, backends=(s.backends[0],
                                fx.backend(2, rate=100.0 + k, hidden=0.2), *s.backends[2:]))


async def test_redrawn_cells_do_not_pile_up_in_the_table_caches() -> None:
    feed = fx.FakeFeed(busy(0))
    app = SwitchboardApp(feed, clock=fx.frozen_clock(), refresh_hz=0.01)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        table = app.query_one(BackendTable)
        hidden = next(c for c in table.visible_columns if c.key == "hidden")
        assert len(str(busy(0).backends[1].windows["1m"].hidden_errors)) > hidden.width
        for k in range(1, FRAMES + 1):
            feed.push(busy(k))
            app.tick()
            await pilot.pause()
        # DataTable keys what it drew by an update count that moves on every frame; entries
        # of past counts are never read again. Before the fix they stayed, one per frame.
        cells = table.row_count * len(table.columns)
        assert len(table._cell_render_cache) <= cells, "cells drawn for past frames kept"
        lines = table.size.height + table.header_height
        assert len(table._line_cache) <= lines, "lines drawn for past frames kept"
