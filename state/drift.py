"""Differences between two proxies' upstream blocks, as lines a human reads."""

from __future__ import annotations

from state.upstreams import ProxyConfig, Upstream

_COMPARED = ("weight", "max_fails", "fail_timeout", "down", "backup")


def upstream_drift(a: Upstream, b: Upstream, host_a: str, host_b: str) -> list[str]:
    """Lines saying how upstream ``a`` on ``host_a`` differs from ``b`` on ``host_b``."""
    out: list[str] = []
    name = a.name
    if a.method != b.method:
        out.append(f"{name}: method {a.method} on {host_a}, {b.method} on {host_b}")
    if a.hash_key != b.hash_key:
        out.append(f"{name}: hash key {a.hash_key!r} on {host_a}, {b.hash_key!r} on {host_b}")
    b_servers = {s.address: s for s in b.servers}
    for s in a.servers:
        other = b_servers.pop(s.address, None)
        if other is None:
            out.append(f"{name}: {s.address} only on {host_a}")
            continue
        for field in _COMPARED:
            x, y = getattr(s, field), getattr(other, field)
            if x != y:
                out.append(f"{name}: {s.address} {field} {x} on {host_a}, {y} on {host_b}")
    out.extend(f"{name}: {addr} only on {host_b}" for addr in b_servers)
    return out


def config_drift(a: ProxyConfig, b: ProxyConfig, only: tuple[str, ...] = ()) -> list[str]:
    """Every difference between the upstreams of two proxies (``only``: these names)."""
    ua = {u.name: u for u in a.upstreams if not only or u.name in only}
    ub = {u.name: u for u in b.upstreams if not only or u.name in only}
    out: list[str] = []
    for name, up in ua.items():
        if name not in ub:
            out.append(f"upstream {name} only on {a.host}")
        else:
            out.extend(upstream_drift(up, ub[name], a.host, b.host))
    out.extend(f"upstream {name} only on {b.host}" for name in ub if name not in ua)
    return out


