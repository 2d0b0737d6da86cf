"""How hard a plan's confirmation must be: the word the operator types, or a plain yes.

Shared by the console's confirm screen and the headless commands, so both ask alike.
"""

from __future__ import annotations

from collections.abc import Sequence

from actions import intents
from actions.rules import is_last_serving
from state.snapshot import BackendView


def target(b: BackendView) -> str:
    """How an intent names a backend: its inventory name, else the address as configured."""
    if b.name:
        return b.name
    return b.config.address if b.config else b.address


def takes_traffic(b: BackendView) -> bool:
    """The backend's live state says nginx sends it requests."""
    return b.state in ("up", "failing")


def is_last_active(b: BackendView, backends: Sequence[BackendView]) -> bool:
    """Draining this one would leave its upstream with no primary server taking traffic."""
    return is_last_serving(b, [o for o in backends if o.upstream == b.upstream], takes_traffic)


def confirm_word(
    intent: object, plan_risk: str, *, cluster: str, protected: bool,
    backend: BackendView | None, backends: Sequence[BackendView],
) -> str | None:
    """The name the operator must type, or None when a plain yes will do.

    Typing is required for failover, for draining or downing the last backend taking
    traffic, and for anything on a protected cluster, even if the plan says normal.
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
