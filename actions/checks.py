"""Checks around a plan that read the live picture: failover pre-flight/post-checks, drain quiet.

Pre-flight problems come from the snapshot alone (pure); the post-checks ask the proxies
(``ip -o addr``), send a few bounded requests to the VIP from this machine with httpx, and
watch the snapshot for the lines those requests leave in the new active's access log.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import httpx

from actions.report import CheckFailed, LocalCheck, Progress
from actions.runner import RemoteRunner
from state.ha import holds_address, link_up, node_alive, nodes_and_links, sections
from state.snapshot import BackendView, Snapshot
from state.upstreams import bracket_host

SnapshotSource = Callable[[], Snapshot | None]
Sleep = Callable[[float], Awaitable[None]]

VIP_TIMEOUT = 30.0
HTTP_REQUESTS = 5
HTTP_SPACING = 0.5
LOG_TIMEOUT = 10.0
QUIET_SECONDS = 3


def failover_problems(snap: Snapshot | None, active: str, target: str) -> list[str]:
    """Why a failover from ``active`` to ``target`` must not start, from the HA view."""
    if snap is None:
        return ["no snapshot of the cluster yet: wait for the collectors"]
    ha = snap.ha
    out: list[str] = []
    if ha.split_brain:
        out.append(f"split brain: {' and '.join(ha.vip_holders)} both hold the VIP; "
                   "resolve it before moving anything")
    if ha.active != active:
        out.append(f"the HA view says the active proxy is {ha.active or 'nobody'}, not "
                   f"{active}; wait for the HA poller or check Heartbeat")
    if ha.peer_dead:
        out.append(f"Heartbeat reports a dead node ({ha.detail}); the peer cannot take over")
    if ha.links_degraded:
        out.append(f"Heartbeat links are degraded ({ha.detail}); fix them first")
    proxy = next((p for p in snap.proxies if p.name == target), None)
    if proxy is None:
        out.append(f"{target} is not a proxy of this cluster")
    else:
        if proxy.connection != "connected":
            out.append(f"{target} is not reachable over SSH ({proxy.connection}"
                       f"{': ' + proxy.connection_error if proxy.connection_error else ''})")
        if proxy.ha_node_status is not None and not node_alive(proxy.ha_node_status):
            out.append(f"Heartbeat says {target} is {proxy.ha_node_status}")
    if snap.drift:
        out.append("the proxies' upstreams differ, so traffic would change with the VIP: "
                   + "; ".join(snap.drift[:5]) + " (make them identical first)")
    return out


# $1 the peer's node name: its status and that of every heartbeat link to it, in the
# HA poller's "@@ node N" / "@@ link N L" sections so one parser reads both.
PEER_SH = ('printf "@@ node %s\\n" "$1"; cl_status nodestatus "$1" 2>&1; '
           'for l in $(cl_status listhblinks "$1" 2>/dev/null); do '
           'printf "@@ link %s %s\\n" "$1" "$l"; cl_status hblinkstatus "$1" "$l" 2>&1; done')


def peer_links(runner: RemoteRunner, host: str, peer: str, peer_node: str) -> LocalCheck:
    """On ``host``: Heartbeat sees ``peer`` alive and every heartbeat link to it up."""

    async def run(progress: Progress) -> str:
        # cl_status needs no root (Debian's is setgid haclient): as the SSH user.
        done = await runner.run(host, ["sh", "-c", PEER_SH, "sh", peer_node], timeout=15.0)
        nodes, links_of = nodes_and_links(sections(done.stdout))
        node, links = nodes.get(peer_node, ""), links_of.get(peer_node, {})
        if not node_alive(node):
            raise CheckFailed(f"Heartbeat on {host} says {peer} is {node or 'unknown'}")
        bad = {name: state for name, state in links.items() if not link_up(state)}
        if not links or bad:
            what = ", ".join(f"{n} {s}" for n, s in bad.items()) or "no heartbeat link listed"
            raise CheckFailed(f"Heartbeat on {host}: links to {peer}: {what}")
        return f"{peer} {node}; links {', '.join(f'{n} up' for n in links)}"

    return LocalCheck("check", host, f"Heartbeat on {host} sees {peer} alive, every link up",
                      run)


def vip_moved(runner: RemoteRunner, vip: str, old: str, new: str,
              *, timeout: float = VIP_TIMEOUT, sleep: Sleep = asyncio.sleep,
              clock: Callable[[], float] = time.monotonic) -> LocalCheck:
    """``ip -o addr`` on both proxies until only ``new`` carries the VIP."""

    async def run(progress: Progress) -> str:
        start = clock()
        where: dict[str, bool] = {}
        while True:
            for host in (new, old):
                done = await runner.run(host, ["ip", "-o", "addr", "show"], timeout=10.0)
                where[host] = holds_address(done.stdout.splitlines(), vip)
            if where[new] and not where[old]:
                return f"{vip} on {new} only ({clock() - start:.1f} s)"
            if clock() - start >= timeout:
                holders = [h for h, has in where.items() if has] or ["nobody"]
                raise CheckFailed(f"after {timeout:g} s {vip} is on {', '.join(holders)}")
            await sleep(0.25)

    return LocalCheck("verify", new, f"VIP {vip} moved from {old} to {new} (ip -o addr)", run)


def requests_through_vip(vip: str, new: str, snapshot: SnapshotSource, *,
                         count: int = HTTP_REQUESTS, spacing: float = HTTP_SPACING,
                         log_timeout: float = LOG_TIMEOUT, sleep: Sleep = asyncio.sleep,
                         clock: Callable[[], float] = time.monotonic,
                         transport: httpx.AsyncBaseTransport | None = None) -> LocalCheck:
    """A few GETs to ``http://<vip>/`` succeed, and ``new``'s access log shows new lines."""

    async def run(progress: Progress) -> str:
        before = _proxy_requests(snapshot(), new)
        failures: list[str] = []
        host = bracket_host(vip)
        async with httpx.AsyncClient(timeout=5.0, trust_env=False,
                                     transport=transport) as client:
            for i in range(count):
                try:
                    resp = await client.get(f"http://{host}/", headers={
                        "User-Agent": "switchboard-failover-check"})
                    if resp.status_code >= 500:
                        failures.append(f"HTTP {resp.status_code}")
                except httpx.HTTPError as e:
                    failures.append(f"{type(e).__name__}: {e}")
                if i + 1 < count:
                    await sleep(spacing)
        if failures:
            raise CheckFailed(f"{len(failures)} of {count} requests to http://{host}/ failed: "
                              + "; ".join(failures[:3]))
        progress(f"[{new}] {count} requests through the VIP: all answered")
        if before is None:
            return f"{count}/{count} requests answered (no access-log count for {new} to watch)"
        start = clock()
        while True:
            now = _proxy_requests(snapshot(), new)
            if now is not None and now > before:
                return f"{count}/{count} answered; {now - before} new line(s) in {new}'s log"
            if clock() - start >= log_timeout:
                raise CheckFailed(f"the requests were answered but {new}'s access log shows no "
                                  f"new line after {log_timeout:g} s: is {new} the one serving?")
            await sleep(0.25)

    return LocalCheck("verify", new, f"requests through http://{vip}/ succeed and reach {new}",
                      run)


def _proxy_requests(snap: Snapshot | None, name: str) -> int | None:
    if snap is None:
        return None
    proxy = next((p for p in snap.proxies if p.name == name), None)
    return proxy.requests if proxy is not None else None


def drain_quiet(backend: str, addresses: Sequence[str], snapshot: SnapshotSource, *,
                quiet: int = QUIET_SECONDS, timeout: float = 60.0,
                sleep: Sleep = asyncio.sleep, wall: Callable[[], float] = time.time
                ) -> LocalCheck:
    """No attempt to the backend in the proxies' logs for ``quiet`` whole seconds, counted
    from when this check starts (after every proxy showed no connection left)."""

    async def run(progress: Progress) -> str:
        start = wall()
        begin = int(start) + 1
        last_report = -5.0
        while True:
            snap = snapshot()
            if snap is None:
                return "no snapshot to watch (log check skipped)"
            second = int(snap.at)
            views = [b for b in snap.backends if b.address in addresses]
            recent = _attempts_since(views, begin, second)
            waited = wall() - start
            if recent:
                begin = second + 1  # a new attempt: the quiet period starts again after it
            elif second - begin >= quiet + 1:  # one second more: log lines arrive late
                return f"no new request to {backend} in the logs for {quiet} s"
            if waited - last_report >= 5.0:
                last_report = waited
                progress(f"draining {backend}: waiting for {quiet} s without new requests in "
                         f"the logs ({recent} since {time.strftime('%H:%M:%S', time.gmtime(begin))}"
                         f", {waited:.0f} s)")
            if waited >= timeout:
                raise CheckFailed(f"the proxies' logs still show new requests to {backend} "
                                  f"after {timeout:g} s ({recent} in the last seconds)")
            await sleep(0.5)

    return LocalCheck("verify", "logs", f"no new request to {backend} in the proxies' logs "
                      f"for {quiet} s", run, undo_on_failure=False)


def _attempts_since(views: Sequence[BackendView], begin: int, second: int) -> int:
    total = 0.0
    for b in views:
        line = b.sparkline
        for s in range(max(begin, second - len(line) + 1), second + 1):
            total += line[len(line) - 1 - (second - s)]
    return int(total)
