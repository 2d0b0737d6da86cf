"""The real lab: hosts over SSH, round robin through the VIP, Heartbeat, logs, failover, down."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncssh
import httpx
import pytest

from lab import procs, topology
from switchboard import remote
from tests.lab.conftest import Lab, lab_cli

pytestmark = pytest.mark.lab

HB_STANDBY = "/usr/share/heartbeat/hb_standby"


async def ssh(lab: Lab, name: str, *args: str) -> str:
    """Run one command on a lab host the way the console will: key, strict known_hosts."""
    host = lab.inventory.host(name)
    assert host.ssh.key and host.ssh.known_hosts
    async with asyncssh.connect(
        host.address, port=host.ssh.port, username=host.ssh.user,
        client_keys=[host.ssh.key], known_hosts=host.ssh.known_hosts,
        agent_path=None, config=None, connect_timeout=host.ssh.connect_timeout,
    ) as conn:
        result = await conn.run(remote.command(*args), check=True)
    return str(result.stdout)


async def vip_owner(lab: Lab) -> str | None:
    for proxy in lab.inventory.proxies:
        out = await ssh(lab, proxy.name, "ip", "-o", "-4", "addr", "show", "dev", "eth0")
        if f" {lab.inventory.vip}/" in out:
            return proxy.name
    return None


async def eventually(check: Callable[[], Awaitable[bool]], what: str, limit: float = 15) -> None:
    """Wait for a condition the cluster reaches on its own (a bound, not a timing assertion)."""
    deadline = time.monotonic() + limit
    while not await check():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen within {limit:.0f}s")
        await asyncio.sleep(0.2)


async def get(url: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=3, trust_env=False) as client:
        return await client.get(url)


async def test_every_host_answers_over_ssh_with_its_own_name(lab: Lab) -> None:
    names = [h.name for h in lab.inventory.hosts]
    assert names == ["lb1", "lb2", "web1", "web2"]
    answers = await asyncio.gather(*(ssh(lab, n, "uname", "-n") for n in names))
    assert [a.strip() for a in answers] == names


async def test_both_backends_answer_through_the_vip(lab: Lab) -> None:
    seen = set()
    for _ in range(8):
        resp = await get(f"http://{lab.inventory.vip}/")
        assert resp.status_code == 200
        seen.update(re.findall(r"served-by=(\w+)", resp.text))
    assert seen == {"web1", "web2"}
    php = await get(f"http://{lab.inventory.vip}/index.php")
    assert php.status_code == 200
    assert re.search(r"Hello from PHP on web[12]", php.text)


async def test_heartbeat_reports_the_pair(lab: Lab) -> None:
    active = await vip_owner(lab)
    assert active in {"lb1", "lb2"}
    passive = "lb2" if active == "lb1" else "lb1"
    for name in (active, passive):
        assert "running" in await ssh(lab, name, "cl_status", "hbstatus")
        assert set((await ssh(lab, name, "cl_status", "listnodes")).split()) == {"lb1", "lb2"}
    other = await ssh(lab, active, "cl_status", "nodestatus", passive)
    assert other.strip() == "active"
    assert (await ssh(lab, active, "cl_status", "rscstatus")).strip() in {"all", "local"}
    assert (await ssh(lab, passive, "cl_status", "rscstatus")).strip() in {"none", "local"}


async def test_a_request_lands_in_the_active_proxys_access_log(lab: Lab) -> None:
    active = await vip_owner(lab)
    assert active is not None
    probe = uuid.uuid4().hex
    assert (await get(f"http://{lab.inventory.vip}/?probe={probe}")).status_code == 200
    log = lab.inventory.host(active).access_log
    line = ""

    async def logged() -> bool:
        nonlocal line
        out = await ssh(lab, active, "grep", "-F", probe, log)
        line = out.strip()
        return bool(line)

    await eventually(logged, f"a line with {probe} in {active}:{log}")
    assert re.search(r'ua="198\.18\.0\.2\d:8001" us="200" urt="[\d.]+"', line), line


@pytest.mark.slow
async def test_hb_standby_moves_the_vip_and_traffic_follows(lab: Lab) -> None:
    active = await vip_owner(lab)
    assert active in {"lb1", "lb2"}
    passive = "lb2" if active == "lb1" else "lb1"
    await ssh(lab, active, HB_STANDBY)

    async def moved() -> bool:
        return await vip_owner(lab) == passive

    await eventually(moved, f"the VIP moving from {active} to {passive}")

    async def served() -> bool:
        try:
            return (await get(f"http://{lab.inventory.vip}/")).status_code == 200
        except httpx.HTTPError:
            return False

    await eventually(served, "a 200 through the VIP after the failover", limit=10)
    assert (await ssh(lab, passive, "cl_status", "rscstatus")).strip() == "all"


@pytest.mark.slow
def test_lab_down_leaves_nothing_behind_then_comes_back(lab: Lab) -> None:
    """Last on purpose: it takes the session's lab down, checks, and brings it back up."""
    recorded = procs.records()
    assert recorded, "the lab recorded no PIDs"
    down = lab_cli("down")
    assert down.returncode == 0, down.stderr
    assert [r.key for r in recorded if procs.alive(r)] == []
    assert not topology.runtime().exists()
    assert not Path(f"/sys/class/net/{topology.BRIDGE}").exists()
    listed = lab_cli("status")
    assert listed.stdout.strip() == "lab: down"
    netns = Path("/run/netns")
    assert not any(p.name.startswith("sb-") for p in netns.iterdir()) if netns.exists() else True
    again = lab_cli("down")
    assert again.returncode == 0 and "nothing to do" in again.stderr
    back = lab_cli("up")
    assert back.returncode == 0, back.stderr
    assert back.stdout.strip().splitlines()[-1] == str(lab.inventory_path)
