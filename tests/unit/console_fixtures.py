"""Hand-built snapshots, a fake feed and a fake dispatcher for the console's tests."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from rich.text import Text

from state.events import ActionNote
from state.snapshot import WINDOW_SECONDS, BackendView, HaView, ProxyView, Snapshot, WindowStats
from state.upstreams import UpstreamServer

NOW = 1_795_575_600.0  # 2026-11-25 03:00:00 UTC: frozen clock for pilot and snapshot tests
UPSTREAM_FILE = "/etc/nginx/conf.d/upstream.conf"


def frozen_clock(at: float = NOW) -> Callable[[], float]:
    return lambda: at


def wave(rate: float, phase: float) -> tuple[float, ...]:
    """A deterministic 60-point requests/s history around ``rate``."""
    return tuple(round(max(0.0, rate * (1 + 0.35 * math.sin(i / 4 + phase)
                                        + 0.15 * math.cos(i / 1.7 + phase))), 2)
                 for i in range(60))


def windows(rate: float, share: float, p50: float | None, p95: float | None,
            p99: float | None, err4: float = 0.01, err5: float = 0.0,
            hidden: float = 0.0) -> dict[str, WindowStats]:
    out = {}
    for name, seconds in WINDOW_SECONDS.items():
        # Longer windows drift a little so the detail screen has a trend to show.
        drift = 1 + (seconds / 900) * 0.1
        attempts = int(rate * seconds * drift)
        n4, n5 = int(attempts * err4), int(attempts * err5)
        status = {"2xx": attempts - n4 - n5, "3xx": 0, "4xx": n4, "5xx": n5}
        out[name] = WindowStats(
            attempts=attempts, rate=rate * drift, status=status,
            hidden_errors=int(attempts * hidden), share=share,
            p50_ms=None if p50 is None else p50 * drift,
            p95_ms=None if p95 is None else p95 * drift,
            p99_ms=None if p99 is None else p99 * drift,
        )
    return out


def server(address: str, line: int, weight: int = 1, down: bool = False,
           backup: bool = False) -> UpstreamServer:
    args = [f"weight={weight}"] if weight != 1 else []
    args += ["max_fails=2", "fail_timeout=30s"]
    args += ["down"] if down else []
    args += ["backup"] if backup else []
    return UpstreamServer(address=address, weight=weight, max_fails=2, fail_timeout="30s",
                          down=down, backup=backup, args=tuple(args), file=UPSTREAM_FILE,
                          line=line, resolved=(address,))


def backend(n: int, state: str = "up", weight: int = 1, cfg_share: float | None = 0.5,
            rate: float = 120.0, share: float = 0.5, p50: float | None = 4.0,
            p95: float | None = 18.0, p99: float | None = 40.0, err5: float = 0.0,
            hidden: float = 0.0, errors: tuple[str, ...] = (),
            upstream: str = "web_servers") -> BackendView:
    address = f"198.18.0.{20 + n}:8001"
    return BackendView(
        address=address, name=f"web{n}", upstream=upstream,
        state=state,  # type: ignore[arg-type]
        config=server(address, n + 1, weight, down=state in ("down", "draining"),
                      backup=state == "backup"),
        configured_share=cfg_share,
        windows=windows(rate, share, p50, p95, p99, err5=err5, hidden=hidden),
        sparkline=wave(rate, n), recent_errors=errors,
        active_connections=int(rate / 10),
    )


def proxy(name: str, holds_vip: bool, connection: str = "connected", rate: float = 240.0,
          error: str | None = None, node: str | None = "active") -> ProxyView:
    return ProxyView(
        name=name, connection=connection,  # type: ignore[arg-type]
        connection_error=error, retry_in=4.0 if connection == "retrying" else None,
        rate=rate if holds_vip else 0.0, requests=812_345 if holds_vip else 1_204,
        malformed=3 if holds_vip else 0,
        malformed_sample='198.18.0.1 - - [25/Nov/2026:02:59:58 +0000] "\\x16\\x03\\x01" 400'
        if holds_vip else None,
        active_connections=37 if holds_vip else 2, holds_vip=holds_vip,
        ha_node_status=node, gaps=0, last_line_at=NOW - 0.3,
    )


def ha(active: str | None = "lb1", standby: str | None = "lb2",
       holders: tuple[str, ...] = ("lb1",), split: bool = False, dead: bool = False,
       links_degraded: bool = False, detail: str = "lb1 active, lb2 standby, links up"
       ) -> HaView:
    return HaView(driver="heartbeat", vip="198.18.0.100", vip_holders=holders, active=active,
                  standby=standby, split_brain=split, peer_dead=dead,
                  links_degraded=links_degraded, detail=detail)


EVENTS = (
    ActionNote(NOW - 12, "SetWeight", "weight of web2 set to 3 on lb1, lb2", "success", "web2"),
    ActionNote(NOW - 95, "connection", "lb2 connected", "info"),
    ActionNote(NOW - 400, "Reload", "nginx -t failed on lb2: unknown directive 'wieght'",
               "error"),
)


def healthy() -> Snapshot:
    """Two proxies, three backends; web3 is slow and under-served."""
    backends = (
        backend(1, weight=3, cfg_share=0.5, rate=160.0, share=0.52, p50=3.8, p95=15.2,
                p99=41.0),
        backend(2, weight=2, cfg_share=1 / 3, rate=98.0, share=0.33, p50=4.4, p95=17.9,
                p99=52.3, err5=0.004, hidden=0.002,
                errors=("02:59:41 502 GET /api/cart upstream prematurely closed",)),
        backend(3, weight=1, cfg_share=1 / 6, rate=45.0, share=0.05, p50=22.0, p95=96.0,
                p99=180.0, errors=("02:59:58 504 GET /report.php upstream timed out",
                                   "02:59:12 504 GET /report.php upstream timed out")),
        backend(4, state="backup", cfg_share=None, rate=0.0, share=0.0, p50=None, p95=None,
                p99=None),
    )
    return Snapshot(
        at=NOW, cluster="prod-eu", requests=813_549, malformed=3, backends=backends,
        proxies=(proxy("lb1", True), proxy("lb2", False, node="active")),
        ha=ha(), drift=(), events=EVENTS, last_event_at=NOW - 0.4,
    )


def split_brain() -> Snapshot:
    s = healthy()
    return replace(
        s, ha=ha(active=None, standby=None, holders=("lb1", "lb2"), split=True,
                 links_degraded=True, detail="both nodes claim the resources; links down"),
        proxies=(proxy("lb1", True), proxy("lb2", True, rate=80.0)),
        drift=("web_servers: web2 weight=2 on lb1, weight=1 on lb2",),
    )


def stale() -> Snapshot:
    return replace(healthy(), last_event_at=NOW - 42.0)


def disconnected() -> Snapshot:
    s = healthy()
    return replace(s, proxies=(
        proxy("lb1", True),
        proxy("lb2", False, connection="retrying", error="Connection refused", node=None),
    ), ha=ha(dead=True, standby=None, detail="lb2 dead (no heartbeat for 30 s)"))


def big(n: int = 120) -> Snapshot:
    s = healthy()
    backends = tuple(
        backend(i, weight=1 + i % 3, cfg_share=1 / n, rate=5.0 + (i * 37) % 50,
                share=1 / n, p50=2.0 + i % 7, p95=10.0 + (i * 13) % 40, p99=50.0 + i % 30,
                state="down" if i % 29 == 0 else "up")
        for i in range(1, n + 1)
    )
    return replace(s, backends=backends)


def last_active() -> Snapshot:
    """Only web1 takes traffic: draining it would leave the upstream with no primary."""
    s = healthy()
    b = s.backends
    return replace(s, backends=(b[0], replace(b[1], state="down"),
                                replace(b[2], state="down"), b[3]))


class FakeFeed:
    """Serves recorded snapshots: the current one until ``push`` replaces it."""

    def __init__(self, snap: Snapshot) -> None:
        self.current = snap
        self.calls = 0
        self.started = False
        self.stopped = False

    def snapshot(self) -> Snapshot:
        self.calls += 1
        return self.current

    def push(self, snap: Snapshot) -> None:
        self.current = snap

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True


@dataclass
class FakePlan:
    title: str
    risk: str = "normal"
    steps: tuple[str, ...] = ()

    def render(self) -> str:
        return "\n".join([self.title, *self.steps])

    def __rich__(self) -> Text:
        return Text(self.render())


@dataclass
class FakeResult:
    ok: bool
    message: str


@dataclass
class FakeDispatcher:
    """Records what the console asked for; plans are normal unless told otherwise."""

    risk: str = "normal"
    ok: bool = True
    planned: list[object] = field(default_factory=list)
    applied: list[object] = field(default_factory=list)

    def plan(self, intent: object) -> FakePlan:
        self.planned.append(intent)
        describe = getattr(intent, "describe", lambda: repr(intent))
        return FakePlan(title=describe(), risk=self.risk,
                        steps=("lb1: --- upstream.conf", "lb1: +++ upstream.conf (staged)"))

    async def apply(self, intent: object, plan: object,
                    progress: Callable[[str], None]) -> FakeResult:
        progress("lb1: nginx -t ok")
        self.applied.append(intent)
        return FakeResult(self.ok, "applied on lb1, lb2" if self.ok else "nginx -t failed")
