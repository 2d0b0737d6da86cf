"""Immutable views of the cluster state that the console renders and `watch --json` prints."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from state.events import ActionNote, ConnectionState
from state.upstreams import UpstreamServer

WINDOWS: tuple[str, ...] = ("10s", "1m", "5m", "15m")
WINDOW_SECONDS: dict[str, int] = {"10s": 10, "1m": 60, "5m": 300, "15m": 900}
STATUS_CLASSES: tuple[str, ...] = ("1xx", "2xx", "3xx", "4xx", "5xx", "none")

BackendState = Literal["up", "down", "backup", "draining", "failing", "unknown"]


@dataclass(frozen=True)
class WindowStats:
    """One backend's figures over one window."""

    attempts: int = 0
    rate: float = 0.0  # attempts per second over the window
    status: dict[str, int] = field(default_factory=dict)  # class ("2xx") -> count
    hidden_errors: int = 0  # failed attempts whose request another backend then served
    share: float = 0.0  # this backend's attempts / all attempts in the upstream, 0..1
    p50_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None


@dataclass(frozen=True)
class BackendView:
    address: str  # as nginx logs it
    name: str | None  # inventory name when known
    upstream: str | None
    state: BackendState
    config: UpstreamServer | None  # from the active proxy's nginx -T
    configured_share: float | None  # weight / sum of weights of servers that take traffic
    windows: dict[str, WindowStats]  # keyed by WINDOWS
    sparkline: tuple[float, ...] = ()  # attempts/s for each of the last 60 s, oldest first
    recent_errors: tuple[str, ...] = ()  # newest first, short text
    active_connections: int | None = None  # from the backend's stub_status

    @property
    def label(self) -> str:
        return self.name or self.address


@dataclass(frozen=True)
class ProxyView:
    name: str
    connection: ConnectionState
    connection_error: str | None
    retry_in: float | None
    rate: float  # client requests/s over 10 s
    requests: int  # client requests parsed since start
    malformed: int
    malformed_sample: str | None
    active_connections: int | None
    holds_vip: bool
    ha_node_status: str | None  # Heartbeat's word for this node
    gaps: int  # log gaps seen
    last_line_at: float | None
    config_error: str | None = None  # why the last `nginx -T` read failed (or half-failed)


@dataclass(frozen=True)
class HaView:
    driver: str
    vip: str
    vip_holders: tuple[str, ...]
    active: str | None
    standby: str | None
    split_brain: bool
    peer_dead: bool
    links_degraded: bool
    detail: str  # one line a human reads


@dataclass(frozen=True)
class Snapshot:
    at: float
    cluster: str
    requests: int  # client requests parsed, all proxies
    malformed: int
    backends: tuple[BackendView, ...]
    proxies: tuple[ProxyView, ...]
    ha: HaView
    drift: tuple[str, ...] = ()  # human-readable differences between the proxies' upstreams
    events: tuple[ActionNote, ...] = ()  # newest first, bounded
    last_event_at: float | None = None  # for "data age" / stale banner

    def to_json(self, window: str = "1m") -> dict[str, Any]:
        """The documented `switchboard watch --json` schema (see README)."""
        return {
            "at": self.at,
            "cluster": self.cluster,
            "window": window,
            "requests": self.requests,
            "malformed": self.malformed,
            "backends": [
                {
                    "address": b.address,
                    "name": b.name,
                    "upstream": b.upstream,
                    "state": b.state,
                    "weight": b.config.weight if b.config else None,
                    "configured_share": b.configured_share,
                    "attempts": b.windows[window].attempts,
                    "rate": round(b.windows[window].rate, 3),
                    "status": dict(b.windows[window].status),
                    "hidden_errors": b.windows[window].hidden_errors,
                    "share": round(b.windows[window].share, 4),
                    "p50_ms": _ms(b.windows[window].p50_ms),
                    "p95_ms": _ms(b.windows[window].p95_ms),
                    "p99_ms": _ms(b.windows[window].p99_ms),
                }
                for b in self.backends
            ],
            "proxies": [
                {
                    "name": p.name,
                    "connection": p.connection,
                    "requests": p.requests,
                    "malformed": p.malformed,
                    "rate": round(p.rate, 3),
                    "holds_vip": p.holds_vip,
                    "gaps": p.gaps,
                    "config_error": p.config_error,
                }
                for p in self.proxies
            ],
            "ha": {
                "active": self.ha.active,
                "standby": self.ha.standby,
                "vip": self.ha.vip,
                "vip_holders": list(self.ha.vip_holders),
                "split_brain": self.ha.split_brain,
                "peer_dead": self.ha.peer_dead,
                "links_degraded": self.ha.links_degraded,
            },
            "drift": list(self.drift),
        }


def _ms(value: float | None) -> float | None:
    # The sketch is accurate to 1%: more digits than this would only be noise.
    return None if value is None else round(value, 2)
