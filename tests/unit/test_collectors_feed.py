"""Config reader, stub_status forward and the whole ClusterFeed against a real local sshd."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from collectors.nginx_config import ConfigReader
from collectors.runtime import ClusterFeed
from collectors.ssh import HostSession
from collectors.stub_status import StubStatusPoller
from state.events import ActionNote, ConfigRead, Event, HaStatus, LogBatch, StubStatus
from switchboard import inventory
from switchboard.errors import RemoteError

from .collectors_sshd import Events, Sshd, sshd, until  # noqa: F401

# Real processes (sshd, nginx -t, a Textual pilot) or many examples: seconds, not ms.
pytestmark = pytest.mark.slow

DATA = Path(__file__).parents[1] / "data"
LOG_FORMAT = """\
    log_format upstreamlog '$remote_addr - $remote_user [$time_local] "$request" $status '
                           '$body_bytes_sent "$http_referer" "$http_user_agent" '
                           'rt=$request_time ua="$upstream_addr" us="$upstream_status" '
                           'urt="$upstream_response_time" msec=$msec';
"""


def _nginx_conf(tmp: Path, body: str) -> list[str]:
    conf = tmp / "nginx.conf"
    conf.write_text(f"pid {tmp}/nginx.pid;\nerror_log {tmp}/error.log;\nevents {{}}\n"
                    f"http {{\n{LOG_FORMAT}    access_log {tmp}/access.log upstreamlog;\n"
                    f"{body}\n}}\n")
    return ["nginx", "-T", "-c", str(conf), "-p", f"{tmp}/", "-e", f"{tmp}/error.log"]


UPSTREAM = """\
    upstream web_servers {
        server localhost:8001 max_fails=2 fail_timeout=30s;
        server 127.0.0.2:8001 backup;
    }
    server { listen 127.0.0.1:1; location / { proxy_pass http://web_servers; } }"""


@pytest.fixture
async def session(sshd: Sshd) -> AsyncIterator[HostSession]:  # noqa: F811
    sshd.trust()
    s = HostSession(sshd.host(), Events())
    task = asyncio.create_task(s.maintain())
    await s.connection(timeout=10)
    yield s
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_config_reader_parses_and_resolves_names_on_the_host(session: HostSession,
                                                                   tmp_path: Path) -> None:
    events = Events()
    reader = ConfigReader(session, events, command=tuple(_nginx_conf(tmp_path, UPSTREAM)))
    read = await reader.read_now()
    assert read.error is None and read.config is not None and events.items == [read]
    (upstream,) = read.config.upstreams
    first, second = upstream.servers
    assert (first.address, first.resolved, first.max_fails) == ("localhost:8001",
                                                                ("127.0.0.1:8001",), 2)
    assert second.backup and second.resolved == ("127.0.0.2:8001",)
    assert upstream.server("127.0.0.1:8001") is first
    assert read.config.access_logs == {f"{tmp_path}/access.log": "upstreamlog"}
    assert reader.latest is read.config


async def test_config_reader_reports_what_nginx_said(session: HostSession, tmp_path: Path
                                                     ) -> None:
    reader = ConfigReader(session, Events(),
                          command=tuple(_nginx_conf(tmp_path, "    upstream x { nonsense; }")))
    read = await reader.read()
    assert read.config is None and read.error is not None
    assert "nginx -T exited with 1" in read.error and "nonsense" in read.error


async def _stub_server() -> tuple[asyncio.Server, list[bytes]]:
    page = (DATA / "stub_status" / "lb1.txt").read_bytes()
    requests: list[bytes] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        requests.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "
                     + str(len(page)).encode() + b"\r\nConnection: close\r\n\r\n" + page)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(serve, "127.0.0.1", 0), requests


async def test_stub_status_is_read_through_a_port_forward(session: HostSession) -> None:
    server, requests = await _stub_server()
    port = server.sockets[0].getsockname()[1]
    events = Events()
    poller = StubStatusPoller(session, f"http://127.0.0.1:{port}/nginx_status", events,
                              interval=0.05)
    task = asyncio.create_task(poller.run())
    try:
        await events.until(lambda: len(events.items) >= 2)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        server.close()
    stub = events.items[0]
    assert isinstance(stub, StubStatus) and (stub.host, stub.active, stub.requests) == ("t1", 1, 2)
    assert requests[0].startswith(b"GET /nginx_status HTTP/1.1")
    assert f"host: 127.0.0.1:{port}".encode() in requests[0].lower()


async def test_cluster_feed_end_to_end(sshd: Sshd, tmp_path: Path) -> None:  # noqa: F811
    sshd.trust()
    server, _ = await _stub_server()
    stub_port = server.sockets[0].getsockname()[1]
    inv_path = tmp_path / "inventory.toml"
    inv_path.write_text(f"""
[cluster]
name = "local"
vip = "127.0.0.1"
[ssh]
user = "root"
port = {sshd.port}
key = "{sshd.client_key}"
known_hosts = "{sshd.known_hosts}"
use_ssh_config = false
[[hosts]]
name = "lb1"
role = "lb"
address = "127.0.0.1"
access_log = "{tmp_path}/access.log"
stub_status = "http://127.0.0.1:{stub_port}/nginx_status"
""")
    log = tmp_path / "access.log"
    log.write_text("")
    feed = ClusterFeed(inventory.load(inv_path), ha_interval=0.2, stub_interval=0.1,
                       log_poll=0.05)
    feed.configs["lb1"].command = tuple(_nginx_conf(tmp_path, UPSTREAM))
    seen: list[Event] = []
    apply = feed.state.apply

    def record(event: Event) -> None:
        seen.append(event)
        apply(event)

    feed.state.apply = record  # type: ignore[method-assign]
    async with feed:
        with pytest.raises(RemoteError, match="no such host"):
            feed.session("nope")
        assert (await feed.session("lb1").run(["echo", "ok"], timeout=10)).stdout == "ok\n"
        await until(lambda: feed.tailers["lb1"].position.inode != "")
        await until(lambda: feed.configs["lb1"].latest is not None)
        with log.open("a") as f:
            for i in range(50):
                f.write(f'127.0.0.1 - - [25/Nov/2026:03:00:00 +0000] "GET /{i} HTTP/1.1" 200 5 '
                        f'"-" "t" rt=0.002 ua="127.0.0.1:8001" us="200" urt="0.002" '
                        f'msec=1795576000.{i:03d}\n')
        await until(lambda: feed.snapshot().requests == 50)
        feed.publish(ActionNote(1.0, "drain", "draining web1", backend="127.0.0.1:8001"))
        feed.refresh_config()
        fresh = await feed.read_config("lb1")
        assert fresh.config is not None
        await until(lambda: any(isinstance(e, StubStatus) for e in seen)
                                      and any(isinstance(e, HaStatus) for e in seen))
        snap = feed.snapshot()
    server.close()
    (proxy,) = snap.proxies
    assert proxy.connection == "connected" and proxy.requests == 50 and proxy.malformed == 0
    assert proxy.active_connections == 1
    assert snap.events[0].message == "draining web1"
    backend = next(b for b in snap.backends if b.address == "127.0.0.1:8001")
    assert backend.config is not None and backend.config.address == "localhost:8001"
    ha = next(e for e in seen if isinstance(e, HaStatus))
    assert not ha.heartbeat_running and ha.holds_vip  # no Heartbeat here; 127.0.0.1 is "the VIP"
    assert feed._supervisor.names == ()
    # the log is followed once the config (and so its log_format) has been read
    kinds = [type(e) for e in seen]
    assert kinds.index(ConfigRead) < kinds.index(LogBatch)
