"""What an operator asked for, as data: the console and the CLI build these, plans consume them."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class SetWeight:
    """Set a backend's ``weight=`` in its upstream(s)."""

    backend: str  # inventory name or address as written in the upstream
    weight: int
    upstream: str | None = None  # None: every managed upstream that lists the backend

    def describe(self) -> str:
        return f"set weight of {self.backend} to {self.weight}{_in(self.upstream)}"


@dataclass(frozen=True)
class MarkDown:
    """Add ``down``: nginx stops sending new requests to the backend."""

    backend: str
    upstream: str | None = None

    def describe(self) -> str:
        return f"mark {self.backend} down{_in(self.upstream)}"


@dataclass(frozen=True)
class MarkUp:
    """Remove ``down``."""

    backend: str
    upstream: str | None = None

    def describe(self) -> str:
        return f"mark {self.backend} up{_in(self.upstream)}"


@dataclass(frozen=True)
class SetBackup:
    """Add or remove ``backup``."""

    backend: str
    on: bool
    upstream: str | None = None

    def describe(self) -> str:
        verb = "make" if self.on else "stop"
        what = "a backup" if self.on else "being a backup"
        return f"{verb} {self.backend} {what}{_in(self.upstream)}"


@dataclass(frozen=True)
class Drain:
    """Mark down, then wait until the proxies hold no connection to the backend."""

    backend: str
    upstream: str | None = None

    def describe(self) -> str:
        return f"drain {self.backend}{_in(self.upstream)}"


@dataclass(frozen=True)
class Undrain:
    """Put a drained (down) backend back into service."""

    backend: str
    upstream: str | None = None

    def describe(self) -> str:
        return f"undrain {self.backend}{_in(self.upstream)}"


@dataclass(frozen=True)
class Reload:
    """Test and reload nginx on every proxy without changing a file."""

    def describe(self) -> str:
        return "reload nginx on every proxy"


@dataclass(frozen=True)
class Failover:
    """Move the VIP to ``to`` (a proxy name), or to the standby when ``None``."""

    to: str | None = None

    def describe(self) -> str:
        return f"fail over to {self.to or 'the standby'}"


BackendIntent = SetWeight | MarkDown | MarkUp | SetBackup | Drain | Undrain
Intent = BackendIntent | Reload | Failover


def intent_json(intent: Intent) -> dict[str, Any]:
    """The intent for the audit log: its type name and fields."""
    return {"type": type(intent).__name__, **asdict(intent)}


def _in(upstream: str | None) -> str:
    return f" in {upstream}" if upstream else ""
