"""Switchboard as a non-root operator (sbops) with the README's sudoers rule, on the real lab.

The rule is taken from README.md (only its user changed from `ops` to `sbops`) and installed
on both proxies for this module; the lab's own rule is put back afterwards. The feed, a weight
change, a drain and a failover run through `/run/switchboard-lab/inventory-sudo.toml`; then,
with the rule gone or cut to the read-only line, Switchboard fails at once with sudo -n's
refusal and says what to do, and the reads it does as the user keep working.
"""

from __future__ import annotations

import grp
import json
import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.runtime import ClusterFeed
from lab import cluster, topology, users
from lab.topology import LabHost
from switchboard import inventory
from switchboard.inventory import Inventory
from tests.lab import faultkit
from tests.lab.conftest import Lab
from tests.lab.faultkit import (
    ACCESS_LOG,
    PROXIES,
    UPSTREAM,
    live_feed,
    nsenter,
    on_host,
    until,
)

pytestmark = [pytest.mark.lab, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
USER = users.OPERATOR
WEB1 = "198.18.0.21:8001"
AUDIT = Path("/tmp/switchboard-lab-tests/switchboard/audit.jsonl")  # faultkit's XDG_STATE_HOME


def readme_rule(user: str) -> str:
    """README.md's sudoers block, verbatim but for the user it names (`ops`)."""
    text = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"```sudoers\n(.*?)```", text, re.S)
    head, last = block.rstrip("\n").rsplit("\n", 1)
    assert last.startswith("ops ALL=(root) NOPASSWD: "), last
    return f"{head}\n{user}{last[3:]}\n"


def readme_read_only_rule(user: str) -> str:
    """The README's one line for an account that only watches."""
    text = (ROOT / "README.md").read_text()
    (line,) = re.findall(r"`(ops ALL=\(root\) NOPASSWD: /usr/sbin/nginx -T)`", text)
    return f"{user}{line[3:]}\n"


def proxies() -> list[LabHost]:
    return [h for h in cluster.saved_hosts() or () if h.role == "lb"]


def install(text: str | None) -> None:
    """``text`` as the proxies' /etc/sudoers.d/switchboard (None: no rule at all)."""
    for h in proxies():
        if text is None:
            users.remove_sudoers(h)
        else:
            users.install_sudoers(h, text)


@pytest.fixture(scope="module")
def sudo_inventory(lab: Lab) -> Iterator[Inventory]:
    path = topology.sudo_inventory_path()
    inv = inventory.load(path)
    assert {h.name: (h.ssh.user, h.sudo) for h in inv.proxies} == {
        "lb1": (USER, True), "lb2": (USER, True)}
    install(readme_rule(USER))
    try:
        yield inv
    finally:
        install(users.sudoers_rule())


def cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The real CLI as sbops; ``timeout`` bounds it, so a hang would fail, never block."""
    return faultkit.switchboard(*args, timeout=timeout, inventory=topology.sudo_inventory_path())


def web1_line(host: str) -> str:
    dump = nsenter(host, "nginx", "-T")
    return next(ln.strip() for ln in dump.splitlines() if ln.strip().startswith(f"server {WEB1}"))


def last_plan_record() -> dict[str, object]:
    records = [json.loads(ln) for ln in AUDIT.read_text().splitlines() if ln.strip()]
    return dict([r for r in records if r.get("kind") == "plan"][-1])


def test_the_operator_exists_only_inside_the_lab_hosts(lab: Lab) -> None:
    for h in cluster.saved_hosts() or ():
        entry = nsenter(h.name, "getent", "passwd", USER).split(":")
        assert entry[0] == USER and entry[5] == f"/home/{USER}"
        assert set(nsenter(h.name, "id", "-Gn", USER).split()) == {USER, "adm", "haclient"}
        rule = on_host(h.name, users.SUDOERS)
        assert rule.exists() == (h.role == "lb"), h.name
    # this machine's own account files and sudoers.d are untouched
    for path in ("/etc/passwd", "/etc/group", "/etc/shadow"):
        assert f"\n{USER}:" not in "\n" + Path(path).read_text(), path
    assert not Path(users.SUDOERS).exists()


async def test_the_feed_reads_everything_as_sbops(lab: Lab, sudo_inventory: Inventory) -> None:
    async with live_feed(lab, inventory=sudo_inventory) as feed:
        for h in PROXIES:
            who = await feed.session(h).run(["id", "-un"], privileged=False)
            groups = await feed.session(h).run(["id", "-Gn"], privileged=False)
            assert who.stdout.strip() == USER
            assert {"adm", "haclient"} <= set(groups.stdout.split())
        await until(lambda: feed.snapshot().ha.active is not None
                    and feed.snapshot().ha.standby is not None
                    and all(p.ha_node_status for p in feed.snapshot().proxies),
                    "the HA view as sbops")
        await until(lambda: all(feed.configs[h].latest is not None for h in PROXIES),
                    "both configs read with sudo -n nginx -T")
        for h in PROXIES:
            config = feed.configs[h].latest
            assert config is not None
            ups = next(u for u in config.upstreams if u.name == topology.UPSTREAM)
            assert [s.address for s in ups.servers] == [WEB1, "198.18.0.22:8001"]
        before = {p.name: p.requests for p in feed.snapshot().proxies}
        sent = await faultkit.traffic(20, 2, "http://198.18.0.11/", "http://198.18.0.12/")
        assert sent.failed == 0, sent.summary
        await until(lambda: all(faultkit.proxy(feed.snapshot(), h).requests >= before[h]
                                + sent.sent // 2 for h in PROXIES),
                    "every request in both proxies' logs, read as sbops")
        snap = feed.snapshot()
        assert {b.name for b in snap.backends if b.windows["1m"].attempts} == {"web1", "web2"}
        assert all(b.config is not None for b in snap.backends)
        await until(lambda: all(p.active_connections is not None
                                for p in feed.snapshot().proxies)
                    and all(b.active_connections is not None
                            for b in feed.snapshot().backends),
                    "stub_status through sbops's port forwards")
        assert not [e.message for e in snap.events if e.level in ("warning", "error")]
        print(f"\nFIGURE as {USER}: HA {snap.ha.detail}; {sent.sent} requests counted on "
              f"{', '.join(PROXIES)}")


def test_weight_via_the_cli_as_sbops_and_back(lab: Lab, sudo_inventory: Inventory) -> None:
    with faultkit.upstream_kept() as saved:
        started = time.monotonic()
        done = cli("weight", "web1", "3", "--yes")
        took = time.monotonic() - started
        assert done.returncode == 0, done.stdout + done.stderr
        assert "(root)" in done.stdout  # the plan marks what goes through sudo
        for h in PROXIES:
            assert "weight=3" in web1_line(h)
            live = on_host(h, UPSTREAM)
            # staged and swapped through `sudo -n sh`: the file is still root's, 0644
            assert (live.stat().st_uid, live.stat().st_mode & 0o777) == (0, 0o644)
        assert last_plan_record()["ssh_users"] == {"lb1": f"{USER} +sudo", "lb2": f"{USER} +sudo"}
        back = cli("weight", "web1", "1", "--yes")
        assert back.returncode == 0, back.stdout + back.stderr
        for h in PROXIES:
            assert "weight=3" not in web1_line(h)
            assert on_host(h, UPSTREAM).read_text().replace(" weight=1", "") == saved[h]
    print(f"\nFIGURE weight as {USER} with sudo: {took:.1f} s (CLI, both proxies)")


def test_drain_and_undrain_as_sbops(lab: Lab, sudo_inventory: Inventory) -> None:
    with faultkit.upstream_kept():
        done = cli("drain", "web1", "--wait", "--timeout", "60", "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
        assert "wait_drained: ok" in done.stdout  # `ss` run as sbops
        for h in PROXIES:
            assert web1_line(h).endswith(" down;")
        back = cli("undrain", "web1", "--yes")
        assert back.returncode == 0, back.stdout + back.stderr
        for h in PROXIES:
            assert " down" not in web1_line(h)


def test_failover_as_sbops_and_back(lab: Lab, sudo_inventory: Inventory) -> None:
    first = faultkit.wait_one_vip_holder()
    other = next(h for h in PROXIES if h != first)
    try:
        done = cli("failover", "--yes")
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"on {other} only" in done.stdout  # `ip -o addr` as sbops
        faultkit.forget_vip_neighbour()
        assert faultkit.wait_one_vip_holder() == other
        back = cli("failover", "--yes")
        assert back.returncode == 0, back.stdout + back.stderr
        faultkit.forget_vip_neighbour()
        assert faultkit.wait_one_vip_holder() == first
    finally:
        if faultkit.vip_holders() != [first]:  # leave the lab as the other tests expect it
            faultkit.switchboard("failover", "--to", first, "--yes")
            faultkit.forget_vip_neighbour()
            faultkit.wait_one_vip_holder()


async def test_without_the_rule_sudo_refuses_at_once_and_says_what_to_do(
        lab: Lab, sudo_inventory: Inventory) -> None:
    saved = {h: on_host(h, UPSTREAM).read_text() for h in PROXIES}
    try:
        install(None)
        # The CLI asks sudo -n for `nginx -T` first: refused, not prompted; it stops there.
        done = cli("weight", "web1", "3", "--yes", timeout=60)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "sudo: a password is required" in done.stderr  # sudo -n's own words
        assert f"sudo -n refused `nginx` to {USER}" in done.stderr
        assert "the sudoers rule in Switchboard's README, section 'sudo'" in \
            done.stderr
        # What Switchboard reads as the user goes on without any rule.
        async with live_feed(lab, inventory=sudo_inventory) as feed:
            await until(lambda: feed.snapshot().ha.active is not None, "HA view without sudo")
            event = await feed.read_config("lb1")
            assert event.config is None and event.error is not None
            assert f"sudo -n refused `nginx` to {USER}" in event.error

        # The README's read-only line: the config is read, every change is refused at the lock.
        install(readme_read_only_rule(USER))
        done = cli("weight", "web1", "3", "--yes", timeout=60)
        assert done.returncode == 1, done.stdout + done.stderr
        assert "could not lock the proxies" in done.stdout
        assert "sudo: a password is required" in done.stdout
        assert f"sudo -n refused `sh` to {USER}" in done.stdout
        assert done.stdout.rstrip().splitlines()[-1].startswith("could not lock the proxies")
        for h in PROXIES:
            assert on_host(h, UPSTREAM).read_text() == saved[h]
            assert not on_host(h, "/run/switchboard.lock").exists()
            assert not list(on_host(h, "/etc/nginx").rglob("*.switchboard-new"))
    finally:
        install(readme_rule(USER))


async def test_a_log_the_user_cannot_read_says_which_group_to_join(
        lab: Lab, sudo_inventory: Inventory) -> None:
    log = on_host("lb2", ACCESS_LOG)
    before = log.stat()
    try:
        # a group sbops is not in, and no read for others (a rotation may have left 0644)
        os.chown(log, before.st_uid, grp.getgrnam("www-data").gr_gid)
        log.chmod(0o640)
        async with ClusterFeed(sudo_inventory, log_poll=0.1) as feed:
            def told() -> list[str]:
                return [e.message for e in feed.snapshot().events
                        if e.action == "tail" and e.message.startswith("lb2:")]
            await until(lambda: bool(told()), "a warning about lb2's log")
            await until(lambda: feed.tailers["lb1"].position.inode not in ("", "-"),
                        "lb1's log followed all the same")
        assert told()[0] == (
            f"lb2: {ACCESS_LOG}: cannot read {ACCESS_LOG}: permission denied: Switchboard "
            f"reads the log as {USER}, without sudo: add {USER} to the log's group www-data "
            f"(`usermod -aG www-data {USER}` on lb2), then restart Switchboard (a new SSH "
            "login picks up the group)")
    finally:
        os.chown(log, before.st_uid, before.st_gid)
        log.chmod(before.st_mode & 0o7777)
