"""`switchboard watch --from-file`: the whole file through parser and reducer, one JSON line."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from switchboard import cli

LOGS = Path(__file__).parent.parent / "data" / "logs"


@pytest.fixture(autouse=True)
def _only_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    # Other command modules are written in parallel; the CLI under test needs only watch.
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("switchboard.commands.watch",))


def _watch(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, object]]:
    code = cli.main(["watch", "--json", "--once", *args])
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    return code, json.loads(out[0])


def test_from_file_prints_one_snapshot_ending_at_the_last_request(
        capsys: pytest.CaptureFixture[str]) -> None:
    code, snap = _watch(capsys, "--from-file", str(LOGS / "upstreamlog.log"), "--window", "1m")
    assert code == 0
    assert snap["at"] == 1764039606.201 and snap["window"] == "1m"
    assert (snap["requests"], snap["malformed"]) == (14, 4)
    backends = {b["address"]: b for b in snap["backends"]}  # type: ignore[attr-defined]
    a, b = backends["198.18.0.21:8001"], backends["198.18.0.22:8001"]
    assert a["attempts"] == 6 and a["hidden_errors"] == 2
    assert a["status"] == {"1xx": 0, "2xx": 2, "3xx": 0, "4xx": 1, "5xx": 3, "none": 0}
    assert b["attempts"] == 7 and b["status"]["none"] == 1
    assert backends["web_servers"]["status"]["5xx"] == 1
    assert {"unix:/run/php/php-fpm.sock", "[::1]:8001"} <= set(backends)
    assert snap["proxies"][0]["connection"] == "connected"  # type: ignore[index]


def test_explicit_log_format(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    log = tmp_path / "custom.log"
    log.write_text("1764039600.5 200 198.18.0.21:8001 200 0.004\n"
                   "1764039601.5 200 198.18.0.22:8001 200 0.006\nnot a line\n")
    code, snap = _watch(capsys, "--from-file", str(log), "--log-format",
                        "$msec $status $upstream_addr $upstream_status $upstream_response_time")
    assert code == 0 and snap["requests"] == 2 and snap["malformed"] == 1
    assert snap["at"] == 1764039601.5


def test_last_line_without_newline_is_read(capsys: pytest.CaptureFixture[str],
                                           tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_bytes((LOGS / "combined_upstream.log").read_bytes().rstrip(b"\n"))
    code, snap = _watch(capsys, "--from-file", str(log))
    assert code == 0 and snap["requests"] == 4 and snap["malformed"] == 0


def test_missing_file_is_a_usage_error(capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path) -> None:
    code = cli.main(["watch", "--json", "--once", "--from-file", str(tmp_path / "nope.log")])
    assert code == 2
    assert "nope.log: no such file" in capsys.readouterr().err


def test_unknown_format_asks_for_log_format(capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    log = tmp_path / "weird.log"
    log.write_text("hello\nworld\n")
    assert cli.main(["watch", "--json", "--once", "--from-file", str(log)]) == 2
    assert "--log-format" in capsys.readouterr().err


def test_empty_file_prints_an_empty_snapshot(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    log = tmp_path / "empty.log"
    log.write_bytes(b"")
    code, snap = _watch(capsys, "--from-file", str(log))
    assert code == 0 and snap["requests"] == 0 and snap["backends"] == []


def test_follow_reads_appended_lines_and_survives_rotation(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from switchboard.commands import watch

    lines = (LOGS / "combined_upstream.log").read_bytes().splitlines(keepends=True)
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(lines[:2]))
    steps: Iterator[Callable[[], object]] = iter([
        lambda: log.open("ab").write(lines[2]),
        lambda: (log.rename(tmp_path / "access.log.1"), log.write_bytes(lines[3])),
    ])

    def fake_sleep(_: float) -> None:
        step = next(steps, None)
        if step is None:
            raise KeyboardInterrupt
        step()

    monkeypatch.setattr(watch, "_sleep", fake_sleep)
    assert cli.main(["watch", "--json", "--interval", "0.1", "--from-file", str(log)]) == 130
    snaps = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [s["requests"] for s in snaps] == [2, 3, 4]
    assert [s["proxies"][0]["gaps"] for s in snaps] == [0, 0, 1]


def test_follow_rereads_a_truncated_file_and_reports_a_gap(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from switchboard.commands import watch

    lines = (LOGS / "combined_upstream.log").read_bytes().splitlines(keepends=True)
    log = tmp_path / "access.log"
    log.write_bytes(b"".join(lines[:3]))
    # copytruncate-style rotation: same file, shorter
    steps: Iterator[Callable[[], object]] = iter([lambda: log.write_bytes(lines[3])])

    def fake_sleep(_: float) -> None:
        step = next(steps, None)
        if step is None:
            raise KeyboardInterrupt
        step()

    monkeypatch.setattr(watch, "_sleep", fake_sleep)
    assert cli.main(["watch", "--json", "--from-file", str(log)]) == 130
    snaps = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [s["requests"] for s in snaps] == [3, 4]
    assert snaps[-1]["proxies"][0]["gaps"] == 1


def test_live_mode_prints_the_feeds_snapshot(capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Live mode against the ClusterFeed API (a stand-in until collectors.runtime lands)."""
    import types

    from state.events import ConfigRead, HostHealth
    from state.reducer import ClusterState
    from state.upstreams import ProxyConfig, Upstream, UpstreamServer

    seen: dict[str, object] = {}

    class FakeFeed:
        def __init__(self, inv: object, *, accept_new_host_keys: bool) -> None:
            seen["inventory"], seen["accept"] = inv, accept_new_host_keys
            self.state = ClusterState.from_inventory(inv)  # type: ignore[arg-type]
            # Ready as --once waits for: the proxy connected, its upstreams read.
            self.state.apply(HostHealth("lb1", "connected", 1764039600.0))
            server = UpstreamServer("198.18.0.21:8001")
            self.state.apply(ConfigRead("lb1", 1764039600.0, ProxyConfig(
                "lb1", (Upstream("web_servers", "round_robin", (server,)),), {}, {}, {})))

        async def __aenter__(self) -> FakeFeed:
            return self

        async def __aexit__(self, *exc: object) -> None:
            seen["closed"] = True

        def snapshot(self) -> object:
            return self.state.snapshot(1764039600.0)

    fake = types.ModuleType("collectors.runtime")
    fake.ClusterFeed = FakeFeed  # type: ignore[attr-defined]
    monkeypatch.setitem(__import__("sys").modules, "collectors.runtime", fake)
    inv = tmp_path / "inventory.toml"
    inv.write_text('[cluster]\nname = "lab"\nvip = "198.18.0.100"\n'
                   '[[hosts]]\nname = "lb1"\nrole = "lb"\naddress = "198.18.0.11"\n')
    code = cli.main(["--inventory", str(inv), "--accept-new-host-keys", "watch", "--json",
                     "--once", "--interval", "0.01"])
    assert code == 0 and seen["accept"] is True and seen["closed"] is True
    snap = json.loads(capsys.readouterr().out)
    assert snap["cluster"] == "lab" and snap["proxies"][0]["name"] == "lb1"
