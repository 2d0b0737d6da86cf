"""When only a staged copy could not be removed, the result still says which config runs."""

from __future__ import annotations

from pathlib import Path

from actions import SetWeight, build_plan
from actions.executor import Executor
from switchboard.nginx_parse import parse_dump
from tests.unit.executor_fakes import INV, FakeCluster
from tests.unit.nginx_fixtures import DATA

LB1 = (DATA / "lb1-nginx-T.txt").read_text()
ORDER = ("lb2", "lb1")


async def test_connection_lost_on_the_second_proxy_says_old_config_on_both(
        tmp_path: Path) -> None:
    configs = {h: parse_dump(LB1, h) for h in ORDER}
    cluster = FakeCluster(tmp_path / "hosts", configs)
    plan = build_plan(SetWeight("web1", 3), configs, ORDER,
                      {"web1": "198.18.0.21:8001", "web2": "198.18.0.22:8001"})
    # lb1 (changed second) is cut off from its backup step on, so its staged copy stays.
    backup = next(s for s in plan.steps if s.host == "lb1" and s.kind == "backup")
    cluster.fail("lb1", backup.argv, drop="before")
    remove = next(s for s in plan.rollback if s.host == "lb1" and s.needs == "stage")
    cluster.fail("lb1", remove.argv, drop="before")
    result = await Executor(cluster, INV).execute(plan)
    assert not result.ok and result.rollback_failed
    assert "old config on both proxies (lb2 restored from the backup)" in result.message
    assert "a staged copy is left beside /etc/nginx/conf.d/upstream.conf on lb1" in \
        result.message
    for h in ORDER:
        assert cluster.proxies[h].live() == configs[h].files
