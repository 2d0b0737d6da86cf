"""The header calls a proxy active only when it holds the VIP, not when Heartbeat says
"active" (its word for a live node)."""

from __future__ import annotations

from console.columns import Palette
from console.widgets.header import header_parts
from state.events import HaStatus
from state.reducer import ClusterState

T = 1_764_039_600.0
NODES = {"lb1": "active", "lb2": "active"}


def _top(**holds: bool) -> str:
    s = ClusterState(cluster="lab", vip="198.18.0.100", proxies=("lb1", "lb2"))
    for host in ("lb1", "lb2"):
        s.apply(HaStatus(host, T, True, host, dict(NODES), resources="all" if holds.get(host)
                         else "none", holds_vip=holds.get(host, False)))
    top, _right, _bottom, _req = header_parts(s.snapshot(T), T, "1m", None, Palette(), False)
    return top.plain


def test_while_the_vip_moves_nobody_is_called_active() -> None:
    top = _top()
    assert "VIP 198.18.0.100→nobody" in top
    assert "lb1 up · lb2 up" in top


def test_the_holder_is_active_and_the_peer_standby() -> None:
    assert "lb1 standby · lb2 active" in _top(lb2=True)


def test_in_split_brain_both_holders_read_active() -> None:
    assert "lb1 active · lb2 active" in _top(lb1=True, lb2=True)
