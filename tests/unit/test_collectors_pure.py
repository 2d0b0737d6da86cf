"""Pure parts of the collectors: frame reader, backoff, supervisor, stub_status, getent, parsers."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from collectors import stub_status
from collectors.follow import FrameReader, Position
from collectors.nginx_config import names_to_resolve, parse_getent
from collectors.runtime import LogParsers
from collectors.supervisor import Backoff, Supervisor
from state.upstreams import ProxyConfig, Upstream, UpstreamServer
from switchboard.errors import UsageError
from switchboard.inventory import Host, SshSettings

from .collectors_sshd import until

DATA = Path(__file__).parents[1] / "data"
TAG = "@@SB-0123456789abcdef"


def _stream() -> bytes:
    t = TAG
    return (f"{t} START 77 10 - {(b'x' * 9).hex()}0a\n"
            f"{t} DATA 77 10 -\nline 1\nline 2\nli\n{t} END 17\n"
            f"{t} TICK 77 27 -\n"
            f"{t} DATA 77 27 -\nne 3\nlast-no-newline\n{t} END 20\n"
            f"{t} FILE 88 0 77\n"
            f"{t} DATA 88 0 77\nnew 1\n\n{t} END 6\n"
            f"{t} GAP 88 6 77 rotated\n"
            f"{t} FILE 99 0 -\n").encode()


def test_frame_reader_gives_the_same_lines_however_the_stream_is_cut() -> None:
    whole = FrameReader(TAG, Position())
    out = whole.feed(_stream())
    assert out.lines == [b"line 1", b"line 2", b"line 3", b"last-no-newline", b"new 1"]
    assert out.gaps == [("rotated", 6)] and out.errors == []
    assert whole.position == Position("99", 0, "-", b"")
    for seed in range(20):
        rng = random.Random(seed)
        data, reader, lines = _stream(), FrameReader(TAG, Position()), []
        while data:
            cut = rng.randint(1, 9)
            lines += reader.feed(data[:cut]).lines
            data = data[cut:]
        assert lines == out.lines and reader.position == whole.position


def test_frame_reader_resumes_before_a_partial_line() -> None:
    r = FrameReader(TAG, Position())
    out = r.feed(f"{TAG} START 5 0 -\n{TAG} DATA 5 0 -\nabc\nde\n{TAG} END 6\n".encode())
    assert out.lines == [b"abc"] and r.position == Position("5", 4, "-", b"abc\n")
    out = r.feed(f"{TAG} DATA 5 6 -\nf\n\n{TAG} END 2\n".encode())
    assert out.lines == [b"def"] and r.position == Position("5", 8, "-", b"abc\ndef\n")


def test_frame_reader_reports_errors_and_unknown_output() -> None:
    out = FrameReader(TAG, Position()).feed(f"{TAG} ERROR cannot read /x\nnoise\n".encode())
    assert out.errors[0] == "cannot read /x" and "unexpected output" in out.errors[1]


def test_backoff_grows_with_jitter_up_to_the_cap_and_resets() -> None:
    b = Backoff(0.5, 15.0, rng=random.Random(1))
    delays = [b.next() for _ in range(10)]
    assert 0.25 <= delays[0] <= 0.5 and all(d <= 15.0 for d in delays)
    assert delays[-1] >= 7.5 and delays[3] > delays[0]
    b.reset()
    assert b.next() <= 0.5


async def test_supervisor_restarts_a_failing_job_and_stops_it() -> None:
    runs: list[int] = []
    crashes: list[str] = []

    async def job() -> None:
        runs.append(1)
        if len(runs) < 3:
            raise RuntimeError("boom")
        await asyncio.Event().wait()

    sup = Supervisor(base=0.01, cap=0.05, on_crash=lambda n, e, d: crashes.append(f"{n}:{e}"))
    sup.start("j", job)
    with pytest.raises(ValueError, match="already running"):
        sup.start("j", job)
    await until(lambda: len(runs) >= 3)
    assert crashes == ["j:boom", "j:boom"] and sup.names == ("j",)
    await sup.stop()
    assert not sup.names


def test_stub_status_recorded_pages() -> None:
    s = stub_status.parse("lb1", (DATA / "stub_status" / "lb1.txt").read_text(), 5.0)
    assert (s.active, s.accepts, s.handled, s.requests) == (1, 3, 3, 2)
    assert (s.reading, s.writing, s.waiting, s.at) == (0, 1, 0, 5.0)
    with pytest.raises(ValueError):
        stub_status.parse("lb1", "<html>404</html>", 0)
    assert stub_status.target("http://127.0.0.1:8001/nginx_status?x=1") == (
        "127.0.0.1", 8001, "/nginx_status?x=1", "127.0.0.1:8001")
    assert stub_status.target("http://localhost/s")[1] == 80
    with pytest.raises(UsageError, match="plain http"):
        stub_status.target("https://127.0.0.1/nginx_status")


def _config(*addresses: str, logs: dict[str, str] | None = None) -> ProxyConfig:
    servers = tuple(UpstreamServer(a) for a in addresses)
    return ProxyConfig("lb1", (Upstream("u", "round_robin", servers),),
                       {"combined": ("$remote_addr - $remote_user [$time_local] \"$request\" "
                                     "$status $body_bytes_sent \"$http_referer\" "
                                     "\"$http_user_agent\"", False),
                        "mine": ("$status $msec", False)},
                       logs or {}, {})


def test_names_to_resolve_and_getent_output() -> None:
    config = _config("web1:8001", "198.18.0.21:8001", "[::1]:80", "unix:/run/a.sock", "web1",
                     "web2.example")
    assert names_to_resolve(config) == ["web1", "web2.example"]
    text = ("@@ web1\n198.18.0.21     STREAM web1\n198.18.0.21     DGRAM  \n"
            "198.18.0.21     RAW    \n@@ web2.example\n::1 STREAM web2.example\n@@ gone\n")
    assert parse_getent(text) == {"web1": ["198.18.0.21"], "web2.example": ["::1"], "gone": []}


def test_log_parser_follows_the_config_else_detects() -> None:
    host = Host("lb1", "lb", "198.18.0.11", SshSettings(), access_log="/var/log/a.log")
    config: list[ProxyConfig | None] = [None]
    parsers = LogParsers(host, lambda: config[0])
    combined = b'1.2.3.4 - - [25/Nov/2026:03:00:00 +0000] "GET / HTTP/1.1" 200 5 "-" "curl"'
    detected = parsers([combined])
    assert detected.parse_lines([combined])[1] == 0
    config[0] = _config("x:1", logs={"/var/log/a.log": "mine"})
    requests, bad, _ = parsers([b"503 1764039600.123"]).parse_lines([b"503 1764039600.123"])
    assert bad == 0 and requests[0].status == 503 and requests[0].timestamp == 1764039600.123
