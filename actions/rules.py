"""What Switchboard refuses to change in an upstream, and why; which backend a name means.

What nginx itself refuses (checked against nginx 1.22's ``nginx -t`` and the
ngx_http_upstream_module docs): ``weight=0`` or a non-number; ``backup`` together with the
``ip_hash``, ``hash`` and ``random`` methods; an upstream whose only servers are backups.
nginx sets no upper bound on ``weight``; Switchboard refuses more than :data:`MAX_WEIGHT` to
catch typos. Weights are valid with every method, but with ``ip_hash`` and ``hash`` a new
weight remaps part of the clients or keys, so the plan is marked risky.

What is merely unwise but refused anyway: marking down, draining or making a backup of the
last server that takes traffic (the upstream would answer 502 to everything); a change that
changes nothing. Draining always uses ``down`` (never a lower weight: weight cannot be 0, and
with ``ip_hash`` only ``down`` keeps the other clients' hashing).

A backend listed in several upstreams is changed in each of them (it is one machine; taking it
out of one group only is what ``upstream=`` on the intent is for), and the plan names every
upstream it touches. A backend listed twice in one upstream is refused as ambiguous.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from actions.edits import Change
from actions.intents import BackendIntent, Drain, MarkDown, MarkUp, SetWeight, Undrain
from state.nginxconf import split_host_port
from state.upstreams import METHODS_WITHOUT_BACKUP, Upstream, UpstreamServer
from switchboard.errors import UsageError

MAX_WEIGHT = 1000

T = TypeVar("T")


class Refused(UsageError):
    """The intent is not carried out; the message says why and what to do instead."""


@dataclass(frozen=True)
class Target:
    """One server line an intent changes."""

    upstream: Upstream
    server: UpstreamServer

    @property
    def label(self) -> str:
        return f"{self.upstream.name}: {self.server.address}"


def _matches(server: UpstreamServer, address: str) -> bool:
    if server.address == address or address in server.resolved:
        return True
    has_port = "]:" in address if address.startswith("[") else address.count(":") == 1
    if address.startswith("unix:") or has_port:
        return False  # a port (or a socket path) was given: only exact forms match
    bare = address.strip("[]")
    hosts = {split_host_port(server.address)[0], *(split_host_port(r)[0] for r in
                                                   server.resolved)}
    return bare in hosts


def resolve_backend(backend: str, upstreams: Sequence[Upstream], names: Mapping[str, str],
                    *, upstream: str | None = None) -> list[Target]:
    """The server lines ``backend`` (inventory name, address, or bare IP) stands for.

    ``names`` maps inventory names to addresses ("web1" -> "198.18.0.21:8001" or
    "198.18.0.21"); an address without a port matches that host on any port.
    """
    pool = list(upstreams)
    if upstream is not None:
        pool = [u for u in upstreams if u.name == upstream]
        if not pool:
            known = ", ".join(u.name for u in upstreams) or "none"
            raise Refused(f"no upstream named {upstream!r} (upstreams: {known})")
    address = names.get(backend, backend)
    targets: list[Target] = []
    for ups in pool:
        found = [s for s in ups.servers if _matches(s, address)]
        if len(found) > 1:
            lines = ", ".join(f"{s.file}:{s.line}" for s in found)
            raise Refused(f"{backend} is listed {len(found)} times in upstream {ups.name} "
                          f"({lines}); edit the file by hand or name the exact address")
        targets.extend(Target(ups, s) for s in found)
    if not targets:
        known = ", ".join(_known(pool, names)) or "none"
        raise Refused(f"unknown backend {backend!r}: no server line matches "
                      f"{address!r} (known: {known})")
    return targets


def _known(upstreams: Sequence[Upstream], names: Mapping[str, str]) -> list[str]:
    by_addr = {addr: name for name, addr in names.items()}
    out: list[str] = []
    for u in upstreams:
        for s in u.servers:
            name = by_addr.get(s.address)
            out.append(f"{name} ({s.address})" if name else s.address)
    return list(dict.fromkeys(out))


def is_last_serving(item: T, group: Iterable[T], serving: Callable[[T], bool]) -> bool:
    """``item`` takes traffic and nothing else in ``group`` (its upstream) does, so taking it
    out would leave nginx no server for new requests (``serving``: what taking traffic means
    for this kind of item: a server line's flags, a backend's live state)."""
    return serving(item) and not any(serving(o) for o in group if o is not item)


def _serving(server: UpstreamServer) -> bool:
    return server.takes_traffic


def change_for(intent: BackendIntent) -> Change:
    """The edit to a server line that carries out ``intent``."""
    if isinstance(intent, SetWeight):
        return Change(weight=intent.weight)
    if isinstance(intent, MarkDown | Drain):
        return Change(down=True)
    if isinstance(intent, MarkUp | Undrain):
        return Change(down=False)
    return Change(backup=intent.on)


def check(intent: BackendIntent, target: Target, host: str = "") -> list[str]:
    """Raise :class:`Refused` if ``intent`` may not be applied to ``target``; else warnings."""
    ups, srv = target.upstream, target.server
    where = f"{srv.address} in upstream {ups.name}" + (f" on {host}" if host else "")
    method = " ".join((ups.method, *ups.method_args))
    warnings: list[str] = []
    others_serving = [s for s in ups.servers if s is not srv and s.takes_traffic]
    if isinstance(intent, SetWeight):
        w = intent.weight
        if isinstance(w, bool) or not isinstance(w, int) or w < 1:
            raise Refused(f"weight {w!r} for {where}: nginx needs a whole number of 1 or more "
                          "(use `down` to take a server out)")
        if w > MAX_WEIGHT:
            raise Refused(f"weight {w} for {where}: Switchboard allows at most {MAX_WEIGHT} "
                          "(nginx has no limit; this catches typos); use smaller ratios")
        if srv.weight == w:
            raise Refused(f"{where} already has weight {w}; nothing to change")
        if ups.method in ("ip_hash", "hash"):
            warnings.append(f"{ups.name} balances by `{method}`: a new weight moves part of "
                            "the clients/keys to other backends (sessions pinned there break)")
        if srv.down:
            warnings.append(f"{where} is down: the weight counts once it is marked up")
    elif isinstance(intent, MarkDown | Drain):
        if srv.down:
            raise Refused(f"{where} is already down; nothing to change")
        if is_last_serving(srv, ups.servers, _serving):
            raise Refused(f"{where} is the last server taking traffic; marking it down would "
                          "make nginx answer 502 to every request. Mark another server up first")
        if srv.takes_traffic and len(others_serving) == 1:
            warnings.append(f"only {others_serving[0].address} will take traffic in {ups.name}")
    elif isinstance(intent, MarkUp | Undrain):
        if not srv.down:
            raise Refused(f"{where} is not down; nothing to change")
    elif intent.on:
        if ups.method in METHODS_WITHOUT_BACKUP:
            raise Refused(f"{where}: nginx refuses `backup` with the `{ups.method}` balancing "
                          "method; use `down` to take the server out instead")
        if srv.backup:
            raise Refused(f"{where} is already a backup; nothing to change")
        if is_last_serving(srv, ups.servers, _serving):
            raise Refused(f"{where} is the last server taking traffic; as a backup it would "
                          "only serve when others fail and nginx refuses an all-backup group")
        if not any(s is not srv and not s.backup for s in ups.servers):
            # a down server still counts for nginx; only an all-backup group is refused
            raise Refused(f"{where} is the only server that is not a backup; nginx refuses "
                          "an upstream whose servers are all backups. Add another server first")
    elif not srv.backup:
        raise Refused(f"{where} is not a backup; nothing to change")
    return warnings
