"""The executor on a fake cluster whose file steps are the plan's real shell scripts."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from actions import Drain, Failover, MarkDown, SetWeight, build_plan
from actions.audit import AuditLog
from actions.checks import requests_through_vip, vip_moved
from actions.executor import Executor
from actions.expect import live_workers
from actions.locks import LOCK_DIR, Owner
from actions.plan import Plan, Step
from actions.report import CheckFailed, ExecutionResult, LocalCheck
from state.events import ActionNote
from state.upstreams import ProxyConfig
from switchboard.nginx_parse import parse_dump
from tests.unit.executor_fakes import INV, NGINX_PID_MISSING, FakeCluster
from tests.unit.nginx_fixtures import DATA

# Real processes (sshd, nginx -t, a Textual pilot) or many examples: seconds, not ms.
pytestmark = pytest.mark.slow

LB1 = (DATA / "lb1-nginx-T.txt").read_text()
NAMES = {"web1": "198.18.0.21:8001", "web2": "198.18.0.22:8001"}
ORDER = ("lb2", "lb1")
UPSTREAM = "/etc/nginx/conf.d/upstream.conf"
WEB1 = "    server 198.18.0.21:8001 max_fails=2 fail_timeout=30s;"


def configs() -> dict[str, ProxyConfig]:
    return {h: parse_dump(LB1, h) for h in ORDER}


class Clock:
    """Fake time for polling steps: sleeping advances it."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def setup(tmp_path: Path, plan_of: object = None) -> tuple[FakeCluster, Executor, list[str],
                                                           list[ActionNote], AuditLog]:
    cluster = FakeCluster(tmp_path / "hosts", configs())
    lines: list[str] = []
    notes: list[ActionNote] = []
    audit = AuditLog(tmp_path / "audit.jsonl")
    clock = Clock()
    ex = Executor(cluster, INV, audit=audit, notify=notes.append, clock=clock,
                  sleep=clock.sleep)
    return cluster, ex, lines, notes, audit


def weight_plan() -> Plan:
    return build_plan(SetWeight("web1", 3), configs(), ORDER, NAMES)


async def test_success_changes_both_proxies_standby_first_and_audits(tmp_path: Path) -> None:
    cluster, ex, lines, notes, audit = setup(tmp_path)
    plan = weight_plan()
    result = await ex.execute(plan, lines.append)
    assert result.ok, result.message
    assert result.message.startswith("set weight of web1 to 3: done on lb2, lb1 in ")
    for p in cluster.proxies.values():
        assert "server 198.18.0.21:8001 weight=3 max_fails=2" in p.live()[UPSTREAM]
        assert p.running == p.live() and p.generation == 2
        assert p.strays() == [] and not (p.root / LOCK_DIR.lstrip("/")).exists()
        assert (p.root / (UPSTREAM + ".switchboard-bak").lstrip("/")).read_text() == \
            configs()["lb1"].files[UPSTREAM]
        assert p.syslog and "set weight of web1 to 3: ok" in p.syslog[0]
    reloads = [h for h, argv in cluster.calls if argv == ("nginx", "-s", "reload")]
    assert reloads == ["lb2", "lb1"]
    assert "[lb2] reload: ok (" in "\n".join(lines)
    assert [r.phase for r in result.records] == ["step"] * len(plan.steps)
    kinds = [(r["kind"], r.get("ok")) for r in audit.read()]
    assert kinds == [("plan", None), ("result", True)]
    plan_rec, result_rec = list(audit.read())
    assert plan_rec["ssh_users"] == {"lb2": "ops +sudo", "lb1": "ops"}
    assert plan_rec["title"] == plan.title and len(result_rec["steps"]) == len(plan.steps)
    assert all("seconds" in s for s in result_rec["steps"]) and "duration_s" in result_rec
    assert notes[0].message.startswith("started") and notes[-1].level == "success"
    # lb2 has sudo in the inventory: every command there went through `sudo -n --`.
    assert ("lb2", ("nginx", "-s", "reload")) in cluster.calls


def expected_undo(plan: Plan, failing: int) -> list[tuple[str, str]]:
    """What plan.py says must be undone when step ``failing`` (0-based) fails."""
    done: dict[str, set[str]] = {}
    for step in plan.steps[:failing]:
        done.setdefault(step.host, set()).add(step.kind)
    out = []
    for host in reversed(plan.hosts):
        out += [(s.host, s.description) for s in plan.rollback
                if s.host == host and s.needs in done.get(host, set())]
    return out


@pytest.mark.parametrize("failing", range(len(weight_plan().steps)))
async def test_each_failing_step_undoes_exactly_what_was_done(tmp_path: Path,
                                                              failing: int) -> None:
    cluster, ex, lines, _notes, audit = setup(tmp_path)
    plan = weight_plan()
    step = plan.steps[failing]
    nth = sum(1 for s in plan.steps[:failing] if (s.host, s.argv) == (step.host, step.argv))
    cluster.fail(step.host, step.argv, nth + 1, stderr="nginx: [emerg] injected on purpose")
    before = {h: p.live() for h, p in cluster.proxies.items()}
    result = await ex.execute(plan, lines.append)
    assert not result.ok and result.failed is not None
    assert result.failed.number == failing + 1
    assert f"[{step.host}] {step.kind}" in result.message
    assert "nginx: [emerg] injected on purpose" in result.message
    undone = [(r.host, r.description) for r in result.records if r.phase == "rollback"]
    assert undone == expected_undo(plan, failing)
    changed = any(s.kind in ("swap", "reload") for s in plan.steps[:failing])
    lead = "Rolled back: " if changed else "Nothing was changed: "
    assert f"{lead}old config on both proxies" in result.message
    for h, p in cluster.proxies.items():
        assert p.live() == before[h], h  # every file is the old text again
        assert p.running == before[h], h  # and nginx runs it
        assert p.strays() == [], h
    assert [r["kind"] for r in audit.read()] == ["plan", "result"]


async def test_connection_lost_during_swap_counts_as_swapped(tmp_path: Path) -> None:
    cluster, ex, lines, _n, _a = setup(tmp_path)
    plan = weight_plan()
    swap = next(s for s in plan.steps if s.kind == "swap" and s.host == "lb1")
    cluster.fail("lb1", swap.argv, drop="after")
    result = await ex.execute(plan, lines.append)
    assert not result.ok and "connection lost" in result.message
    assert ("lb1", "put /etc/nginx/conf.d/upstream.conf.switchboard-bak back over "
            "/etc/nginx/conf.d/upstream.conf") in [(r.host, r.description)
                                                   for r in result.records
                                                   if r.phase == "rollback"]
    for p in cluster.proxies.values():
        assert p.live() == configs()["lb1"].files and p.running == p.live()


async def test_reload_failing_on_the_second_proxy_rolls_back_the_first(tmp_path: Path) -> None:
    cluster, ex, lines, _n, _a = setup(tmp_path)
    plan = weight_plan()
    # The real failure mode: the pid file vanished between the check and the reload.
    cluster.hooks.append(lambda host, argv: setattr(cluster.proxies["lb1"], "pid_ok", False)
                         if host == "lb1" and argv[:1] == ("sh",) and "mv -f" in argv[2]
                         else None)
    result = await ex.execute(plan, lines.append)
    assert not result.ok
    assert NGINX_PID_MISSING in result.message
    undone = [(r.host, r.kind, r.ok) for r in result.records if r.phase == "rollback"]
    assert undone == [("lb1", "rollback", True), ("lb1", "rollback", True),
                      ("lb2", "rollback", True), ("lb2", "reload", True),
                      ("lb2", "rollback", True)]
    assert cluster.proxies["lb2"].generation == 3  # reloaded forward, then back
    for p in cluster.proxies.values():
        assert p.live() == configs()["lb1"].files


async def test_file_changed_after_planning_is_refused(tmp_path: Path) -> None:
    cluster, ex, lines, _n, _a = setup(tmp_path)
    plan = weight_plan()
    edited = cluster.proxies["lb1"].file(UPSTREAM)
    edited.write_text(edited.read_text() + "# someone's edit\n")
    result = await ex.execute(plan, lines.append)
    assert not result.ok and result.refused and result.exit_code == 2
    assert result.message.startswith("refused: ")
    assert f"{UPSTREAM} changed since the plan was made" in result.message
    assert not any(argv == ("nginx", "-s", "reload") for _h, argv in cluster.calls)
    assert cluster.proxies["lb1"].live()[UPSTREAM].endswith("# someone's edit\n")
    assert cluster.proxies["lb2"].live() == configs()["lb2"].files
    assert all(p.strays() == [] for p in cluster.proxies.values())


async def test_lock_held_by_another_switchboard_refuses(tmp_path: Path) -> None:
    cluster, ex, lines, _n, _a = setup(tmp_path)
    lock = cluster.proxies["lb1"].root / LOCK_DIR.lstrip("/")
    lock.mkdir()
    (lock / "owner").write_text(Owner("alice", "laptop", 4242, time.time(), "drain web2",
                                      "t0k3n").line() + "\n")
    result = await ex.execute(weight_plan(), lines.append)
    assert not result.ok and result.refused
    assert "lb1: another Switchboard holds the lock /run/switchboard.lock: alice@laptop " \
        "pid 4242 applying 'drain web2'" in result.message
    assert "Wait for it to finish" in result.message
    assert lock.exists() and (lock / "owner").read_text().startswith('{"token":"t0k3n"')
    # lb1 sorts first, so lb2 was never locked, and nothing else ran.
    assert not (cluster.proxies["lb2"].root / LOCK_DIR.lstrip("/")).exists()
    assert {argv[0] for _h, argv in cluster.calls} <= {"sh", "logger"}
    assert all(p.live() == configs()["lb1"].files for p in cluster.proxies.values())


async def test_stale_lock_is_reported_not_broken(tmp_path: Path) -> None:
    cluster, ex, lines, _n, _a = setup(tmp_path)
    lock = cluster.proxies["lb2"].root / LOCK_DIR.lstrip("/")
    lock.mkdir()
    old = time.time() - 3600
    os.utime(lock, (old, old))
    result = await ex.execute(weight_plan(), lines.append)
    assert result.refused and "unknown owner" in result.message
    assert "probably stale" in result.message
    assert "sudo -n -- rm -r -- /run/switchboard.lock" in result.message  # lb2 uses sudo
    assert lock.exists()
    assert not (cluster.proxies["lb1"].root / LOCK_DIR.lstrip("/")).exists()  # released


async def test_leftovers_are_reported_and_removed(tmp_path: Path) -> None:
    cluster, ex, lines, notes, audit = setup(tmp_path)
    stray = cluster.proxies["lb1"].file("/etc/nginx/sites-enabled/proxy.switchboard-new")
    stray.write_text("half-written")
    files = {h: list(c.files) for h, c in configs().items()}
    result = await ex.execute(weight_plan(), lines.append, config_files=files)
    assert result.ok, result.message
    assert result.leftovers == ("lb1: /etc/nginx/sites-enabled/proxy.switchboard-new "
                                "(12 bytes) left by an interrupted apply",)
    assert any(line.startswith("leftover: lb1: /etc/nginx/sites-enabled/proxy.") for line in
               lines)
    assert not stray.exists()
    assert any(n.level == "warning" and "leftover" in n.message for n in notes)
    assert list(audit.read())[-1]["leftovers"] == list(result.leftovers)


async def test_a_failing_undo_step_is_loud_and_names_the_host(tmp_path: Path) -> None:
    cluster, ex, lines, _n, _a = setup(tmp_path)
    plan = weight_plan()
    verify = next(s for s in plan.steps if s.host == "lb1" and s.argv == ("nginx", "-T"))
    cluster.fail("lb1", verify.argv, stderr="nginx: [emerg] injected")
    restore = next(s for s in plan.rollback if s.host == "lb1" and s.needs == "swap")
    cluster.fail("lb1", restore.argv, stderr="mv: cannot move: Read-only file system")
    result = await ex.execute(plan, lines.append)
    assert not result.ok and result.rollback_failed and not result.refused
    assert "ROLLBACK FAILED on lb1" in result.message
    assert "Read-only file system" in result.message
    assert "lb1 is LEFT WITH THE NEW FILE /etc/nginx/conf.d/upstream.conf" in result.message
    # The other proxy is still put back.
    assert cluster.proxies["lb2"].live() == configs()["lb2"].files


async def test_unknown_expectation_is_refused_before_anything_runs(tmp_path: Path) -> None:
    cluster, ex, lines, _n, _a = setup(tmp_path)
    plan = weight_plan()
    odd = Step("check", "lb1", "something new", ("true",), expect={"telepathy": True})
    plan = Plan(plan.intent, plan.title, plan.risk, (odd, *plan.steps), plan.edits,
                plan.rollback, plan.hosts)
    result = await ex.execute(plan, lines.append)
    assert result.refused and "telepathy" in result.message
    assert cluster.calls == [(h, c) for h, c in cluster.calls if c[0] == "logger"]


async def test_drain_waits_with_progress_then_times_out_without_undoing(tmp_path: Path) -> None:
    cluster, ex, lines, notes, _a = setup(tmp_path)
    plan = build_plan(Drain("web1"), configs(), ORDER, NAMES, drain_timeout=20)
    cluster.proxies["lb2"].in_flight = ["198.18.0.21:8001"] * 3
    result = await ex.execute(plan, lines.append)
    assert result.ok, result.message
    assert "draining web1: 3 in flight from lb2, 0 s" in lines
    assert "[lb2] wait_drained: ok (3.0 s)" in lines
    assert notes[0].action == "drain" and notes[0].backend == "web1"
    # A connection that never ends: the drain reports it and leaves web1 down.
    cluster2, ex2, lines2, notes2, _a2 = setup(tmp_path / "again")
    cluster2.proxies["lb1"].in_flight = ["198.18.0.21:8001"] * 30  # outlasts the 20 s
    result2 = await ex2.execute(plan, lines2.append)
    assert not result2.ok and not result2.refused
    assert "draining web1: 25 in flight from lb1, 5 s" in lines2
    assert "[lb1] wait_drained (no connection left from lb1 to 198.18.0.21:8001): still 10 " \
        "after 20 s: ESTAB 0 0 lb1:40000 198.18.0.21:8001; " in result2.message
    assert "marked down on every proxy" in result2.message
    assert not [r for r in result2.records if r.phase == "rollback"]
    assert all(" down;" in p.live()[UPSTREAM] for p in cluster2.proxies.values())
    assert notes2[-1].action == "undrain"  # the console stops showing it as draining


async def test_failover_post_check_failure_takes_the_vip_back(tmp_path: Path) -> None:
    cluster, ex, lines, _n, _a = setup(tmp_path)
    cluster.proxies["lb1"].holds_vip = True
    plan = build_plan(Failover(), configs(), ORDER, NAMES)
    assert plan.hosts == ("lb2", "lb1")
    clock = Clock()
    moved = vip_moved(cluster, "198.18.0.100", "lb1", "lb2", sleep=clock.sleep)

    async def http_fails(progress: object) -> str:
        raise CheckFailed("5 of 5 requests to http://198.18.0.100/ failed: ConnectError")

    post = [moved, LocalCheck("verify", "lb2", "requests through the VIP", http_fails)]
    result = await ex.execute(plan, lines.append, post_checks=post)
    assert not result.ok
    assert [(r.phase, r.host, r.ok) for r in result.records[-3:]] == [
        ("post", "lb2", True), ("post", "lb2", False), ("rollback", "lb1", True)]
    assert "lb1 took the resources back" in result.message
    assert cluster.proxies["lb1"].holds_vip and not cluster.proxies["lb2"].holds_vip


async def test_failover_success_with_http_through_the_vip(tmp_path: Path) -> None:
    import httpx

    from state.snapshot import HaView, ProxyView, Snapshot

    cluster, ex, lines, _n, _a = setup(tmp_path)
    cluster.proxies["lb1"].holds_vip = True
    plan = build_plan(Failover(), configs(), ORDER, NAMES)
    served = [0]

    def handler(request: httpx.Request) -> httpx.Response:
        served[0] += 1
        return httpx.Response(200, text="ok")

    def snap() -> Snapshot:
        proxy = ProxyView("lb2", "connected", None, None, 0.0, served[0], 0, None, None, True,
                          "active", 0, None)
        return Snapshot(0.0, "lab", served[0], 0, (), (proxy,),
                        HaView("heartbeat", "198.18.0.100", ("lb2",), "lb2", "lb1", False,
                               False, False, ""))

    clock = Clock()
    post = [vip_moved(cluster, "198.18.0.100", "lb1", "lb2", sleep=clock.sleep),
            requests_through_vip("198.18.0.100", "lb2", snap, count=3, sleep=clock.sleep,
                                 transport=httpx.MockTransport(handler))]
    result: ExecutionResult = await ex.execute(plan, lines.append, post_checks=post)
    assert result.ok, result.message
    assert served[0] == 3 and cluster.proxies["lb2"].holds_vip
    assert "[lb2] 3 requests through the VIP: all answered" in lines


def test_live_workers_ignores_the_old_generation() -> None:
    ps = ("  101 nginx: worker process is shutting down\n  202 nginx: worker process\n"
          "  203 nginx: cache manager process\n")
    assert live_workers(ps) == {"202"}


def test_audit_lines_are_json(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.jsonl")
    log.record("plan", "weight", "lab", {"title": "x"})
    assert json.loads((tmp_path / "a.jsonl").read_text())["kind"] == "plan"


def test_markdown_plan_builds_for_the_fake() -> None:
    assert build_plan(MarkDown("web2"), configs(), ORDER, NAMES).edits


async def test_interrupted_apply_is_undone_then_the_cancel_goes_on(tmp_path: Path) -> None:
    import asyncio

    cluster, ex, lines, _n, audit = setup(tmp_path)
    plan = weight_plan()
    reloading = asyncio.Event()
    cluster.hooks.append(lambda host, argv: reloading.set()
                         if (host, argv) == ("lb1", ("nginx", "-s", "reload")) else None)
    task = asyncio.create_task(ex.execute(plan, lines.append))
    await reloading.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "interrupted: undoing what was done" in lines
    for p in cluster.proxies.values():
        assert p.live() == configs()["lb1"].files and p.running == p.live()
        assert not (p.root / LOCK_DIR.lstrip("/")).exists()
    last = list(audit.read())[-1]
    assert last["kind"] == "result" and not last["ok"]
    assert last["message"] == ("set weight of web1 to 3: interrupted. Rolled back: old config on "
                               "both proxies (lb2, lb1 restored from the backup)")


async def test_lock_of_a_dead_switchboard_on_this_machine_is_removed_loudly(
        tmp_path: Path) -> None:
    import asyncio

    from actions.locks import ProxyLocks

    cluster, ex, lines, _n, _a = setup(tmp_path)
    here = ProxyLocks(cluster, {}).owner
    dead = await asyncio.create_subprocess_exec("true")
    await dead.wait()
    lock = cluster.proxies["lb1"].root / LOCK_DIR.lstrip("/")
    lock.mkdir()
    (lock / "owner").write_text(Owner("bob", here.machine, dead.pid, time.time(), "down web2",
                                      "d3ad", here.machine_id).line() + "\n")
    result = await ex.execute(weight_plan(), lines.append)
    assert result.ok, result.message
    removed = (f"lb1: removed the lock /run/switchboard.lock left by bob@{here.machine} pid "
               f"{dead.pid} (applying 'down web2'): that process ended without releasing it")
    assert removed in lines and removed in result.warnings
    # The same owner still alive (this test's own PID) is never removed.
    lock.mkdir()
    (lock / "owner").write_text(Owner("bob", here.machine, os.getpid(), time.time(), "",
                                      "l1ve", here.machine_id).line() + "\n")
    again = await ex.execute(build_plan(SetWeight("web1", 4), configs(), ORDER, NAMES),
                             lines.append)
    assert again.refused and "another Switchboard holds the lock" in again.message
