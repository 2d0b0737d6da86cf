"""Actions on the real lab: weight, refusals, rollback, locks, leftovers, drain and failover.

Every test puts the lab's config back as it found it (the exact file text, reloaded), and
traffic is bounded in count. Figures (reload, drain and failover times, failed requests)
are printed; run with ``-s`` to see them.
"""

from __future__ import annotations

import asyncio
import re
import signal
import sys
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from actions import intents
from actions.audit import AuditLog
from actions.dispatcher import ClusterActions
from actions.locks import LOCK_DIR
from actions.report import ExecutionResult
from actions.runner import Completed, FeedRunner
from lab import cluster, daemons, topology
from switchboard.inventory import Inventory
from tests.lab.conftest import Lab

pytestmark = pytest.mark.lab

UPSTREAM = "/etc/nginx/conf.d/upstream.conf"
PROXIES = ("lb1", "lb2")
WEB1 = "198.18.0.21:8001"
ROOT = Path(__file__).resolve().parents[2]


def on_host(host: str, path: str) -> Path:
    """A path inside a lab host, seen from this machine (the host's private tree)."""
    return topology.hosts_dir() / host / path.lstrip("/")


def nsenter(host: str, *argv: str) -> str:
    proc = daemons.nsenter(cluster.holders()[host], *argv)
    assert proc.returncode == 0, f"{host}: {' '.join(argv)}: {proc.stderr}"
    return proc.stdout


def server_lines(host: str) -> list[str]:
    dump = nsenter(host, "nginx", "-T")
    return [ln.strip() for ln in dump.splitlines() if ln.strip().startswith("server 198.")]


def web1_line(host: str) -> str:
    return next(ln for ln in server_lines(host) if ln.startswith(f"server {WEB1} "))


def workers(host: str) -> set[str]:
    pid = on_host(host, "/run/nginx.pid").read_text().strip()
    out = nsenter(host, "ps", "-o", "pid=,args=", "--ppid", pid)
    return {ln.split()[0] for ln in out.splitlines()
            if "worker process" in ln and "shutting down" not in ln}


@pytest.fixture
def pristine(lab: Lab) -> Iterator[dict[str, str]]:
    """The proxies' upstream files as the test found them; put back (and reloaded) after."""
    saved = {h: on_host(h, UPSTREAM).read_text() for h in PROXIES}
    yield saved
    for h in PROXIES:
        pid = on_host(h, "/run/nginx.pid")
        moved = pid.with_name("nginx.pid.moved")
        if moved.exists():
            moved.rename(pid)
        for stray in on_host(h, "/etc/nginx").rglob("*.switchboard-new"):
            stray.unlink()
        on_host(h, "/etc/nginx/conf.d/zz-broken.conf").unlink(missing_ok=True)
        owner = on_host(h, LOCK_DIR) / "owner"
        if owner.exists() and "set weight of web1 to 9" in owner.read_text():
            owner.unlink()  # left by this module's killed child, and by nothing else
            owner.parent.rmdir()
        if on_host(h, UPSTREAM).read_text() != saved[h]:
            on_host(h, UPSTREAM).write_text(saved[h])
            nsenter(h, "nginx", "-s", "reload")


@pytest.fixture
async def feed(lab: Lab) -> AsyncIterator[Any]:
    from collectors.runtime import ClusterFeed

    async with ClusterFeed(lab.inventory) as f:
        yield f


async def ready(feed: Any, inv: Inventory, audit: AuditLog, **kw: Any) -> ClusterActions:
    actions = ClusterActions(feed, inv, audit, **kw)
    deadline = time.monotonic() + 30
    while True:
        snap = feed.snapshot()
        if all(p in actions.configs() for p in PROXIES) and snap.ha.active is not None:
            return actions
        assert time.monotonic() < deadline, f"the feed never got configs and HA: {snap.ha}"
        await asyncio.sleep(0.2)


async def apply(actions: ClusterActions, intent: intents.Intent,
                lines: list[str] | None = None) -> ExecutionResult:
    plan = actions.plan(intent)
    out = lines if lines is not None else []
    return await actions.apply(intent, plan, out.append)


async def test_set_weight_reaches_both_proxies_and_the_audit(
        lab: Lab, feed: Any, pristine: dict[str, str], tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    actions = await ready(feed, lab.inventory, audit)
    lines: list[str] = []
    started = time.monotonic()
    result = await apply(actions, intents.SetWeight("web1", 3), lines)
    wall = time.monotonic() - started
    assert result.ok, result.message
    for h in PROXIES:
        assert "weight=3" in web1_line(h)
    records = list(audit.read())
    assert [r["kind"] for r in records] == ["plan", "result"]
    assert records[1]["ok"] is True
    assert records[0]["ssh_users"] == {"lb2": "root", "lb1": "root"}
    assert any(line.startswith("[lb1] reload: ok") for line in lines)
    reload = re.search(r"\(reload (.*)\)", result.message)
    print(f"\nFIGURE set weight: whole apply {wall:.2f} s; {reload.group(1) if reload else ''}")


async def test_failing_config_test_changes_nothing_anywhere(
        lab: Lab, feed: Any, pristine: dict[str, str], tmp_path: Path) -> None:
    actions = await ready(feed, lab.inventory, AuditLog(tmp_path / "audit.jsonl"))
    plan = actions.plan(intents.SetWeight("web1", 4))
    # Someone leaves a broken file where nginx will read it: the staged test must catch it.
    on_host("lb1", "/etc/nginx/conf.d/zz-broken.conf").write_text("this is not nginx;\n")
    before = {h: (workers(h), server_lines(h)) for h in ("lb2",)}
    result = await actions.apply(plan.intent, plan, lambda _l: None)
    assert not result.ok and result.failed is not None
    assert result.failed.kind == "test" and result.failed.host == "lb1"
    assert 'unknown directive "this"' in result.message  # nginx's own words
    assert "old config on both proxies" in result.message
    for h in PROXIES:
        assert on_host(h, UPSTREAM).read_text() == pristine[h]
        assert not list(on_host(h, "/etc/nginx").rglob("*.switchboard-new"))
    assert (workers("lb2"), server_lines("lb2")) == before["lb2"]  # never reloaded


@dataclass
class PidFileThief:
    """Moves lb1's nginx pid file away right before its reload: `nginx -s reload` then fails
    for real (as when someone deletes /run/nginx.pid). The fixture puts it back."""

    inner: FeedRunner
    host: str = ""
    done: list[str] = field(default_factory=list)

    async def run(self, host: str, argv: Sequence[str], *, input: str | None = None,
                  timeout: float = 30.0) -> Completed:  # noqa: ASYNC109
        if host == self.host and list(argv)[-3:] == ["nginx", "-s", "reload"] and not self.done:
            pid = on_host(host, "/run/nginx.pid")  # restored by the `pristine` fixture
            pid.rename(pid.with_name("nginx.pid.moved"))
            self.done.append(host)
        return await self.inner.run(host, argv, input=input, timeout=timeout)


async def test_reload_failing_on_the_second_proxy_rolls_the_first_back(
        lab: Lab, feed: Any, pristine: dict[str, str], tmp_path: Path) -> None:
    thief = PidFileThief(FeedRunner(feed))
    actions = await ready(feed, lab.inventory, AuditLog(tmp_path / "audit.jsonl"),
                          runner=thief)
    plan = actions.plan(intents.SetWeight("web1", 5))
    first, second = plan.hosts  # standby, then active
    thief.host = second
    lines_before = server_lines(first)
    result = await actions.apply(plan.intent, plan, lambda _l: None)
    assert thief.done == [second]
    assert not result.ok and result.failed is not None
    assert (result.failed.host, result.failed.kind) == (second, "reload")
    assert 'open() "/run/nginx.pid" failed' in result.message  # nginx's own words
    assert "Rolled back: old config on both proxies" in result.message
    undone = [(r.host, r.kind) for r in result.records if r.phase == "rollback"]
    assert (first, "reload") in undone and (second, "reload") not in undone
    for h in PROXIES:
        assert on_host(h, UPSTREAM).read_text() == pristine[h]
    assert server_lines(first) == lines_before  # nginx runs the old config again


async def test_file_changed_between_plan_and_apply_is_refused(
        lab: Lab, feed: Any, pristine: dict[str, str], tmp_path: Path) -> None:
    actions = await ready(feed, lab.inventory, AuditLog(tmp_path / "audit.jsonl"))
    plan = actions.plan(intents.SetWeight("web1", 6))
    on_host("lb2", UPSTREAM).write_text(pristine["lb2"] + "# edited by hand\n")
    result = await actions.apply(plan.intent, plan, lambda _l: None)
    assert result.refused and result.exit_code == 2
    assert "changed since the plan was made" in result.message
    assert on_host("lb1", UPSTREAM).read_text() == pristine["lb1"]
    assert on_host("lb2", UPSTREAM).read_text().endswith("# edited by hand\n")


async def test_two_concurrent_applies_one_is_refused_by_the_lock(
        lab: Lab, feed: Any, pristine: dict[str, str], tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    first = await ready(feed, lab.inventory, audit)
    second = ClusterActions(feed, lab.inventory, audit)  # another Switchboard, same cluster
    results = await asyncio.gather(apply(first, intents.SetWeight("web1", 7)),
                                   apply(second, intents.SetWeight("web1", 8)))
    assert sorted(r.ok for r in results) == [False, True], [r.message for r in results]
    loser = next(r for r in results if not r.ok)
    assert loser.refused and "another Switchboard holds the lock" in loser.message
    for h in PROXIES:
        assert not on_host(h, LOCK_DIR).exists()


CRASHING_APPLY = """
import asyncio, os, signal, sys
from actions import intents
from actions.dispatcher import ClusterActions
from actions.runner import FeedRunner
from collectors.runtime import ClusterFeed
from switchboard import inventory

class Crash:
    def __init__(self, inner):
        self.inner, self.staged = inner, 0
    async def run(self, host, argv, *, input=None, timeout=30.0):
        done = await self.inner.run(host, argv, input=input, timeout=timeout)
        if 'cat > ' in ' '.join(argv):
            self.staged += 1
            if self.staged == 2:  # both proxies staged, nothing swapped: die like a kill -9
                os.kill(os.getpid(), signal.SIGKILL)
        return done

async def main():
    inv = inventory.load(sys.argv[1])
    async with ClusterFeed(inv) as feed:
        actions = ClusterActions(feed, inv, None, runner=Crash(FeedRunner(feed)))
        await actions.read_configs()
        while feed.snapshot().ha.active is None:
            await asyncio.sleep(0.2)
        plan = actions.plan(intents.SetWeight("web1", 9))
        await actions.apply(plan.intent, plan, print)

asyncio.run(main())
"""


@pytest.mark.slow
async def test_a_killed_apply_leaves_leftovers_and_a_lock_the_next_run_cleans(
        lab: Lab, feed: Any, pristine: dict[str, str], tmp_path: Path) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CRASHING_APPLY, str(lab.inventory_path),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(child.communicate(), 60)
    finally:
        if child.returncode is None:
            child.kill()  # our own child, by its PID
    assert child.returncode == -signal.SIGKILL, out.decode()
    for h in PROXIES:
        assert on_host(h, LOCK_DIR).is_dir()
        assert on_host(h, UPSTREAM + ".switchboard-new").exists()
        assert on_host(h, UPSTREAM).read_text() == pristine[h]  # never swapped
    actions = await ready(feed, lab.inventory, AuditLog(tmp_path / "audit.jsonl"))
    lines: list[str] = []
    result = await apply(actions, intents.SetWeight("web1", 2), lines)
    assert result.ok, result.message
    assert sorted(left.split(":")[0] for left in result.leftovers) == ["lb1", "lb2"]
    assert all(UPSTREAM + ".switchboard-new" in left for left in result.leftovers)
    assert any(line.startswith("leftover: lb2:") for line in lines)
    assert sum("that process ended without releasing it" in w for w in result.warnings) == 2
    for h in PROXIES:
        assert not on_host(h, UPSTREAM + ".switchboard-new").exists()
        assert not on_host(h, LOCK_DIR).exists()
        assert "weight=2" in web1_line(h)


@dataclass
class Traffic:
    """A bounded request loop through the VIP, one new connection per request, counting
    failures.

    No keep-alive on purpose: on a reload nginx's old workers close their idle keep-alive
    connections, and a request sent on one at that instant gets no answer (a client that
    does not retry sees it fail, whatever Switchboard does). Fresh connections measure what
    the action itself costs.
    """

    vip: str
    rate: float = 40.0
    limit: int = 2000
    sent: int = 0
    failed: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        limits = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(timeout=5.0, trust_env=False, limits=limits) as client:
            while not self.stop.is_set() and self.sent < self.limit:
                self.sent += 1
                try:
                    resp = await client.get(f"http://{self.vip}/",
                                            headers={"Connection": "close"})
                    if resp.status_code >= 500:
                        self.failed.append(f"HTTP {resp.status_code}")
                except httpx.HTTPError as e:
                    self.failed.append(type(e).__name__)
                await asyncio.sleep(1 / self.rate)


def log_lines_since(host: str, since: float) -> list[str]:
    text = on_host(host, "/var/log/nginx/access.log").read_text(errors="replace")
    out = []
    for line in text.splitlines():
        m = re.search(r"msec=(\d+\.\d+)", line)
        if m and float(m.group(1)) >= since:
            out.append(line)
    return out


@pytest.mark.slow
async def test_drain_under_traffic_then_undrain(
        lab: Lab, feed: Any, pristine: dict[str, str], tmp_path: Path) -> None:
    actions = await ready(feed, lab.inventory, AuditLog(tmp_path / "audit.jsonl"),
                          drain_timeout=60)
    traffic = Traffic(lab.inventory.vip)
    task = asyncio.create_task(traffic.run())
    try:
        await asyncio.sleep(2)
        lines: list[str] = []
        started = time.monotonic()
        result = await apply(actions, intents.Drain("web1"), lines)
        drain_secs = time.monotonic() - started
        assert result.ok, result.message
        drained_at = time.time()
        await asyncio.sleep(3)
        after = [ln for h in PROXIES for ln in log_lines_since(h, drained_at)]
        assert after, "no traffic reached the proxies after the drain"
        assert not [ln for ln in after if f'ua="{WEB1}' in ln]
        undrain = await apply(actions, intents.Undrain("web1"))
        assert undrain.ok, undrain.message
        back_at = time.time()
        await asyncio.sleep(3)
        again = [ln for h in PROXIES for ln in log_lines_since(h, back_at)]
        assert [ln for ln in again if f'ua="{WEB1}' in ln]
    finally:
        traffic.stop.set()
        await task
    assert traffic.failed == []
    print(f"\nFIGURE drain: {drain_secs:.2f} s under {traffic.rate:.0f} req/s; "
          f"{traffic.sent} requests, {len(traffic.failed)} failed; progress: "
          f"{[ln for ln in lines if ln.startswith('draining')][:3]}")


@pytest.mark.slow
async def test_failover_under_traffic_and_back(
        lab: Lab, feed: Any, pristine: dict[str, str], tmp_path: Path) -> None:
    audit = AuditLog(tmp_path / "audit.jsonl")
    actions = await ready(feed, lab.inventory, audit)
    active = feed.snapshot().ha.active
    other = next(h for h in PROXIES if h != active)
    traffic = Traffic(lab.inventory.vip)
    task = asyncio.create_task(traffic.run())
    lines: list[str] = []
    try:
        await asyncio.sleep(1)
        started = time.monotonic()
        result = await apply(actions, intents.Failover(), lines)
        secs = time.monotonic() - started
        assert result.ok, result.message + "\n" + "\n".join(lines)
        failed_during = len(traffic.failed)
        sent_before = traffic.sent
        await asyncio.sleep(2)
        assert traffic.sent > sent_before and len(traffic.failed) == failed_during, \
            traffic.failed
        await wait_for_ha(feed, other)
    finally:
        traffic.stop.set()
        await task
        # Back where it was, so the lab stays as the other tests expect it.
        if feed.snapshot().ha.active != active:
            back = await apply(actions, intents.Failover(to=active))
            assert back.ok, back.message
            await wait_for_ha(feed, active)
    post = [ln for ln in lines if ln.startswith(f"[{other}] verify") or "hb_standby" in ln]
    assert any(f"{lab.inventory.vip} on {other} only" in ln for ln in post)
    assert any("5/5 answered" in ln and f"{other}'s log" in ln for ln in post)
    assert [r["kind"] for r in audit.read()][:2] == ["plan", "result"]
    print(f"\nFIGURE failover {active} -> {other}: {secs:.2f} s; {traffic.sent} requests, "
          f"{failed_during} failed during the failover ({traffic.failed[:3]}); steps: "
          + "; ".join(post))


async def wait_for_ha(feed: Any, active: str) -> None:
    deadline = time.monotonic() + 30
    while feed.snapshot().ha.active != active or feed.snapshot().ha.standby is None:
        assert time.monotonic() < deadline, feed.snapshot().ha.detail
        await asyncio.sleep(0.2)
