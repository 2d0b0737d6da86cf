"""Acceptance on the real lab: a 3:1 split seen as the backends logged it, the console live.

Run with ``-s`` to see the figures (FIGURE lines).
"""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

import pytest
from rich.console import Console
from textual.widgets import Static

from collectors.runtime import ClusterFeed
from console.app import SwitchboardApp
from console.widgets.backends import BackendTable
from console.widgets.header import HeaderBar
from state.snapshot import Snapshot
from tests.lab import faultkit as fk
from tests.lab.conftest import Lab

pytestmark = pytest.mark.lab

HB_STANDBY = "/usr/share/heartbeat/hb_standby"
WEBS = ("web1", "web2")


@pytest.mark.slow
async def test_weight_3_to_1_splits_traffic_75_25_as_the_backends_logged_it(lab: Lab) -> None:
    with fk.upstream_kept():
        changed = await asyncio.to_thread(fk.switchboard, "weight", "web1", "3", "--yes")
        try:
            assert changed.returncode == 0, changed.stdout + changed.stderr
            assert "done on" in changed.stdout
            for h in fk.PROXIES:
                text = fk.on_host(h, fk.UPSTREAM).read_text()
                assert "server 198.18.0.21:8001 weight=3 " in text
            async with fk.live_feed(lab) as feed:
                await fk.until(lambda: fk.backend(feed.snapshot(), "web1").config is not None,
                               "the proxies' configs read")
                snap = feed.snapshot()
                assert fk.backend(snap, "web1").configured_share == pytest.approx(0.75)
                marks = {w: await fk.log_size(feed, w) for w in WEBS}
                sent = await fk.traffic(60, 20)  # 1,200 requests over 20 s
                assert (sent.sent, sent.failed) == (1200, 0), sent.summary
                served = {w: await fk.lines_after(feed, w, marks[w]) for w in WEBS}
                assert sum(served.values()) == 1200

                def attempts(s: Snapshot) -> dict[str, int]:
                    # 5 min: the whole life of this feed, so every request of the run
                    return {w: fk.backend(s, w).windows["5m"].attempts for w in WEBS}

                await fk.until(lambda: sum(attempts(feed.snapshot()).values()) >= 1200,
                               "every request of the run in the state")
                await asyncio.sleep(0.5)  # nothing more may arrive: no duplicate
                snap = feed.snapshot()
                assert attempts(snap) == served
                assert snap.requests == 1200 and snap.malformed == 0
                share = fk.backend(snap, "web1").windows["5m"].share
                assert abs(share - 0.75) <= 0.02, share
                print(f"\nFIGURE split at 3:1 over {sent.sent} requests ({sent.rate:.0f}/s): "
                      f"web1 {share:.2%}; state {attempts(snap)} = backends' logs {served}")
        finally:
            back = await asyncio.to_thread(fk.switchboard, "weight", "web1", "1", "--yes")
            assert back.returncode == 0, back.stdout + back.stderr


def plain(widget: object) -> str:
    assert isinstance(widget, Static)
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(widget.content)
    return out.getvalue()


class Notes:
    """The app's notifications, kept as text instead of shown."""

    def __init__(self, app: SwitchboardApp) -> None:
        self.messages: list[str] = []
        app.notify = self  # type: ignore[method-assign]

    def __call__(self, message: str, **kw: Any) -> None:
        self.messages.append(f"{kw.get('title') or ''}: {message}")


class NoDispatcher:
    """Fails the test if the read-only console ever plans or applies anything."""

    def plan(self, intent: object) -> Any:
        raise AssertionError(f"read-only console planned {intent!r}")

    async def apply(self, intent: object, plan: object, progress: Any) -> Any:
        raise AssertionError(f"read-only console applied {intent!r}")


def rates(app: SwitchboardApp) -> dict[str, float]:
    """The req/s column of each row, by backend name, as the table shows it."""
    table = app.query_one(BackendTable)
    names = {f"198.18.0.{20 + i}:8001": f"web{i}" for i in (1, 2)}
    out = {}
    for key in table.rows_keys():
        name = names.get(key.rsplit("/", 1)[-1], key)
        cell = table.get_cell(key, "rate")  # a Text, or the table's own lazy Cell
        out[name] = float(str(getattr(cell, "plain", cell)).strip() or 0)
    return out


@pytest.mark.slow
async def test_console_shows_live_rows_follows_a_failover_and_refuses_actions(lab: Lab) -> None:
    feed = ClusterFeed(lab.inventory, ha_interval=0.5, stub_interval=0.5, log_poll=0.1)
    app = SwitchboardApp(feed, dispatcher=NoDispatcher(), read_only=True, refresh_hz=5)
    notes = Notes(app)
    load = asyncio.create_task(fk.traffic(40, 18))
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            live = await fk.until(lambda: all(v > 0 for v in rates(app).values())
                                  and set(rates(app)) >= set(WEBS),
                                  "both backends' rows with a rate above 0", within=20)
            header = app.query_one(HeaderBar)
            await fk.until(lambda: feed.snapshot().ha.active is not None, "an active proxy")
            active = feed.snapshot().ha.active
            assert active is not None
            other = next(p for p in fk.PROXIES if p != active)
            await fk.until(lambda: f"{active} active" in plain(header), "the header's active")
            await feed.session(active).run([HB_STANDBY])
            moved = await fk.until(lambda: f"VIP {lab.inventory.vip}→{other} " in plain(header)
                                   and f"{other} active" in plain(header),
                                   f"the header showing {other} active", within=20)
            assert f"{active} active" not in plain(header)
            for key in ("w", "d", "b", "D", "r", "F"):
                await pilot.press(key)
            await app.workers.wait_for_complete()
            refused = [m for m in notes.messages if "is refused" in m]
            assert len(refused) == 6, notes.messages
            print(f"\nFIGURE console: rows live after {live:.1f} s; header showed {other} "
                  f"active {moved:.1f} s after hb_standby on {active}; rates {rates(app)}")
    finally:
        sent = await load
    # A keep-alive connection open to the old holder when the VIP moves is reset: a client
    # that does not retry sees that one request fail, whatever the console does.
    assert sent.failed <= 3, sent.summary
    print(f"FIGURE console traffic during the failover: {sent.summary}")


def test_watch_json_once_prints_both_backends_and_the_active_proxy(lab: Lab) -> None:
    done = fk.switchboard("watch", "--json", "--once")
    assert done.returncode == 0, done.stderr
    snap = json.loads(done.stdout.strip().splitlines()[-1])
    assert sorted(b["name"] for b in snap["backends"]) == list(WEBS)
    assert all(b["weight"] == 1 for b in snap["backends"])
    assert snap["ha"]["active"] in fk.PROXIES
    assert snap["ha"]["vip_holders"] == [snap["ha"]["active"]]
