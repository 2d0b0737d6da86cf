"""From a key and the selected backend to an intent, and how hard its confirmation must be."""

from __future__ import annotations

from collections.abc import Sequence

from actions import intents
from state.snapshot import BackendView


def target(b: BackendView) -> str:
    """How an intent names a backend: its inventory name, else the address as configured."""
    if b.name:
        return b.name
    return b.config.address if b.config else b.address


def takes_traffic(b: BackendView) -> bool:
    return b.state in ("up", "failing")


def is_last_active(b: BackendView, backends: Sequence[BackendView]) -> bool:
    """Draining this one would leave its upstream with no primary server taking traffic."""
    peers = [o for o in backends if o.upstream == b.upstream and o is not b]
    return takes_traffic(b) and not any(takes_traffic(o) for o in peers)


def toggle_down(b: BackendView) -> intents.MarkDown | intents.MarkUp:
    if b.state == "down" or (b.config is not None and b.config.down):
        return intents.MarkUp(target(b), upstream=b.upstream)
    return intents.MarkDown(target(b), upstream=b.upstream)


def toggle_backup(b: BackendView) -> intents.SetBackup:
    on = not (b.state == "backup" or (b.config is not None and b.config.backup))
    return intents.SetBackup(target(b), on=on, upstream=b.upstream)


def toggle_drain(b: BackendView) -> intents.Drain | intents.Undrain:
    down = b.state in ("draining", "down") or (b.config is not None and b.config.down)
    if down:
        return intents.Undrain(target(b), upstream=b.upstream)
    return intents.Drain(target(b), upstream=b.upstream)


def set_weight(b: BackendView, weight: int) -> intents.SetWeight:
    return intents.SetWeight(target(b), weight, upstream=b.upstream)


def describe(intent: object) -> str:
    text = getattr(intent, "describe", None)
    return str(text()) if callable(text) else repr(intent)


def confirm_word(
    intent: object, plan_risk: str, *, cluster: str, protected: bool,
    backend: BackendView | None, backends: Sequence[BackendView],
) -> str | None:
    """The name the operator must type, or None when a plain yes will do.

    The console insists on typing for failover, for draining or downing the last backend
    taking traffic, and for anything on a protected cluster, even if the plan says normal.
    """
    risky = plan_risk == "risky" or protected or isinstance(intent, intents.Failover)
    if (
        isinstance(intent, intents.Drain | intents.MarkDown)
        and backend is not None
        and is_last_active(backend, backends)
    ):
        risky = True
    if not risky:
        return None
    if backend is not None and not isinstance(intent, intents.Reload | intents.Failover):
        return target(backend)
    return cluster
