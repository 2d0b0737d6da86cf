"""ClusterFeed: starts every collector for an inventory and folds their events into the state."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from types import TracebackType

from collectors.heartbeat import HeartbeatPoller
from collectors.nginx_config import ConfigReader
from collectors.ssh import KEEPALIVE_SECONDS, HostSession
from collectors.stub_status import StubStatusPoller
from collectors.supervisor import Supervisor
from collectors.tailer import LogTailer, Parser
from state import logformat
from state.events import ActionNote, ConfigRead, Event
from state.reducer import ClusterState
from state.snapshot import Snapshot
from state.upstreams import ProxyConfig
from switchboard.errors import RemoteError
from switchboard.inventory import Host, Inventory

log = logging.getLogger(__name__)

CONFIG_WAIT_SECONDS = 15.0  # a proxy whose nginx -T hangs is followed with a detected format
BATCH_MAX = 5000  # events applied per turn of the consumer before it yields to the UI


class LogParsers:
    """The parser for one proxy's access log: its log_format from ``nginx -T`` when the
    config names one for that path, else the built-in format the first lines fit."""

    def __init__(self, host: Host, config: Callable[[], ProxyConfig | None]) -> None:
        self.host = host
        self._config = config
        self._compiled: dict[tuple[str, bool], logformat.LineParser] = {}
        self._detected: logformat.LineParser | None = None

    def configured(self) -> tuple[str, bool] | None:
        config = self._config()
        if config is None:
            return None
        name = config.access_logs.get(self.host.access_log)
        return config.log_formats.get(name) if name else None

    def __call__(self, lines: list[bytes]) -> Parser:
        wanted = self.configured()
        if wanted is not None:
            parser = self._compiled.get(wanted)
            if parser is None:
                parser = logformat.compile_format(wanted[0], escape_json=wanted[1])
                self._compiled[wanted] = parser
            return parser
        if self._detected is None:
            self._detected = logformat.detect(lines)
            if self._detected is None:
                return logformat.builtin_parsers()[0]
        return self._detected


class ClusterFeed:
    """The live cluster: ``async with ClusterFeed(inv) as feed: feed.snapshot()``.

    One :class:`HostSession` per host; per proxy a config reader, a log tailer and (with
    Heartbeat) an HA poller; a stub_status poller per host that names a page. All run under
    one :class:`Supervisor`. Events go through a queue to a single consumer that applies
    them to :class:`ClusterState` in batches.
    """

    def __init__(self, inventory: Inventory, *, accept_new_host_keys: bool = False,
                 clock: Callable[[], float] = time.time, ha_interval: float = 1.5,
                 config_interval: float = 30.0, stub_interval: float = 2.0,
                 log_poll: float = 0.25, keepalive: float = KEEPALIVE_SECONDS) -> None:
        self.inventory = inventory
        self.state = ClusterState.from_inventory(inventory)
        self._clock = clock
        self._queue: asyncio.Queue[Event] = asyncio.Queue()
        self._supervisor = Supervisor(on_crash=self._crashed)
        self._started = False
        self.sessions = {h.name: HostSession(h, self.publish, clock=clock,
                                             accept_new_host_keys=accept_new_host_keys,
                                             keepalive=keepalive)
                         for h in inventory.hosts}
        self.configs = {h.name: ConfigReader(self.sessions[h.name], self.publish,
                                             interval=config_interval, clock=clock)
                        for h in inventory.proxies}
        self.tailers = {h.name: LogTailer(self.sessions[h.name], h.access_log, self.publish,
                                          LogParsers(h, self._config_of(h.name)), clock=clock,
                                          poll=log_poll)
                        for h in inventory.proxies}
        self.ha = ({h.name: HeartbeatPoller(self.sessions[h.name], inventory.vip, self.publish,
                                            interval=ha_interval, clock=clock)
                    for h in inventory.proxies} if inventory.ha == "heartbeat" else {})
        self.stubs = {h.name: StubStatusPoller(self.sessions[h.name], h.stub_status, self.publish,
                                               interval=stub_interval, clock=clock)
                      for h in inventory.hosts if h.stub_status}

    def _config_of(self, name: str) -> Callable[[], ProxyConfig | None]:
        return lambda: self.configs[name].latest

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        sup = self._supervisor
        sup.start("apply", self._consume)
        for name, session in self.sessions.items():
            sup.start(f"ssh:{name}", session.maintain)
        for name, reader in self.configs.items():
            sup.start(f"config:{name}", reader.run)
        for name in self.tailers:
            sup.start(f"tail:{name}", functools.partial(self._tail, name))
        for name, poller in self.ha.items():
            sup.start(f"ha:{name}", poller.run)
        for name, stub in self.stubs.items():
            sup.start(f"stub:{name}", stub.run)

    async def _tail(self, name: str) -> None:
        """Follow a proxy's log once its config has been read (or could not be): the lines
        are parsed with its own log_format from the first, not a guessed one."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CONFIG_WAIT_SECONDS):
                await self.configs[name].tried.wait()
        await self.tailers[name].run()

    async def stop(self) -> None:
        """Cancel every collector, close every connection, apply what is still queued."""
        if not self._started:
            return
        self._started = False
        await self._supervisor.stop()
        while self._drain():
            pass

    async def __aenter__(self) -> ClusterFeed:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.stop()

    # -- events --------------------------------------------------------------------------------

    def publish(self, event: Event) -> None:
        """Queue an event for the state (collectors, and actions posting ActionNotes)."""
        self._queue.put_nowait(event)

    def _apply(self, event: Event) -> None:
        try:
            self.state.apply(event)
        except Exception:
            log.exception("the state could not apply %s", type(event).__name__)

    def _drain(self) -> int:
        n = 0
        while n < BATCH_MAX:
            try:
                event = self._queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            self._apply(event)
            n += 1
        return n

    async def _consume(self) -> None:
        while True:
            self._apply(await self._queue.get())
            self._drain()
            await asyncio.sleep(0)

    def _crashed(self, name: str, error: BaseException, delay: float) -> None:
        self.publish(ActionNote(self._clock(), "collector",
                                f"{name} failed ({type(error).__name__}: {error}); "
                                f"restarting in {delay:.1f} s", level="error"))

    # -- API for the console and the actions ---------------------------------------------------

    def snapshot(self) -> Snapshot:
        self._drain()
        return self.state.snapshot(self._clock())

    def session(self, host_name: str) -> HostSession:
        try:
            return self.sessions[host_name]
        except KeyError:
            raise RemoteError(host_name, f"no such host in {self.inventory.path} (known: "
                              f"{', '.join(self.sessions)})") from None

    def refresh_config(self) -> None:
        """Ask every proxy's config reader to read ``nginx -T`` again now."""
        for reader in self.configs.values():
            reader.refresh()

    async def read_config(self, host_name: str) -> ConfigRead:
        """Read one proxy's config now and wait for the result (also published)."""
        reader = self.configs.get(host_name)
        if reader is None:
            raise RemoteError(host_name, "not a proxy in the inventory: no config to read")
        return await reader.read_now()
