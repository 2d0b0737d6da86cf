"""Action keys: plan, confirm (type-to-confirm when risky), apply; refused in read-only mode."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Button, Footer, Input, Static

from actions import intents
from console.app import SwitchboardApp
from console.screens.confirm import ConfirmScreen
from console.screens.help import HelpScreen
from console.screens.prompt import NumberPrompt
from console.widgets.events import EventLog
from switchboard.errors import RemoteError
from tests.unit import console_fixtures as fx

# Real processes (sshd, nginx -t, a Textual pilot) or many examples: seconds, not ms.
pytestmark = pytest.mark.slow


class Recorder:
    """Collects the app's notifications instead of showing toasts."""

    def __init__(self, app: SwitchboardApp) -> None:
        self.messages: list[str] = []
        app.notify = self  # type: ignore[method-assign]

    def __call__(self, message: str, **kw: Any) -> None:
        self.messages.append(f"{kw.get('title') or ''}: {message}")

    @property
    def text(self) -> str:
        return "\n".join(self.messages)


async def until_screen(pilot: Pilot[Any], kind: type) -> Any:
    """Let the action worker run until it has pushed a screen of ``kind`` (bounded)."""
    for _ in range(100):
        if isinstance(pilot.app.screen, kind):
            return pilot.app.screen
        await pilot.pause()
    raise AssertionError(f"{kind.__name__} never showed; screen is {pilot.app.screen!r}")


def make(snap=None, **kw: Any) -> tuple[SwitchboardApp, Recorder]:  # type: ignore[no-untyped-def]
    app = SwitchboardApp(fx.FakeFeed(snap or fx.healthy()), clock=fx.frozen_clock(), **kw)
    return app, Recorder(app)


async def test_without_dispatcher_keys_say_what_they_would_do() -> None:
    app, notes = make()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        await app.workers.wait_for_complete()
        assert "Would mark web1 down in web_servers" in notes.text
        assert "not wired" in notes.text
        await pilot.press("F")
        await app.workers.wait_for_complete()
        assert "Would fail over to the standby" in notes.text


async def test_normal_plan_is_confirmed_with_y_and_applied() -> None:
    d = fx.FakeDispatcher()
    app, notes = make(dispatcher=d)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down", "d")
        await until_screen(pilot, ConfirmScreen)
        assert app.screen.confirm_word is None
        assert d.planned == [intents.MarkDown("web2", upstream="web_servers")]
        await pilot.press("y")
        await app.workers.wait_for_complete()
        assert d.applied == [intents.MarkDown("web2", upstream="web_servers")]
        assert "applied on lb1, lb2" in notes.text
        log = [n.message for n in app.query_one(EventLog).notes]
        assert "lb1: nginx -t ok" in log and "applied on lb1, lb2" in log


async def test_cancel_applies_nothing() -> None:
    d = fx.FakeDispatcher()
    app, notes = make(dispatcher=d)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("b")
        await until_screen(pilot, ConfirmScreen)
        await pilot.press("n")
        await app.workers.wait_for_complete()
        assert d.planned == [intents.SetBackup("web1", on=True, upstream="web_servers")]
        assert d.applied == []
        assert "Cancelled" in notes.text


async def test_risky_plan_needs_the_name_typed() -> None:
    d = fx.FakeDispatcher(risk="risky")
    app, _ = make(dispatcher=d)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("D")
        screen = await until_screen(pilot, ConfirmScreen)
        assert screen.confirm_word == "web1"
        apply = screen.query_one("#apply", Button)
        assert apply.disabled
        await pilot.press("y", "enter")  # "y" is typed into the box, not a yes
        await pilot.pause()
        assert app.screen is screen and d.applied == []
        box = screen.query_one("#confirm-input", Input)
        box.value = ""
        await pilot.press(*"web1")
        assert not apply.disabled
        await pilot.press("enter")
        await app.workers.wait_for_complete()
        assert d.applied == [intents.Drain("web1", upstream="web_servers")]


async def test_failover_always_asks_for_the_cluster_name() -> None:
    d = fx.FakeDispatcher()
    app, _ = make(dispatcher=d)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("F")
        await until_screen(pilot, ConfirmScreen)
        assert app.screen.confirm_word == "prod-eu"
        await pilot.press(*"prod-eu", "enter")
        await app.workers.wait_for_complete()
        assert d.applied == [intents.Failover()]


async def test_draining_the_last_active_backend_is_risky_even_if_the_plan_is_not() -> None:
    d = fx.FakeDispatcher()
    app, _ = make(fx.last_active(), dispatcher=d)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("D")
        await until_screen(pilot, ConfirmScreen)
        assert app.screen.confirm_word == "web1"


async def test_protected_cluster_makes_every_action_type_to_confirm() -> None:
    d = fx.FakeDispatcher()
    app, _ = make(dispatcher=d, protected=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        await until_screen(pilot, ConfirmScreen)
        assert app.screen.confirm_word == "prod-eu"
        await pilot.press("escape")
        await app.workers.wait_for_complete()
        assert d.applied == []


async def test_weight_prompts_for_a_number_then_confirms() -> None:
    d = fx.FakeDispatcher()
    app, _ = make(dispatcher=d)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("w")
        await until_screen(pilot, NumberPrompt)
        box = app.screen.query_one(Input)
        assert box.value == "3"
        box.value = ""
        await pilot.press("0", "enter")  # out of range: stays
        await until_screen(pilot, NumberPrompt)
        box.value = ""
        await pilot.press("5", "enter")
        await until_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        assert d.applied == [intents.SetWeight("web1", 5, upstream="web_servers")]


async def test_actions_work_from_the_detail_screen() -> None:
    d = fx.FakeDispatcher()
    app, _ = make(dispatcher=d)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down", "down", "enter", "d")
        await until_screen(pilot, ConfirmScreen)
        assert d.planned == [intents.MarkDown("web3", upstream="web_servers")]


async def test_read_only_hides_and_refuses_action_keys() -> None:
    d = fx.FakeDispatcher()
    app, notes = make(dispatcher=d, read_only=True)
    async with app.run_test(size=(160, 48)) as pilot:
        footer_keys = {b.binding.key for b in app.screen.active_bindings.values()
                       if b.binding.show}
        assert not footer_keys & {"w", "d", "b", "D", "r", "F"}
        assert {"slash", "s", "t", "question_mark", "q"} <= footer_keys
        assert app.query_one(Footer)
        for key in ("w", "d", "b", "D", "r", "F"):
            await pilot.press(key)
        await app.workers.wait_for_complete()
        assert d.planned == [] and d.applied == []
        assert notes.text.count("is refused") == 6
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        out = io.StringIO()
        Console(file=out, width=120).print(app.screen.query_one("#help-text", Static).content)
        assert "Sort by the next column" in out.getvalue()
        assert "Drain" not in out.getvalue() and "weight" not in out.getvalue()
        assert "Read-only" in out.getvalue()
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert "Drain (D)" not in titles and "Failover (F)" not in titles
        assert "Sort (s)" in titles


async def test_footer_shows_action_keys_when_not_read_only() -> None:
    app, _ = make()
    async with app.run_test(size=(160, 48)):
        footer_keys = {b.binding.key for b in app.screen.active_bindings.values()
                       if b.binding.show}
        assert {"w", "d", "b", "D", "r", "F", "question_mark", "slash", "q"} <= footer_keys


async def test_a_plan_that_fails_is_reported_and_the_console_survives() -> None:
    class Broken(fx.FakeDispatcher):
        def plan(self, intent: object) -> fx.FakePlan:
            raise RemoteError("lb1", "nginx -T failed: permission denied")

    app, notes = make(dispatcher=Broken())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        await app.workers.wait_for_complete()
        assert app.is_running
        assert "lb1: nginx -T failed: permission denied" in notes.text
        assert any("plan refused" in n.message for n in app.query_one(EventLog).notes)


async def test_a_failed_apply_is_an_error_in_the_log() -> None:
    d = fx.FakeDispatcher(ok=False)
    app, notes = make(dispatcher=d)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("r")
        await until_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await app.workers.wait_for_complete()
        last = app.query_one(EventLog).notes[0]
        assert (last.level, last.message) == ("error", "nginx -t failed")
        assert "Failed: reload nginx on every proxy" in notes.text


class _SlowDispatcher(fx.FakeDispatcher):
    """An apply that waits until the test lets it finish, and records a cancellation."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.cancelled = False

    async def apply(self, intent: object, plan: object,
                    progress: Callable[[str], None]) -> fx.FakeResult:
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return await super().apply(intent, plan, progress)


async def test_a_second_action_key_neither_starts_nor_cancels_the_running_one() -> None:
    d = _SlowDispatcher()
    app, notes = make(dispatcher=d)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("down", "d")
        await until_screen(pilot, ConfirmScreen)
        await pilot.press("y")
        await pilot.pause()
        await pilot.press("r")  # while the mark-down is still applying
        await pilot.pause()
        assert "already running" in notes.text
        assert d.planned == [intents.MarkDown("web2", upstream="web_servers")]
        await pilot.press("q")  # the first q only warns while an action runs
        await pilot.pause()
        assert app.is_running and "q again" in notes.text
        d.release.set()
        await app.workers.wait_for_complete()
        assert not d.cancelled
        assert d.applied == [intents.MarkDown("web2", upstream="web_servers")]
