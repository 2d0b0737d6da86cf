"""The console's cost rules: linear table work, cells drawn as DataTable would, quiet idle."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from textual.geometry import Region
from textual.widgets import DataTable

from console import columns as cols
from console import format as fmt
from console.app import SwitchboardApp
from console.widgets.backends import BackendTable
from console.widgets.cells import Cell, QuickTable
from console.widgets.header import Banner, HeaderBar
from console.widgets.proxies import ProxyPanel
from state.snapshot import BackendView, Snapshot, WindowStats
from tests.unit import console_fixtures as fx

# Real processes (sshd, nginx -t, a Textual pilot) or many examples: seconds, not ms.
pytestmark = pytest.mark.slow


def slower(snap: Snapshot) -> Snapshot:
    """Every backend a little slower: new figures in most cells of every row."""
    def bump(b: BackendView) -> BackendView:
        windows = {k: replace(w, rate=w.rate + 1.0,
                              p95_ms=None if w.p95_ms is None else w.p95_ms + 1.0)
                   for k, w in b.windows.items()}
        return replace(b, windows=windows)
    return replace(snap, backends=tuple(bump(b) for b in snap.backends))


async def stats_calls_per_update(n: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """How often the table reads a backend's figures to show a new snapshot of ``n``."""
    first = fx.big(n)
    feed = fx.FakeFeed(first)
    app = SwitchboardApp(feed, clock=fx.frozen_clock(), refresh_hz=0.01)
    calls = 0
    real = cols.stats

    def counting(b: BackendView, window: str) -> WindowStats:
        nonlocal calls
        calls += 1
        return real(b, window)

    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        monkeypatch.setattr(cols, "stats", counting)
        feed.push(slower(first))
        app.tick()
        monkeypatch.setattr(cols, "stats", real)
        await pilot.pause()
    return calls


async def test_table_work_per_frame_grows_linearly(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each row once judged against all its peers (O(n²)) made 500 backends unusable.
    small = await stats_calls_per_update(100, monkeypatch)
    large = await stats_calls_per_update(200, monkeypatch)
    assert small > 0
    assert large <= 2.2 * small, (small, large)


def test_slow_flag_uses_the_peers_median_without_itself() -> None:
    def with_p95(n: int, p95: float | None) -> BackendView:
        return fx.backend(n, p95=p95)

    backends = [with_p95(1, 10.0), with_p95(2, 10.0), with_p95(3, 30.0), with_p95(4, None)]
    ctx = cols.context(backends, "1m")
    drift = 1 + (60 / 900) * 0.1  # the fixture's 1m window drift
    assert ctx.median_without(30.0 * drift) == pytest.approx(10.0 * drift)
    assert cols.is_slow(backends[2], ctx)
    assert not cols.is_slow(backends[0], ctx)  # its peers' median is (10 + 30) / 2
    assert not cols.is_slow(backends[3], ctx)  # no p95, nothing to judge
    alone = cols.context(backends[:1], "1m")
    assert not cols.is_slow(backends[0], alone)


def lines(table: QuickTable[Any]) -> list[list[Any]]:
    table._clear_caches()
    table._styles_cache.clear()
    return [list(strip) for strip in table.render_lines(Region(0, 0, *table.size))]


@pytest.mark.parametrize("theme", ["switchboard-dark", "switchboard-light",
                                   "switchboard-high-contrast"])
async def test_quick_cells_draw_exactly_what_datatable_draws(
        theme: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = SwitchboardApp(fx.FakeFeed(fx.big(60)), clock=fx.frozen_clock(), theme=theme)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        table = app.query_one(BackendTable)
        for move in ("down", "down", "pagedown", "ctrl+end", "tab"):  # and focus lost
            await pilot.press(move)
            await pilot.pause()
            ours = lines(table)
            with monkeypatch.context() as m:
                for name in ("render_lines", "render_line", "_render_line_in_row",
                             "_render_cell"):
                    m.setattr(QuickTable, name, getattr(DataTable, name))
                theirs = lines(table)
            assert ours == theirs, move


async def test_same_snapshot_redraws_nothing_and_the_clock_only_the_header(
        monkeypatch: pytest.MonkeyPatch) -> None:
    now = [fx.NOW]
    app = SwitchboardApp(fx.FakeFeed(fx.stale()), clock=lambda: now[0], refresh_hz=0.01)
    updates: list[tuple[str, bool]] = []

    def recording(cls: type[Any]) -> Callable[..., None]:
        real = cls.update

        def update(self: Any, content: Any = "", *, layout: bool = True) -> None:
            updates.append((cls.__name__, layout))
            real(self, content, layout=layout)
        return update

    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        table = app.query_one(BackendTable)
        for cls in (HeaderBar, Banner, ProxyPanel):
            monkeypatch.setattr(cls, "update", recording(cls))
        drawn = table._update_count
        for _ in range(3):
            app.tick()
        assert updates == []
        assert table._update_count == drawn
        now[0] += 1.0  # the clock and the stale banner's age move on; nothing else does
        app.tick()
        assert sorted(updates) == [("Banner", False), ("HeaderBar", False)]


async def test_rows_out_of_sight_catch_up_when_scrolled_into_view() -> None:
    first = fx.big(120)
    feed = fx.FakeFeed(first)
    app = SwitchboardApp(feed, clock=fx.frozen_clock(), refresh_hz=0.01)
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause()
        table = app.query_one(BackendTable)
        last = table.row_keys[-1]
        later = slower(first)
        feed.push(later)
        app.tick()
        await pilot.pause()
        wanted = fmt.rate(next(b for b in later.backends if cols.row_key(b) == last)
                          .windows["1m"].rate)
        shown = table.get_cell(last, "rate")
        assert isinstance(shown, Cell) and shown.plain != wanted  # not drawn: not written
        await pilot.press("ctrl+end")  # the cursor to the last row, which scrolls
        await pilot.pause()
        assert table.scroll_y > 0
        shown = table.get_cell(last, "rate")
        assert isinstance(shown, Cell) and shown.plain == wanted
        top = table.row_keys[0]
        assert table.get_cell(top, "rate").plain == fmt.rate(
            next(b for b in later.backends if cols.row_key(b) == top).windows["1m"].rate)
