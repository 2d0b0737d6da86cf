"""The Switchboard console App: polls the feed at a steady rate and turns keys into intents."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from functools import partial

from textual import on, work
from textual.app import App, ComposeResult, ScreenStackError, SystemCommand
from textual.color import Color
from textual.containers import Horizontal
from textual.css.query import NoMatches
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable, Input

import themes
from actions import intents
from console import columns as cols
from console import keys, operate
from console.feed import ActionDispatcher, Feed
from console.screens.confirm import ConfirmScreen
from console.screens.detail import DetailScreen
from console.screens.help import HelpScreen
from console.screens.prompt import NumberPrompt
from console.widgets.backends import BackendTable
from console.widgets.events import EventLog, Level, transitions
from console.widgets.footer import Footer
from console.widgets.header import Banner, HeaderBar, alarms
from console.widgets.proxies import ProxyPanel
from state.events import ActionNote
from state.snapshot import WINDOWS, BackendView, Snapshot
from switchboard.errors import SwitchboardError

REFRESH_HZ = 3.0  # the screen redraws at this rate whatever the event rate
STALE_AFTER = 10.0  # seconds without an event before the data is called stale


class SwitchboardApp(App[int]):
    """The live dashboard of one cluster."""

    CSS_PATH = str(themes.STYLESHEET)
    TITLE = "Switchboard"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]  # noqa: RUF012 (App's type)

    window: reactive[str] = reactive("1m")

    def __init__(
        self,
        feed: Feed,
        *,
        dispatcher: ActionDispatcher | None = None,
        read_only: bool = False,
        theme: str = themes.DEFAULT,
        window: str = "1m",
        clock: Callable[[], float] = time.time,
        refresh_hz: float = REFRESH_HZ,
        stale_after: float = STALE_AFTER,
        accent: str | None = None,
        protected: bool = False,
    ) -> None:
        super().__init__()
        for k in keys.bindings(read_only):
            self._bindings._add_binding(k)
        themes.register(self)
        self.theme = theme
        self.feed = feed
        self.dispatcher = dispatcher
        self.read_only = read_only
        self.clock = clock
        self.refresh_hz = refresh_hz
        self.stale_after = stale_after
        self.accent = accent
        self.protected = protected
        self.snap: Snapshot | None = None
        self.palette = cols.Palette()
        self._started_at = clock()
        self._feed_started = False
        self._acting = False  # an action is being planned, confirmed or applied
        self._quit_asked_at: float | None = None
        self.set_reactive(SwitchboardApp.window, window)

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        yield HeaderBar(id="header")
        yield BackendTable(id="backends")
        with Horizontal(id="bottom"):
            yield ProxyPanel(id="proxies")
            yield EventLog(id="events")
        yield Input(placeholder="filter backends: name, address, state — esc to clear",
                    id="filter")
        # Compact, palette key left to the help screen: every acting key fits 80 columns.
        yield Footer(compact=True, show_command_palette=False)

    async def on_mount(self) -> None:
        self.query_one("#proxies").border_title = "proxies"
        self.query_one("#events").border_title = "events (e)"
        self.query_one("#filter", Input).display = False
        table = self.query_one(BackendTable)
        table.window = self.window
        self.palette = self._palette()
        table.palette = self.palette
        table.focus()
        try:
            await self.feed.start()
        except SwitchboardError as e:
            self.exit(return_code=e.exit_code, message=f"switchboard: error: {e}")
            return
        self._feed_started = True
        self.tick()
        self.set_interval(1 / self.refresh_hz, self.tick)

    async def on_unmount(self) -> None:
        # Stopping the feed closes its SSH sessions; the cluster itself is left as it is.
        if self._feed_started:
            self._feed_started = False
            await self.feed.stop()

    def _palette(self) -> cols.Palette:
        v = self.get_css_variables()
        muted = Color.parse(v["foreground"]).blend(Color.parse(v["background"]), 0.45)
        return cols.Palette(error=v["text-error"], warning=v["text-warning"],
                            success=v["text-success"], muted=muted.hex, bar=v["text-primary"])

    def _watch_theme(self, theme_name: str) -> None:
        super()._watch_theme(theme_name)
        if self.is_running and self.snap is not None:
            self.palette = self._palette()
            self.query_one(BackendTable).restyle(self.palette)
            self.query_one(EventLog).palette = self.palette
            self.tick()

    # ---- rendering -------------------------------------------------------------------

    def tick(self) -> None:
        """Read the feed once and bring every view up to date."""
        try:
            self._tick()
        except (NoMatches, ScreenStackError):
            # A last timer tick while the app tears its screens down: nothing left to draw.
            if self.is_running:
                raise

    def _tick(self) -> None:
        # One repaint for the whole tick, however many widgets it touches.
        with self.batch_update():
            self._update_views()

    def _update_views(self) -> None:
        """Cheap when nothing changed: each view redraws only what it shows differently."""
        snap = self.feed.snapshot()
        now = self.clock()
        if snap is not self.snap:
            log = self.query_one(EventLog)
            log.add(reversed(snap.events))
            log.add(transitions(self.snap, snap))
            self.snap = snap
            self.query_one(BackendTable).show(snap.backends)
            self.query_one(ProxyPanel).show_state(snap, self.palette)
            log.palette = self.palette
            log.render_notes()
        self.query_one(HeaderBar).show_state(snap, now, self.window, self.accent, self.palette,
                                             self.read_only)
        self.query_one(Banner).show_alarms(alarms(snap, now, self.stale_after,
                                                  self._started_at))
        if isinstance(self.screen, DetailScreen):
            self.screen.show_state(snap, self.window, self.palette)

    def watch_window(self, window: str) -> None:
        if self.snap is None:  # not mounted yet: on_mount hands the table its window
            return
        table = self.query_one(BackendTable)
        table.window = window
        if self.snap is not None:
            table.show(self.snap.backends)
            self.tick()

    # ---- navigation and view ---------------------------------------------------------

    def action_window(self, window: str) -> None:
        if window in WINDOWS:
            self.window = window

    def action_cycle_window(self) -> None:
        self.window = WINDOWS[(WINDOWS.index(self.window) + 1) % len(WINDOWS)]

    def action_cycle_sort(self) -> None:
        self.query_one(BackendTable).cycle_sort()

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    @on(Input.Changed, "#filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        table = self.query_one(BackendTable)
        table.filter_text = event.value
        if self.snap is not None:
            table.show(self.snap.backends)

    @on(Input.Submitted, "#filter")
    def _filter_done(self, event: Input.Submitted) -> None:
        if not event.value:
            event.input.display = False
        self.query_one(BackendTable).focus()

    def action_escape(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            box.value = ""
            box.display = False
            self.query_one(BackendTable).focus()

    def action_focus_events(self) -> None:
        self.query_one(EventLog).focus()

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.read_only))

    def action_detail(self) -> None:
        key = self.query_one(BackendTable).selected
        if key is None or self.snap is None:
            self.notify("no backend selected", severity="warning")
            return
        if not isinstance(self.screen, DetailScreen):
            self.push_screen(DetailScreen(key, self.snap, self.window, self.palette))

    @on(DataTable.RowSelected, "#backends")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_detail()

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every key of the table (those that act left out when read-only), then Theme."""
        for k in keys.visible(self.read_only):
            # Parentheses, not brackets: palette titles are markup.
            yield SystemCommand(f"{k.title} ({k.shown})", k.help,
                                partial(self.run_action, k.action))
        for command in super().get_system_commands(screen):
            if command.title not in ("Quit", "Keys"):
                yield command

    # ---- actions on the cluster ------------------------------------------------------

    def _selected_backend(self) -> BackendView | None:
        key = (self.screen.key if isinstance(self.screen, DetailScreen)
               else self.query_one(BackendTable).selected)
        if key is None or self.snap is None:
            return None
        return next((b for b in self.snap.backends if cols.row_key(b) == key), None)

    def _may_act(self, action: str) -> bool:
        if self.read_only:
            self.notify(f"read-only: '{keys.find(action).title}' is refused (started with "
                        "--read-only)", severity="warning", title="Refused")
            return False
        return True

    def _backend_or_warn(self) -> BackendView | None:
        b = self._selected_backend()
        if b is None:
            self.notify("select a backend first", severity="warning")
        return b

    def action_set_weight(self) -> None:
        if self._may_act("set_weight") and (b := self._backend_or_warn()) is not None:
            self._ask_weight(b)

    @work(exclusive=True, group="prompt")
    async def _ask_weight(self, b: BackendView) -> None:
        current = b.config.weight if b.config else None
        weight = await self.push_screen_wait(NumberPrompt(f"weight of {b.label}", current))
        if weight is not None:
            self._carry_out(operate.set_weight(b, weight), b)

    def action_toggle_down(self) -> None:
        if self._may_act("toggle_down") and (b := self._backend_or_warn()) is not None:
            self._carry_out(operate.toggle_down(b), b)

    def action_toggle_backup(self) -> None:
        if self._may_act("toggle_backup") and (b := self._backend_or_warn()) is not None:
            self._carry_out(operate.toggle_backup(b), b)

    def action_toggle_drain(self) -> None:
        if self._may_act("toggle_drain") and (b := self._backend_or_warn()) is not None:
            self._carry_out(operate.toggle_drain(b), b)

    def action_reload(self) -> None:
        if self._may_act("reload"):
            self._carry_out(intents.Reload(), None)

    def action_failover(self) -> None:
        if self._may_act("failover"):
            self._carry_out(intents.Failover(), None)

    def _note(self, action: str, message: str, level: Level = "info",
              backend: str | None = None) -> None:
        log = self.query_one(EventLog)
        log.add([ActionNote(self.clock(), action, message, level, backend)])
        log.render_notes()

    async def action_quit(self) -> None:
        """Quitting while an action runs would interrupt it (and roll it back): ask twice."""
        now = self.clock()
        if self._acting and (self._quit_asked_at is None or now - self._quit_asked_at > 5):
            self._quit_asked_at = now
            self.notify("An action is still running: quitting now interrupts it and rolls it "
                        "back. Press q again within 5 s to quit anyway.", title="Action running",
                        severity="warning")
            return
        self.exit()

    def _carry_out(self, intent: object, backend: BackendView | None) -> None:
        # One action at a time: a second key must neither start another nor cancel this one
        # (an exclusive worker would cancel it, and the executor would roll it back).
        if self._acting:
            self.notify("An action is already running; wait for it to finish.",
                        title="Busy", severity="warning")
            return
        self._acting = True
        self._run_action(intent, backend)

    @work(group="action")
    async def _run_action(self, intent: object, backend: BackendView | None) -> None:
        try:
            await self._plan_confirm_apply(intent, backend)
        finally:
            self._acting = False

    async def _plan_confirm_apply(self, intent: object, backend: BackendView | None) -> None:
        """Plan, confirm, apply, report: the only path from a key to the cluster."""
        what = operate.describe(intent)
        name = type(intent).__name__
        if self.dispatcher is None:
            self.notify(f"Would {what}. Actions are not wired in this console "
                        "(no dispatcher), so nothing was done.", title="Not wired",
                        severity="warning")
            return
        try:
            plan = self.dispatcher.plan(intent)
        except Exception as e:  # a failed plan is news for the operator, not a crash
            self.notify(str(e), title=f"Cannot {what}", severity="error")
            self._note(name, f"plan refused: {e}", "error")
            return
        word = operate.confirm_word(
            intent, plan.risk, cluster=self.snap.cluster if self.snap else "",
            protected=self.protected, backend=backend,
            backends=self.snap.backends if self.snap else ())
        if not await self.push_screen_wait(ConfirmScreen(plan, word)):
            self.notify(f"Cancelled: {what}", severity="information")
            return
        self._note(name, f"started: {what}")
        try:
            result = await self.dispatcher.apply(
                intent, plan, lambda line: self._note(name, line))
        except Exception as e:  # the console must outlive a failed action and say so
            self.notify(str(e), title=f"Failed: {what}", severity="error")
            self._note(name, f"failed: {e}", "error")
            return
        self._note(name, result.message, "success" if result.ok else "error")
        self.notify(result.message, title=("Done: " if result.ok else "Failed: ") + what,
                    severity="information" if result.ok else "error")
