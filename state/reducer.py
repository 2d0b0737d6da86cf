"""ClusterState: applies collector events and hands out immutable snapshots of the cluster."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from state import ha
from state.events import (
    ActionNote,
    ConfigRead,
    ConnectionState,
    Event,
    HaStatus,
    HostHealth,
    LogBatch,
    LogGap,
    StubStatus,
)
from state.nginxconf import upstream_drift
from state.snapshot import (
    STATUS_CLASSES,
    WINDOW_SECONDS,
    BackendState,
    BackendView,
    ProxyView,
    Snapshot,
    WindowStats,
)
from state.upstream_fields import hidden_failures
from state.upstreams import ProxyConfig, UpstreamServer, join_host_port
from state.windows import AttemptWindows, CountRing

if TYPE_CHECKING:
    from switchboard.inventory import Host, Inventory

MAX_BACKENDS = 256  # addresses beyond this (a misparsed log) are not tracked
MAX_EVENTS = 50
MAX_RECENT_ERRORS = 20
FAILING_MEMORY = 60  # seconds a backend whose last attempts failed stays "failing" unretried


class _Backend:
    __slots__ = ("address", "errors", "fail_streak", "last_failure", "windows")

    def __init__(self, address: str) -> None:
        self.address = address
        self.windows = AttemptWindows()
        # Failed attempts since its last success: nginx stops sending to a server after
        # max_fails, so its last attempts failing is news however much it served before.
        self.fail_streak = 0
        self.last_failure = 0.0
        # (timestamp, status, method, uri, hidden): formatted only when a snapshot needs it.
        self.errors: deque[tuple[float, int | None, str, str, bool]] = deque(
            maxlen=MAX_RECENT_ERRORS)


class _Proxy:
    __slots__ = ("active_connections", "config_error", "connection", "counts", "error", "gaps",
                 "last_line_at", "malformed", "name", "requests", "retry_in", "sample",
                 "stream_at")

    def __init__(self, name: str) -> None:
        self.name = name
        self.connection: ConnectionState = "connecting"
        self.error: str | None = None
        self.retry_in: float | None = None
        self.requests = 0
        self.malformed = 0
        self.sample: str | None = None
        self.gaps = 0
        self.last_line_at: float | None = None
        self.stream_at: float | None = None  # when its log follower last spoke
        self.active_connections: int | None = None
        self.config_error: str | None = None  # the last nginx -T read's trouble, if any
        self.counts = CountRing()


class ClusterState:
    """The whole cluster as the collectors have seen it; pure, single-threaded."""

    def __init__(self, *, cluster: str, vip: str = "", ha_driver: str = "heartbeat",
                 proxies: Sequence[str] = (), backend_names: Mapping[str, str] | None = None,
                 upstreams: Sequence[str] = ()) -> None:
        self.cluster = cluster
        self.vip = vip
        self.ha_driver = ha_driver
        self.upstreams = tuple(upstreams)
        self.backend_names = dict(backend_names or {})
        self._proxies: dict[str, _Proxy] = {p: _Proxy(p) for p in proxies}
        self._backends: dict[str, _Backend] = {}
        self._groups: set[str] = set(self.upstreams)
        self._configs: dict[str, ProxyConfig] = {}
        self._ha: dict[str, HaStatus] = {}
        self._stub: dict[str, int | None] = {}
        self._draining: dict[str, bool] = {}
        self._events: deque[ActionNote] = deque(maxlen=MAX_EVENTS)
        self._last_event_at: float | None = None

    @classmethod
    def from_inventory(cls, inv: Inventory) -> ClusterState:
        return cls(cluster=inv.name, vip=inv.vip, ha_driver=inv.ha,
                   proxies=[h.name for h in inv.proxies],
                   backend_names=backend_names_from(inv.backends), upstreams=inv.upstreams)

    # -- events -------------------------------------------------------------------------------

    def apply(self, event: Event) -> None:
        if isinstance(event, LogBatch):
            self._apply_batch(event)
            return
        if isinstance(event, HostHealth):
            p = self._proxies.get(event.host)
            if p is not None:
                p.connection, p.error, p.retry_in = event.state, event.error, event.retry_in
            if event.state != "connected":
                # What a proxy said before we lost it is no longer news: kept, it would show
                # it holding the VIP (a false split brain) long after a takeover.
                self._ha.pop(event.host, None)
        elif isinstance(event, LogGap):
            self._proxy(event.host).gaps += 1
        elif isinstance(event, HaStatus):
            self._ha[event.host] = event
        elif isinstance(event, ConfigRead):
            proxy = self._proxies.get(event.host)
            if proxy is not None:
                proxy.config_error = event.error
            if event.config is not None:
                self._configs[event.host] = event.config
                self._groups.update(u.name for u in event.config.upstreams)
        elif isinstance(event, StubStatus):
            # An unreadable page makes the count unknown, never "still what it was".
            self._stub[event.host] = None if event.error else event.active
        elif isinstance(event, ActionNote):
            self._events.appendleft(event)
            if event.backend and event.action in ("drain", "undrain"):
                self._draining[event.backend] = event.action == "drain"
        self._seen(event.at)

    def _data_at(self) -> float | None:
        """How fresh the figures are: the stalest log stream of a connected proxy, once the
        followers speak; before that (or reading a file), the last event of any kind. The HA
        poller's steady reports must not hide a log stream that died."""
        streams = [p.stream_at for p in self._proxies.values()
                   if p.connection == "connected" and p.stream_at is not None]
        return min(streams) if streams else self._last_event_at

    def _seen(self, at: float) -> None:
        if self._last_event_at is None or at > self._last_event_at:
            self._last_event_at = at

    def _proxy(self, host: str) -> _Proxy:
        p = self._proxies.get(host)
        if p is None:
            p = self._proxies[host] = _Proxy(host)
        return p

    def _backend(self, address: str) -> _Backend | None:
        b = self._backends.get(address)
        if b is None and len(self._backends) < MAX_BACKENDS:
            b = self._backends[address] = _Backend(address)
        return b

    def _apply_batch(self, batch: LogBatch) -> None:
        p = self._proxy(batch.host)
        p.malformed += batch.malformed
        if batch.malformed_sample is not None:
            p.sample = batch.malformed_sample
        reqs = batch.requests
        if batch.received_at:
            p.stream_at = batch.received_at
            self._seen(batch.received_at)
        if not reqs:
            return
        p.requests += len(reqs)
        last = reqs[-1].timestamp
        if p.last_line_at is None or last > p.last_line_at:
            p.last_line_at = last
        self._seen(last)
        backends = self._backends
        add_count = p.counts.add
        run_second, run = -1, 0
        for r in reqs:
            sec = int(r.timestamp)
            if sec != run_second:
                if run:
                    add_count(run_second, run)
                run_second, run = sec, 0
            run += 1
            tries = r.attempts
            if not tries:
                continue
            hidden = hidden_failures(tries) if len(tries) > 1 else ()
            for i, a in enumerate(tries):
                b = backends.get(a.address) or self._backend(a.address)
                if b is None:
                    continue
                st = a.status
                failed = st is None or st >= 500
                secs = a.seconds
                b.windows.record(sec, 5 if st is None or not 100 <= st < 600 else st // 100 - 1,
                                 failed, i in hidden, None if secs is None else secs * 1000.0)
                if failed:
                    b.errors.append((r.timestamp, st, r.method, r.uri, i in hidden))
                    b.fail_streak += 1
                    b.last_failure = r.timestamp
                else:
                    b.fail_streak = 0
        if run:
            add_count(run_second, run)

    # -- snapshot -----------------------------------------------------------------------------

    def snapshot(self, now: float) -> Snapshot:
        """An immutable picture of the cluster with every window ending at ``now``."""
        second = int(now)
        ha_view = ha.derive(self._ha, proxies=list(self._proxies), driver=self.ha_driver,
                            vip=self.vip)
        config = self._reference_config(ha_view.active)
        servers = self._servers(config)
        proxies = tuple(self._proxy_view(p, second) for p in self._proxies.values())
        return Snapshot(
            at=now,
            cluster=self.cluster,
            requests=sum(p.requests for p in proxies),
            malformed=sum(p.malformed for p in proxies),
            backends=self._backend_views(servers, config, second),
            proxies=proxies,
            ha=ha_view,
            drift=self._drift(),
            events=tuple(self._events),
            last_event_at=self._data_at(),
        )

    def _reference_config(self, active: str | None) -> ProxyConfig | None:
        """The active proxy's config, else the first proxy's that has one."""
        if active is not None and active in self._configs:
            return self._configs[active]
        return next((self._configs[p] for p in self._proxies if p in self._configs), None)

    def _servers(self, config: ProxyConfig | None
                 ) -> dict[str, tuple[str, UpstreamServer, float | None]]:
        """address as logged -> (upstream, server line, configured share), config order."""
        out: dict[str, tuple[str, UpstreamServer, float | None]] = {}
        if config is None:
            return out
        for up in config.upstreams:
            if self.upstreams and up.name not in self.upstreams:
                continue
            # nginx makes one peer per resolved address, each with the line's weight.
            total = sum(s.weight * max(1, len(s.resolved)) for s in up.servers
                        if s.takes_traffic)
            for s in up.servers:
                share = (s.weight / total if s.takes_traffic else 0.0) if total else None
                for address in s.resolved or (s.address,):
                    out.setdefault(address, (up.name, s, share))
        return out

    def _backend_views(self, servers: Mapping[str, tuple[str, UpstreamServer, float | None]],
                       config: ProxyConfig | None, second: int) -> tuple[BackendView, ...]:
        hidden_upstreams = set()
        if config is not None and self.upstreams:
            hidden_upstreams = {u.name for u in config.upstreams} - set(self.upstreams)
        addresses = list(servers)
        for address in sorted(self._backends):
            if address in servers or address in hidden_upstreams:
                continue
            owner = _owner(config, address)
            if owner is None or owner not in hidden_upstreams:
                addresses.append(address)
        totals = {a: self._backends[a].windows.totals(second)
                  for a in addresses if a in self._backends}
        upstream_of = {a: servers[a][0] if a in servers
                       else (a if a in self._groups else _owner(config, a)) for a in addresses}
        group_attempts: dict[tuple[str | None, str], int] = {}
        for a, per_window in totals.items():
            for w, t in per_window.items():
                key = (upstream_of[a], w)
                group_attempts[key] = group_attempts.get(key, 0) + t.attempts
        views = []
        for a in addresses:
            up = upstream_of[a]
            b = self._backends.get(a)
            windows: dict[str, WindowStats] = {}
            for w, span in WINDOW_SECONDS.items():
                tw = totals[a][w] if a in totals else None
                if tw is None:
                    windows[w] = WindowStats(status=dict.fromkeys(STATUS_CLASSES, 0))
                    continue
                group = group_attempts.get((up, w), 0)
                windows[w] = WindowStats(
                    attempts=tw.attempts, rate=tw.attempts / span,
                    status=dict(zip(STATUS_CLASSES, tw.status, strict=True)),
                    hidden_errors=tw.hidden, share=tw.attempts / group if group else 0.0,
                    p50_ms=tw.quantiles_ms[0], p95_ms=tw.quantiles_ms[1],
                    p99_ms=tw.quantiles_ms[2])
            server = servers[a][1] if a in servers else None
            name = self.backend_names.get(a)
            views.append(BackendView(
                address=a, name=name, upstream=up,
                state=self._state(a, name, server, b, second),
                config=server, configured_share=servers[a][2] if a in servers else None,
                windows=windows,
                sparkline=b.windows.per_second(second) if b else (0.0,) * 60,
                recent_errors=_errors(b) if b else (),
                active_connections=self._stub.get(name) if name else None))
        return tuple(views)

    def _state(self, address: str, name: str | None, server: UpstreamServer | None,
               b: _Backend | None, second: int) -> BackendState:
        if server is not None and server.down:
            return "down"
        if b is not None:
            attempts, failures = b.windows.recent_failures(second)
            if failures and failures * 2 > attempts:
                return "failing"
            # Two in a row, not one: a single 502 among successes is an error, not an outage.
            if b.fail_streak >= 2 and b.last_failure > second - FAILING_MEMORY:
                return "failing"
        if self._draining.get(address) or (name is not None and self._draining.get(name)):
            return "draining"
        if server is not None:
            return "backup" if server.backup else "up"
        if b is not None and b.windows.newest > second - 60:
            return "up"
        return "unknown"

    def _proxy_view(self, p: _Proxy, second: int) -> ProxyView:
        status = self._ha.get(p.name)
        return ProxyView(
            name=p.name, connection=p.connection, connection_error=p.error,
            retry_in=p.retry_in, rate=p.counts.total(second, 10) / 10.0, requests=p.requests,
            malformed=p.malformed, malformed_sample=p.sample,
            active_connections=self._stub.get(p.name),
            holds_vip=status.holds_vip if status else False,
            ha_node_status=ha.node_word(self._ha, p.name), gaps=p.gaps,
            last_line_at=p.last_line_at, config_error=p.config_error)

    def _drift(self) -> tuple[str, ...]:
        hosts = [p for p in self._proxies if p in self._configs]
        lines: list[str] = []
        for other in hosts[1:]:
            lines += upstream_drift(self._configs[hosts[0]], self._configs[other], self.upstreams)
        return tuple(lines)


def backend_names_from(hosts: Iterable[Host]) -> dict[str, str]:
    """"address:port" as nginx logs it -> inventory name, for the web hosts."""
    out: dict[str, str] = {}
    for h in hosts:
        out[join_host_port(h.address, h.port or 80)] = h.name
    return out


def _owner(config: ProxyConfig | None, address: str) -> str | None:
    """The upstream whose server list holds ``address``, in any upstream of the config."""
    if config is None:
        return None
    return next((u.name for u in config.upstreams if u.server(address) is not None), None)


def _errors(b: _Backend) -> tuple[str, ...]:
    out = []
    for ts, status, method, uri, hidden in reversed(b.errors):
        clock = time.strftime("%H:%M:%S", time.gmtime(ts))
        what = f"{method} {uri}".strip() or "request"
        note = " (retried elsewhere)" if hidden else ""
        out.append(f"{clock} {status if status is not None else 'no response'} {what}{note}")
    return tuple(out)
