"""Events: the only thing collectors produce and the reducer consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from state.upstreams import ProxyConfig


@dataclass(frozen=True, slots=True)
class Attempt:
    """One try of one request on one upstream server, from the $upstream_* lists."""

    address: str  # as nginx logs it: "198.18.0.21:8001", "unix:/p.sock", "[::1]:8001", group name
    status: int | None  # None when nginx logged "-" (no response: connect failed, timeout)
    seconds: float | None  # $upstream_response_time for this attempt, None for "-"


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed access-log line."""

    timestamp: float  # epoch seconds ($msec if logged, else $time_local/$time_iso8601)
    status: int  # what the client got
    request_time: float | None
    attempts: tuple[Attempt, ...]
    method: str = ""
    uri: str = ""


@dataclass(frozen=True)
class LogBatch:
    """Lines read from one proxy's access log in one chunk."""

    host: str
    requests: tuple[Request, ...]
    malformed: int = 0
    received_at: float = 0.0
    malformed_sample: str | None = None  # one bad line (truncated), to show why


@dataclass(frozen=True)
class LogGap:
    """Lines that could not be read (reconnect after rotation, truncation): shown, never hidden."""

    host: str
    reason: str
    lines_lost: int | None  # None: unknown how many
    at: float


ConnectionState = Literal["connecting", "connected", "retrying", "failed"]


@dataclass(frozen=True)
class HostHealth:
    host: str
    state: ConnectionState
    at: float
    retry_in: float | None = None
    error: str | None = None


@dataclass(frozen=True)
class HaStatus:
    """What Heartbeat says on one proxy, and whether that proxy holds the VIP."""

    host: str
    at: float
    heartbeat_running: bool
    local_node: str = ""
    nodes: dict[str, str] = field(default_factory=dict)  # node -> "active" | "dead" | ...
    links: dict[str, dict[str, str]] = field(default_factory=dict)  # node -> {link: "up"}
    resources: str = ""  # cl_status rscstatus: "all" | "local" | "foreign" | "none" | "transition"
    holds_vip: bool = False
    error: str | None = None


@dataclass(frozen=True)
class ConfigRead:
    host: str
    at: float
    config: ProxyConfig | None
    error: str | None = None


@dataclass(frozen=True)
class StubStatus:
    host: str
    at: float
    active: int
    reading: int
    writing: int
    waiting: int
    accepts: int
    handled: int
    requests: int
    error: str | None = None  # the page could not be read: the figures above mean nothing


@dataclass(frozen=True)
class ActionNote:
    """Progress or result of an action, for the event log and the drain progress line."""

    at: float
    action: str
    message: str
    level: Literal["info", "success", "warning", "error"] = "info"
    backend: str | None = None


Event = LogBatch | LogGap | HostHealth | HaStatus | ConfigRead | StubStatus | ActionNote
