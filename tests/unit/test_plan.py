"""Plans: rules that refuse, drift between proxies, steps, rendering, and the real scripts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from rich.console import Console

from actions import (
    Drain,
    DriftError,
    Failover,
    MarkDown,
    MarkUp,
    Refused,
    Reload,
    SetBackup,
    SetWeight,
    Undrain,
    build_plan,
    verify_dump,
)
from actions.plan import Plan, Step
from state.nginxconf import split_dump
from state.upstreams import ProxyConfig
from switchboard.nginx_parse import parse_dump
from tests.unit.nginx_fixtures import DATA, MAIN, corpus_config, dump

LB1 = (DATA / "lb1-nginx-T.txt").read_text()
LB2_DRIFT = (DATA / "lb2-drift-nginx-T-with-stderr.txt").read_text()
NAMES = {"web1": "198.18.0.21:8001", "web2": "198.18.0.22:8001"}
ORDER = ("lb2", "lb1")  # standby first, then active
UPSTREAM_CONF = "/etc/nginx/conf.d/upstream.conf"


def lab() -> dict[str, ProxyConfig]:
    return {"lb1": parse_dump(LB1, "lb1"), "lb2": parse_dump(LB1, "lb2")}


def both(name: str) -> dict[str, ProxyConfig]:
    return {"lb1": corpus_config(name, "lb1"), "lb2": corpus_config(name, "lb2")}


def test_set_weight_edits_both_proxies_identically() -> None:
    plan = build_plan(SetWeight("web1", 3), lab(), ORDER, NAMES)
    assert plan.risk == "normal" and plan.hosts == ORDER
    assert [(e.host, e.path) for e in plan.edits] == [("lb2", UPSTREAM_CONF),
                                                      ("lb1", UPSTREAM_CONF)]
    assert plan.edits[0].new_text == plan.edits[1].new_text
    assert "    server 198.18.0.21:8001 weight=3 max_fails=2 fail_timeout=30s;\n" in \
        plan.edits[0].new_text
    assert plan.changes == (
        f"web_servers: web1 (198.18.0.21:8001) ({UPSTREAM_CONF}:3): weight=3",)


def test_steps_test_every_proxy_before_changing_any() -> None:
    plan = build_plan(MarkDown("web2"), lab(), ORDER, NAMES)
    kinds = [(s.host, s.kind) for s in plan.steps]
    first_swap = kinds.index(("lb2", "swap"))
    assert ("lb1", "test") in kinds[:first_swap] and ("lb2", "test") in kinds[:first_swap]
    assert kinds[first_swap + 1:] == [
        ("lb2", "reload"), ("lb2", "verify"), ("lb2", "verify"),
        ("lb1", "backup"), ("lb1", "check"), ("lb1", "swap"), ("lb1", "reload"),
        ("lb1", "verify"), ("lb1", "verify")]
    assert kinds[first_swap - 2:first_swap] == [("lb2", "backup"), ("lb2", "check")]
    stage = next(s for s in plan.steps if s.kind == "stage")
    assert stage.stdin == plan.edits[0].new_text
    assert [s.host for s in plan.rollback] == ["lb1"] * 3 + ["lb2"] * 3
    assert [s.needs for s in plan.rollback[:3]] == ["swap", "reload", "stage"]
    verify = next(s for s in plan.steps if s.kind == "verify" and s.argv == ("nginx", "-T"))
    assert verify.expect["servers"] == [{
        "upstream": "web_servers", "address": "198.18.0.22:8001",
        "args": ["198.18.0.22:8001", "max_fails=2", "fail_timeout=30s", "down"]}]


def test_render_shows_diff_per_host_and_every_command() -> None:
    plan = build_plan(SetWeight("web1", 3), lab(), ORDER, NAMES)
    text = plan.render()
    assert f"--- a{UPSTREAM_CONF}\tlb2\n+++ b{UPSTREAM_CONF}\tlb2\n" in text
    assert "-    server 198.18.0.21:8001 max_fails=2 fail_timeout=30s;\n" in text
    assert "$ nginx -s reload" in text
    assert "unshare --mount --propagation private -- sh -c" in text
    console = Console(record=True, width=120)
    console.print(plan)
    assert "+    server 198.18.0.21:8001 weight=3" in console.export_text()


def test_json_for_the_audit_log() -> None:
    plan = build_plan(SetWeight("web1", 3), lab(), ORDER, NAMES)
    data = json.loads(json.dumps(plan.to_json()))
    assert data["intent"] == {"type": "SetWeight", "backend": "web1", "weight": 3,
                              "upstream": None}
    assert data["edits"][0]["old_sha256"] == plan.edits[0].old_sha256
    assert data["edits"][0]["diff"].startswith(f"--- a{UPSTREAM_CONF}\tlb2")
    assert "stdin_sha256" in next(s for s in data["steps"] if s["kind"] == "stage")


@pytest.mark.parametrize(("intent", "message"), [
    (SetWeight("web1", 0), "nginx needs a whole number of 1 or more"),
    (SetWeight("web1", -2), "nginx needs a whole number"),
    (SetWeight("web1", 1001), "at most 1000"),
    (SetWeight("web1", 1), "already has weight 1"),
    (MarkUp("web1"), "is not down"),
    (Undrain("web2"), "is not down"),
    (SetBackup("web1", False), "is not a backup"),
    (SetWeight("web9", 2), "unknown backend 'web9'.*known: web1 \\(198.18.0.21:8001\\)"),
    (SetWeight("web1", 2, upstream="api"), "no upstream named 'api'"),
])
def test_refusals_on_the_lab(intent: SetWeight | MarkUp | Undrain | SetBackup,
                             message: str) -> None:
    with pytest.raises(Refused, match=message):
        build_plan(intent, lab(), ORDER, NAMES)


def test_last_server_taking_traffic_cannot_go() -> None:
    configs = both("oneline.conf")  # 8001 up, 8002 down
    for intent in (MarkDown("127.0.0.1:8001"), Drain("127.0.0.1:8001"),
                   SetBackup("127.0.0.1:8001", True)):
        with pytest.raises(Refused, match="last server taking traffic"):
            build_plan(intent, configs, ORDER, {})
    with pytest.raises(Refused, match="already down"):
        build_plan(MarkDown("127.0.0.1:8002"), configs, ORDER, {})


@pytest.mark.parametrize("upstream", ["sticky", "by_uri", "lucky"])
def test_backup_refused_with_hashing_and_random(upstream: str) -> None:
    configs = both("methods.conf")
    address = {"sticky": "127.0.0.1:8002", "by_uri": "127.0.0.2:8001",
               "lucky": "127.0.0.4"}[upstream]
    with pytest.raises(Refused, match="nginx refuses `backup`"):
        build_plan(SetBackup(address, True, upstream=upstream), configs, ORDER, {})


def test_weight_with_hash_is_allowed_but_risky() -> None:
    plan = build_plan(SetWeight("127.0.0.2:8001", 4), both("methods.conf"), ORDER, {})
    assert plan.risk == "risky"
    assert any("moves part of the clients/keys" in w for w in plan.warnings)


def test_drain_with_ip_hash_marks_down_and_waits_on_ipv6() -> None:
    plan = build_plan(Drain("[::1]:8001"), both("methods.conf"), ORDER, {})
    assert "    server [::1]:8001 down;\n" in plan.edits[0].new_text
    waits = [s for s in plan.steps if s.kind == "wait_drained"]
    assert [s.host for s in waits] == list(ORDER)
    assert waits[0].argv == ("ss", "-Htn", "state", "established", "dst", "[::1]",
                             "dport", "=", ":8001")
    assert plan.steps[-1].kind == "wait_drained"


def test_bare_ip_matches_every_port_and_backend_in_two_upstreams_is_edited_in_both() -> None:
    text = (DATA / "corpus" / "methods.conf").read_text()
    configs = both("methods.conf")
    plan = build_plan(SetWeight("::1", 6), configs, ORDER, {})
    assert [c.split(":")[0] for c in plan.changes] == ["sticky", "lucky"]
    new = plan.edits[0].new_text
    assert new == text.replace("server [::1]:8001;", "server [::1]:8001 weight=6;").replace(
        "server [::1]:8004 weight=5;", "server [::1]:8004 weight=6;")
    only = build_plan(SetWeight("::1", 6, upstream="lucky"), configs, ORDER, {})
    assert [c.split(":")[0] for c in only.changes] == ["lucky"]


def test_proxies_that_differ_on_the_line_are_a_drift_error() -> None:
    configs = {"lb1": parse_dump(LB1, "lb1"), "lb2": parse_dump(LB2_DRIFT, "lb2")}
    with pytest.raises(DriftError, match=r"lb2 has web_servers `server 198\.18\.0\.22:8001 "
                                         r"weight=3 max_fails=2"):
        build_plan(MarkDown("web2"), configs, ORDER, NAMES)
    # The line that is the same on both can still be changed.
    assert build_plan(SetWeight("web1", 2), configs, ORDER, NAMES).edits


def test_copies_are_hidden_from_a_catch_all_include_glob() -> None:
    files = split_dump(LB1)
    files["/etc/nginx/sites-enabled/upstream"] = files.pop(UPSTREAM_CONF)
    configs = {h: parse_dump(dump(files), h) for h in ORDER}
    plan = build_plan(SetWeight("web1", 2), configs, ORDER, NAMES)
    assert plan.edits[0].staged_path == "/etc/nginx/sites-enabled/.upstream.switchboard-new"
    assert plan.edits[0].backup_path == "/etc/nginx/sites-enabled/.upstream.switchboard-bak"
    assert build_plan(SetWeight("web1", 2), lab(), ORDER, NAMES).edits[0].staged_path == (
        UPSTREAM_CONF + ".switchboard-new")


def test_copies_no_glob_can_avoid_are_refused() -> None:
    files = split_dump(LB1)
    files[MAIN] = files[MAIN].replace("include /etc/nginx/conf.d/*.conf;",
                                      "include /etc/nginx/conf.d/*.conf*;\n\tinclude "
                                      "/etc/nginx/conf.d/.*;")
    configs = {h: parse_dump(dump(files), h) for h in ORDER}
    with pytest.raises(Refused, match=r"include /etc/nginx/conf\.d/\.\*` would also read"):
        build_plan(SetWeight("web1", 2), configs, ORDER, NAMES)


def test_missing_config_is_refused() -> None:
    with pytest.raises(Refused, match="no configuration read from lb2"):
        build_plan(Reload(), {"lb1": parse_dump(LB1, "lb1")}, ORDER, NAMES)


def test_reload_plan_tests_then_reloads_each_proxy() -> None:
    plan = build_plan(Reload(), lab(), ORDER, NAMES)
    assert not plan.edits
    assert [(s.host, s.kind) for s in plan.steps] == [
        ("lb2", "test"), ("lb1", "test"),
        ("lb2", "check"), ("lb2", "reload"), ("lb2", "verify"),
        ("lb1", "check"), ("lb1", "reload"), ("lb1", "verify")]


def test_failover_plan() -> None:
    plan = build_plan(Failover(), lab(), ORDER, NAMES)
    assert plan.risk == "risky" and plan.title.endswith("(lb1 → lb2)")
    standby = next(s for s in plan.steps if s.kind == "hb_standby")
    assert (standby.host, standby.argv) == ("lb1", ("/usr/share/heartbeat/hb_standby", "all"))
    assert plan.rollback[0].kind == "hb_takeover" and plan.rollback[0].needs == "hb_standby"
    with pytest.raises(Refused, match="already the active"):
        build_plan(Failover("lb1"), lab(), ORDER, NAMES)
    drifted = {"lb1": parse_dump(LB1, "lb1"), "lb2": parse_dump(LB2_DRIFT, "lb2")}
    assert build_plan(Failover(), drifted, ORDER, NAMES).warnings == (
        "drift: web_servers: 198.18.0.22:8001 weight 1 on lb1, 3 on lb2",)


def test_verify_dump_checks_the_reread_config() -> None:
    plan = build_plan(SetWeight("web1", 3), lab(), ORDER, NAMES)
    step = next(s for s in plan.steps if s.expect.get("servers") and s.host == "lb1")
    files = split_dump(LB1)
    assert verify_dump(step, LB1) == [
        "lb1: web_servers: nginx -T shows `server 198.18.0.21:8001 max_fails=2 fail_timeout=30s`"
        ", expected `server 198.18.0.21:8001 weight=3 max_fails=2 fail_timeout=30s`"]
    files[UPSTREAM_CONF] = plan.edits[1].new_text
    assert verify_dump(step, dump(files)) == []
    assert verify_dump(step, "garbage")[0].startswith("lb1: not `nginx -T` output")


# --- The plan's own shell steps, run for real against a copy of the recorded tree ----------

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("nginx"),
    reason="runs the plan's steps in a private mount namespace: needs root, unshare, nginx")


def _tree(tmp: Path) -> tuple[Path, Path]:
    etc, logs = tmp / "etc-nginx", tmp / "log-nginx"
    logs.mkdir()
    for path, text in split_dump(LB1).items():
        rel = Path(path).relative_to("/etc/nginx")
        if rel == Path("sites-enabled/proxy"):  # as on Debian: a symlink to sites-available
            target = etc / "sites-available" / "proxy"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            (etc / "sites-enabled").mkdir(parents=True, exist_ok=True)
            (etc / rel).symlink_to("/etc/nginx/sites-available/proxy")
            continue
        (etc / rel).parent.mkdir(parents=True, exist_ok=True)
        (etc / rel).write_text(text)
    (etc / "modules-enabled").mkdir(exist_ok=True)
    return etc, logs


def _run(step: Step, etc: Path, logs: Path) -> subprocess.CompletedProcess[str]:
    """Run one step with the copy mounted at /etc/nginx, only inside a private namespace."""
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
         'mount --bind "$1" /etc/nginx && mount --bind "$2" /var/log/nginx && shift 2 && '
         'exec "$@"', "sh", str(etc), str(logs), *step.argv],
        input=step.stdin, capture_output=True, text=True, check=False, timeout=60)


def _steps(plan: Plan, host: str, *kinds: str) -> list[Step]:
    return [s for s in plan.steps if s.host == host and s.kind in kinds]


@needs_root
def test_scripts_stage_test_swap_and_undo_for_real(tmp_path: Path) -> None:
    etc, logs = _tree(tmp_path)
    live = etc / "conf.d" / "upstream.conf"
    old = live.read_text()
    plan = build_plan(SetWeight("web2", 5), lab(), ORDER, NAMES)
    check, stage = _steps(plan, "lb1", "check")[0], _steps(plan, "lb1", "stage")[0]
    assert _run(check, etc, logs).stdout.split()[0] == check.expect["sha256"]
    for step in (stage, *_steps(plan, "lb1", "test", "backup")):
        result = _run(step, etc, logs)
        assert result.returncode == 0, (step.kind, result.stderr)
    assert live.read_text() == old  # tested, backed up, still not live
    assert (etc / "conf.d" / "upstream.conf.switchboard-bak").read_text() == old
    (swap,) = _steps(plan, "lb1", "swap")
    assert _run(swap, etc, logs).returncode == 0
    assert live.read_text() == plan.edits[1].new_text
    for undo in plan.rollback:
        if undo.host == "lb1" and undo.kind == "rollback":
            assert _run(undo, etc, logs).returncode == 0
    assert live.read_text() == old
    assert sorted(p.name for p in live.parent.iterdir()) == ["logformat.conf", "upstream.conf"]


@needs_root
def test_broken_staged_file_fails_the_test_and_never_reaches_the_live_path(
        tmp_path: Path) -> None:
    etc, logs = _tree(tmp_path)
    live = etc / "conf.d" / "upstream.conf"
    old = live.read_text()
    plan = build_plan(SetWeight("web2", 5), lab(), ORDER, NAMES)
    stage = _steps(plan, "lb1", "stage")[0]
    broken = Step(stage.kind, stage.host, stage.description, stage.argv,
                  stdin=old.replace("weight", "").replace("keepalive 16;", "keepalive;"))
    assert _run(broken, etc, logs).returncode == 0
    result = _run(_steps(plan, "lb1", "test")[0], etc, logs)
    assert result.returncode != 0
    assert "invalid number of arguments in \"keepalive\"" in result.stderr
    assert live.read_text() == old


@needs_root
def test_swap_refuses_when_the_live_file_changed_after_planning(tmp_path: Path) -> None:
    etc, logs = _tree(tmp_path)
    live = etc / "conf.d" / "upstream.conf"
    plan = build_plan(SetWeight("web2", 5), lab(), ORDER, NAMES)
    assert _run(_steps(plan, "lb1", "stage")[0], etc, logs).returncode == 0
    live.write_text(live.read_text() + "# someone else\n")
    result = _run(_steps(plan, "lb1", "swap")[0], etc, logs)
    assert result.returncode == 3 and "changed since the plan was made" in result.stderr
    assert live.read_text().endswith("# someone else\n")


@needs_root
def test_symlinked_site_file_is_edited_through_its_link(tmp_path: Path) -> None:
    etc, logs = _tree(tmp_path)
    files = split_dump(LB1)
    proxy = "/etc/nginx/sites-enabled/proxy"
    files[proxy] += "upstream extra {\n    server 127.0.0.9:8001;\n    server 127.0.0.10:8001;\n}\n"
    real = etc / "sites-available" / "proxy"
    real.write_text(files[proxy])
    configs = {h: parse_dump(dump(files), h) for h in ORDER}
    plan = build_plan(MarkDown("127.0.0.9:8001"), configs, ORDER, {})
    assert plan.edits[1].staged_path == "/etc/nginx/sites-enabled/.proxy.switchboard-new"
    for step in (*_steps(plan, "lb1", "stage", "test", "backup", "swap"),):
        result = _run(step, etc, logs)
        assert result.returncode == 0, (step.kind, result.stderr)
    assert (etc / "sites-enabled" / "proxy").is_symlink()
    assert real.read_text() == plan.edits[1].new_text
    assert (etc / "sites-available" / ".proxy.switchboard-bak").read_text() == files[proxy]
    assert sorted(p.name for p in (etc / "sites-enabled").iterdir()) == ["proxy"]
