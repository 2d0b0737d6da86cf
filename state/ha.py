"""Derives the pair's HA view (active, standby, split brain, dead peer, links) from HaStatus.

Also reads the raw answers that view is made of (``ip -o addr``, ``cl_status``), so the HA
poller and the failover checks judge them alike.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence

from state.events import HaStatus
from state.snapshot import HaView

_LOCAL_RESOURCES = frozenset({"local", "all"})
_ALIVE = frozenset({"active", "up"})

Sections = list[tuple[list[str], list[str]]]


def addresses(ip_output: Iterable[str]) -> set[str]:
    """Every local address in ``ip -o addr show`` (or ``ip -br addr``) lines, without prefix
    length, in canonical form (a point-to-point line's ``peer`` is the other end, not ours)."""
    found: set[str] = set()
    for line in ip_output:
        words = line.split()
        if len(words) > 3 and words[2] in ("inet", "inet6"):
            candidates = words[3:4]
        else:
            candidates = [w for w in words[2:] if "/" in w]
        for word in candidates:
            try:
                found.add(str(ipaddress.ip_address(word.split("/", 1)[0])))
            except ValueError:
                continue
    return found


def holds_address(ip_output: Iterable[str], address: str) -> bool:
    """Whether ``ip -o addr show`` lines list ``address`` (its ``/prefix`` ignored)."""
    try:
        wanted = str(ipaddress.ip_address(address.split("/", 1)[0].strip()))
    except ValueError:
        return False
    return wanted in addresses(ip_output)


def sections(text: str) -> Sections:
    """Output made of ``@@ NAME ARGS`` headers as (header words, body lines), in order."""
    out: Sections = []
    for line in text.splitlines():
        if line.startswith("@@ "):
            out.append((line[3:].split() or [""], []))  # a bare "@@ " names nothing we read
        elif out:
            out[-1][1].append(line)
    return out


def one_word(body: Sequence[str]) -> str:
    """The answer of a one-word ``cl_status`` command, ignoring blank and log lines."""
    words = [ln.strip() for ln in body if ln.strip()]
    return words[-1] if words else ""


def nodes_and_links(parts: Sections) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """``cl_status`` words from ``@@ node NODE`` (nodestatus) and ``@@ link NODE LINK``
    (hblinkstatus) sections: node -> word, and node -> link -> word."""
    nodes: dict[str, str] = {}
    links: dict[str, dict[str, str]] = {}
    for header, body in parts:
        if header[:1] == ["node"] and len(header) >= 2:
            nodes[header[1]] = one_word(body)
        elif header[:1] == ["link"] and len(header) >= 3:
            links.setdefault(header[1], {})[header[2]] = one_word(body)
    return nodes, links


def node_alive(word: str) -> bool:
    """Heartbeat's word for a node that takes part in the cluster."""
    return word.lower() in _ALIVE


def link_up(word: str) -> bool:
    """Heartbeat's word for a link that carries heartbeats."""
    return word.lower() == "up"


def derive(statuses: Mapping[str, HaStatus], *, proxies: Sequence[str], driver: str,
           vip: str) -> HaView:
    """The HA view from the latest HaStatus of each proxy (keyed by proxy host name)."""
    names = list(proxies) + sorted(h for h in statuses if h not in proxies)
    known = [statuses[h] for h in names if h in statuses]
    holders = tuple(s.host for s in known if s.holds_vip)
    owners = [s.host for s in known
              if s.holds_vip and s.heartbeat_running and s.resources in _LOCAL_RESOURCES]
    if owners:
        active: str | None = owners[0]
    elif len(holders) == 1:
        active = holders[0]  # holds the VIP though Heartbeat says otherwise; still serving
    else:
        active = None
    standby = None
    if active is not None:
        standby = next((s.host for s in known
                        if s.host != active and s.heartbeat_running and not s.holds_vip), None)
    split_brain = len(holders) > 1
    dead_peers = sorted({node for s in known for node, word in s.nodes.items()
                         if node != s.local_node and word.lower() == "dead"})
    # A node's links to itself read "dead" with ucast (it never hears its own packets), so
    # only the links each proxy sees towards its peers count.
    bad_links = sorted({f"{node}/{link} {state}" for s in known
                        for node, links in s.links.items() if node != s.local_node
                        for link, state in links.items() if not link_up(state)})
    return HaView(
        driver=driver,
        vip=vip,
        vip_holders=holders,
        active=active,
        standby=standby,
        split_brain=split_brain,
        peer_dead=bool(dead_peers),
        links_degraded=bool(bad_links),
        detail=_detail(known, names, holders, active, standby, split_brain, dead_peers,
                       bad_links, vip),
    )


def node_word(statuses: Mapping[str, HaStatus], host: str) -> str | None:
    """Heartbeat's word for one proxy: its own report first, else what a peer says of it."""
    own = statuses.get(host)
    if own is not None and own.local_node and own.local_node in own.nodes:
        return own.nodes[own.local_node]
    node = own.local_node if own is not None and own.local_node else host
    for s in statuses.values():
        if s.host != host and node in s.nodes:
            return s.nodes[node]
    if own is not None and not own.heartbeat_running:
        return "stopped"
    return None


def _detail(known: Sequence[HaStatus], names: Sequence[str], holders: tuple[str, ...],
            active: str | None, standby: str | None, split_brain: bool,
            dead_peers: Sequence[str], bad_links: Sequence[str], vip: str) -> str:
    if not known:
        return "no HA status yet"
    if split_brain:
        return f"SPLIT BRAIN: {' and '.join(holders)} both hold VIP {vip}"
    parts: list[str] = []
    if active is not None:
        parts.append(f"{active} active")
    else:
        parts.append(f"no proxy holds VIP {vip}" if vip else "no proxy holds the VIP")
    if standby is not None:
        parts.append(f"{standby} standby")
    for s in known:
        if s.error:
            parts.append(f"{s.host}: {s.error}")
        elif not s.heartbeat_running:
            parts.append(f"{s.host}: heartbeat not running")
    if dead_peers:
        parts.append(f"dead: {', '.join(dead_peers)}")
    if bad_links:
        parts.append(f"links: {', '.join(bad_links)}")
    missing = [n for n in names if n not in {s.host for s in known}]
    if missing:
        parts.append(f"no status from {', '.join(missing)}")
    return "; ".join(parts)
