"""The console under a pilot: navigation, sorting, filtering, windows, banners, help, palette."""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from rich.console import Console
from textual.command import CommandPalette
from textual.widgets import OptionList, Static

from console.app import SwitchboardApp
from console.screens.detail import DetailScreen
from console.screens.help import HelpScreen
from console.widgets.backends import BackendTable
from console.widgets.events import EventLog
from console.widgets.header import Banner
from tests.unit import console_fixtures as fx

# Real processes (sshd, nginx -t, a Textual pilot) or many examples: seconds, not ms.
pytestmark = pytest.mark.slow


def make(snap=None, **kw) -> tuple[SwitchboardApp, fx.FakeFeed]:  # type: ignore[no-untyped-def]
    feed = fx.FakeFeed(snap or fx.healthy())
    return SwitchboardApp(feed, clock=fx.frozen_clock(), **kw), feed


def plain(widget: object) -> str:
    """What a Static shows, as plain text."""
    assert isinstance(widget, Static)
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(widget.content)
    return out.getvalue()


def names(app: SwitchboardApp) -> list[str]:
    table = app.query_one(BackendTable)
    return [key.rsplit("/", 1)[-1] for key in table.rows_keys()]


async def test_starts_and_stops_the_feed_and_lists_backends_by_name() -> None:
    app, feed = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert feed.started
        assert names(app) == [f"198.18.0.{20 + i}:8001" for i in (1, 2, 3, 4)]
        assert not app.query_one(Banner).display
    assert feed.stopped


async def test_cursor_moves_and_enter_opens_detail_then_escape_returns() -> None:
    app, _ = make()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(BackendTable)
        await pilot.press("down", "down")
        assert table.selected == "web_servers/198.18.0.23:8001"
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, DetailScreen)
        assert app.screen.key == "web_servers/198.18.0.23:8001"
        title = plain(app.screen.query_one("#detail-title"))
        assert "web3" in title
        config = plain(app.screen.query_one("#detail-config"))
        assert "/etc/nginx/conf.d/upstream.conf:4" in config
        errors = plain(app.screen.query_one("#detail-errors"))
        assert "upstream timed out" in errors
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)
        assert table.selected == "web_servers/198.18.0.23:8001"


async def test_s_cycles_sort_and_header_click_sorts_and_reverses() -> None:
    app, _ = make()
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.query_one(BackendTable)
        await pilot.press("s")
        assert table.sort_column == "state"
        assert names(app)[0] == "198.18.0.24:8001"  # backup sorts before up
        # Click the "req/s" header: busiest first; click again: quietest first.
        x = 0
        for col in table.ordered_columns:
            if col.key.value == "rate":
                break
            x += col.get_render_width(table)
        await pilot.click(BackendTable, offset=(x + 2, 0))
        assert table.sort_column == "rate"
        assert names(app) == [f"198.18.0.{20 + i}:8001" for i in (1, 2, 3, 4)]
        await pilot.click(BackendTable, offset=(x + 2, 0))
        assert names(app) == [f"198.18.0.{20 + i}:8001" for i in (4, 3, 2, 1)]


async def test_cursor_follows_its_backend_when_updates_reorder_rows() -> None:
    app, feed = make()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(BackendTable)
        table.set_sort("rate")
        await pilot.press("down")  # web2, second busiest
        assert table.selected == "web_servers/198.18.0.22:8001"
        snap = fx.healthy()
        busy = replace(snap.backends[1], windows=fx.windows(900.0, 0.8, 3, 9, 20))
        feed.push(replace(snap, backends=(snap.backends[0], busy, *snap.backends[2:])))
        app.tick()
        await pilot.pause()
        assert names(app)[0] == "198.18.0.22:8001"
        assert table.selected == "web_servers/198.18.0.22:8001"
        assert table.cursor_row == 0


async def test_big_table_updates_in_place_keeping_scroll_and_cursor() -> None:
    app, feed = make(fx.big(120))
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(BackendTable)
        assert table.row_count == 120
        await pilot.press("pagedown", "pagedown", "pagedown", "down")
        await pilot.pause()
        selected, scroll = table.selected, table.scroll_y
        assert scroll > 0
        feed.push(replace(fx.big(120), at=fx.NOW + 1))
        app.tick()
        await pilot.pause()
        assert table.selected == selected and table.scroll_y == scroll
        assert table.row_count == 120


async def test_filter_narrows_rows_and_escape_clears_it() -> None:
    app, _ = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("slash")
        await pilot.press(*"web3")
        assert names(app) == ["198.18.0.23:8001"]
        await pilot.press("enter")  # keeps the filter, back to the table
        assert app.focused is app.query_one(BackendTable)
        assert names(app) == ["198.18.0.23:8001"]
        await pilot.press("slash", "escape")
        assert len(names(app)) == 4
        await pilot.press("slash", *"backup", "enter")
        assert names(app) == ["198.18.0.24:8001"]


async def test_window_keys_switch_the_figures() -> None:
    app, _ = make()
    async with app.run_test(size=(80, 24)) as pilot:
        assert app.window == "1m"
        await pilot.press("3")
        assert app.window == "5m"
        assert app.query_one(BackendTable).window == "5m"
        await pilot.press("t")
        assert app.window == "15m"
        await pilot.press("t")
        assert app.window == "10s"
        header = plain(app.query_one("#header"))
        assert "window 10s" in header


async def test_banner_for_split_brain_stale_and_disconnected() -> None:
    app, feed = make()
    async with app.run_test(size=(80, 24)) as pilot:
        banner = app.query_one(Banner)
        assert not banner.display
        for snap, words in ((fx.split_brain(), "SPLIT BRAIN"), (fx.stale(), "STALE DATA"),
                            (fx.disconnected(), "lb2 DISCONNECTED")):
            feed.push(snap)
            app.tick()
            await pilot.pause()
            assert banner.display, words
            assert words in plain(banner)
        feed.push(fx.healthy())
        app.tick()
        await pilot.pause()
        assert not banner.display


async def test_stale_follows_the_clock_not_new_snapshots() -> None:
    now = [fx.NOW]
    feed = fx.FakeFeed(fx.healthy())
    app = SwitchboardApp(feed, clock=lambda: now[0])
    async with app.run_test(size=(80, 24)) as pilot:
        banner = app.query_one(Banner)
        assert not banner.display
        now[0] += 30  # the same snapshot, 30 s later: the data is old
        app.tick()
        await pilot.pause()
        assert banner.display and "STALE DATA: no event for 30s" in plain(banner)


async def test_event_log_shows_feed_events_and_noticed_transitions_newest_first() -> None:
    app, feed = make()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(EventLog)
        assert [n.action for n in log.notes] == ["SetWeight", "connection", "Reload"]
        later = replace(fx.disconnected(), at=fx.NOW + 5)
        feed.push(later)
        app.tick()
        await pilot.pause()
        messages = [n.message for n in log.notes]
        assert "lb2 connected → retrying: Connection refused" in messages
        assert "HA peer dead" in messages
        assert log.notes[0].at == fx.NOW + 5
        await pilot.press("e")
        assert app.focused is log


async def test_help_is_generated_from_the_key_table() -> None:
    app, _ = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = plain(app.screen.query_one("#help-text"))
        for word in ("Drain the selected backend", "Move the VIP", "Sort by the next",
                     "Filter backends"):
            assert word in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_palette_lists_every_action_with_its_key() -> None:
    app, _ = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert isinstance(app.screen, CommandPalette)
        await app.screen.workers.wait_for_complete()
        await pilot.pause()
        options = app.screen.query_one(OptionList)
        prompts = [str(options.get_option_at_index(i).prompt)
                   for i in range(options.option_count)]
        joined = "\n".join(prompts)
        for title in ("Weight (w)", "Down (d)", "Backup (b)", "Drain (D)", "Reload (r)",
                      "Failover (F)", "Filter (/)", "Help (?)", "Quit (q)", "Sort (s)"):
            assert title in joined, title


async def test_narrow_and_wide_layouts_choose_columns() -> None:
    app, _ = make()
    async with app.run_test(size=(80, 24)):
        keys = [c.key for c in app.query_one(BackendTable).visible_columns]
        assert "spark" not in keys and "p50" not in keys
    app, _ = make()
    async with app.run_test(size=(160, 48)):
        keys = [c.key for c in app.query_one(BackendTable).visible_columns]
        assert "spark" in keys and "p50" in keys


async def test_theme_option_selects_a_registered_theme() -> None:
    app, _ = make(theme="switchboard-high-contrast")
    async with app.run_test(size=(80, 24)):
        assert app.theme == "switchboard-high-contrast"
        assert {"switchboard-dark", "switchboard-light"} <= set(app.available_themes)


async def test_a_tick_after_shutdown_is_harmless() -> None:
    # The interval timer can fire once more while the screens are being torn down.
    app, _ = make()
    async with app.run_test(size=(80, 24)):
        pass
    app.tick()


async def test_a_config_that_cannot_be_read_raises_a_banner_and_shows_why() -> None:
    app, feed = make()
    async with app.run_test(size=(120, 30)) as pilot:
        snap = fx.healthy()
        lb1 = replace(snap.proxies[0], config_error="nginx -T exited with 1: permission denied")
        feed.push(replace(snap, proxies=(lb1, *snap.proxies[1:])))
        app.tick()
        await pilot.pause()
        banner = app.query_one(Banner)
        assert banner.display and f"{lb1.name} CONFIG NOT READ" in plain(banner)
        assert "permission denied" in plain(app.query_one("#proxies"))
        feed.push(fx.healthy())
        app.tick()
        await pilot.pause()
        assert not banner.display
