"""HostSession against a real sshd: strict host keys, commands, reconnect with backoff."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import asyncssh
import pytest

from collectors.ssh import HostSession
from collectors.supervisor import Backoff
from switchboard.errors import RemoteError

from .collectors_sshd import Events, Sshd, sshd  # noqa: F401

# Real processes (sshd, nginx -t, a Textual pilot) or many examples: seconds, not ms.
pytestmark = pytest.mark.slow


async def _session(server: Sshd, events: Events, *, accept_new_host_keys: bool = False
                   ) -> tuple[HostSession, asyncio.Task[None]]:
    session = HostSession(server.host(), events, backoff=Backoff(0.05, 0.4),
                          accept_new_host_keys=accept_new_host_keys)
    return session, asyncio.create_task(session.maintain())


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_unknown_host_key_is_refused_with_its_fingerprint(sshd: Sshd) -> None:  # noqa: F811
    events = Events()
    session, task = await _session(sshd, events)
    try:
        await events.until(lambda: any(h.state == "failed" for h in events.health()))
    finally:
        await _stop(task)
    failed = next(h for h in events.health() if h.state == "failed")
    assert failed.error is not None
    assert "not known" in failed.error and sshd.host_public_key.get_fingerprint() in failed.error
    assert str(sshd.known_hosts) in failed.error
    assert not sshd.known_hosts.exists() and not session.connected


async def test_accept_new_trusts_and_records_the_key(sshd: Sshd) -> None:  # noqa: F811
    events = Events()
    session, task = await _session(sshd, events, accept_new_host_keys=True)
    try:
        await events.until(lambda: session.connected)
    finally:
        await _stop(task)
    alg, blob = sshd.host_public_key.export_public_key().decode().split()[:2]
    assert sshd.known_hosts.read_text() == f"[127.0.0.1]:{sshd.port} {alg} {blob}\n"
    # the recorded key now satisfies a strict session
    events2 = Events()
    strict, task2 = await _session(sshd, events2)
    try:
        await events2.until(lambda: strict.connected)
        assert (await strict.run(["echo", "hi"])).stdout == "hi\n"
    finally:
        await _stop(task2)
    assert sshd.known_hosts.read_text().count("\n") == 1


async def test_changed_host_key_is_refused_even_with_accept_new(sshd: Sshd) -> None:  # noqa: F811
    other = asyncssh.generate_private_key("ssh-ed25519").convert_to_public()
    alg, blob = other.export_public_key().decode().split()[:2]
    sshd.known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {alg} {blob}\n")
    before = sshd.known_hosts.read_text()
    events = Events()
    _, task = await _session(sshd, events, accept_new_host_keys=True)
    try:
        await events.until(lambda: any(h.state == "failed" for h in events.health()))
    finally:
        await _stop(task)
    error = next(h.error for h in events.health() if h.state == "failed") or ""
    assert "CHANGED" in error
    assert sshd.host_public_key.get_fingerprint() in error and other.get_fingerprint() in error
    assert "ssh-keygen -R" in error
    assert sshd.known_hosts.read_text() == before


async def test_run_quotes_arguments_and_reports_failures(sshd: Sshd, tmp_path: Path  # noqa: F811
                                                         ) -> None:
    sshd.trust()
    events = Events()
    session, task = await _session(sshd, events)
    try:
        odd = "a b'c\"d $(touch /tmp/nope) ;"
        result = await session.run(["printf", "%s|", odd, "x"], timeout=10)
        assert result.exit_status == 0 and result.stdout == f"{odd}|x|"
        assert (await session.run(["cat"], input="fed in")).stdout == "fed in"
        failed = await session.run(["sh", "-c", "echo oops >&2; exit 3"], check=False)
        assert (failed.exit_status, failed.stderr) == (3, "oops\n")
        with pytest.raises(RemoteError, match="exited with status 3: oops"):
            await session.run(["sh", "-c", "echo oops >&2; exit 3"])
        target = tmp_path / "dir with space" / "file.conf"
        target.parent.mkdir()
        target.write_text("old\n")
        target.chmod(0o640)
        await session.upload(str(target), "new text\n")
        assert target.read_text() == "new text\n" and target.stat().st_mode & 0o777 == 0o640
        assert await session.read_file(str(target)) == "new text\n"
        assert [p.name for p in target.parent.iterdir()] == ["file.conf"]
        with pytest.raises(TimeoutError):
            await session.run(["sleep", "5"], timeout=0.3)
    finally:
        await _stop(task)
    assert [h.state for h in events.health()] == ["connecting", "connected"]


async def test_reconnects_with_backoff_after_the_server_dies(sshd: Sshd) -> None:  # noqa: F811
    sshd.trust()
    events = Events()
    session, task = await _session(sshd, events)
    try:
        await events.until(lambda: session.connected)
        sshd.stop()
        await events.until(lambda: sum(h.state == "retrying" for h in events.health()) >= 3)
        with pytest.raises(RemoteError, match="not connected"):
            await session.run(["true"], timeout=0.2)
        sshd.start()
        await events.until(lambda: session.connected and session.generation == 2)
        assert (await session.run(["echo", "back"])).stdout == "back\n"
    finally:
        await _stop(task)
    states = [h.state for h in events.health()]
    assert states[:2] == ["connecting", "connected"] and states[-1] == "connected"
    retries = [h for h in events.health() if h.state == "retrying"]
    assert retries[0].error is not None and "connection lost" in retries[0].error
    assert all(h.retry_in is not None and 0 < h.retry_in <= 0.4 for h in retries)
    assert any(h.error and "refused" in h.error.lower() for h in retries[1:])


async def test_a_host_that_never_answers_keeps_retrying(tmp_path: Path) -> None:
    server = Sshd.__new__(Sshd)  # a port nobody listens on: only its settings are used
    server.dir, server.port = tmp_path, 1
    server.client_key, server.known_hosts = tmp_path / "k", tmp_path / "kh"
    asyncssh.generate_private_key("ssh-ed25519").write_private_key(str(server.client_key))
    events = Events()
    session, task = await _session(server, events)
    try:
        await events.until(lambda: sum(h.state == "retrying" for h in events.health()) >= 4)
        with pytest.raises(RemoteError, match="t1: not connected"):
            await session.connection(timeout=0.1)
    finally:
        await _stop(task)
    delays = [h.retry_in or 0 for h in events.health() if h.state == "retrying"]
    assert max(delays) <= 0.4 and delays[-1] >= 0.1


async def test_jump_host_tunnels_the_connection(sshd: Sshd) -> None:  # noqa: F811
    host = sshd.host()
    jumped = dataclasses.replace(
        host, ssh=dataclasses.replace(host.ssh, jump_host=f"root@127.0.0.1:{sshd.port}"))
    events = Events()
    session = HostSession(jumped, events, backoff=Backoff(0.05, 0.4))
    task = asyncio.create_task(session.maintain())
    try:
        # the jump host's key is checked like any other: unknown, so refused and named
        await events.until(lambda: any(h.state == "failed" for h in events.health()))
        error = next(h.error for h in events.health() if h.state == "failed") or ""
        assert error.startswith(f"jump host root@127.0.0.1:{sshd.port}: host key of")
        sshd.trust()
        await events.until(lambda: session.connected, within=30)
        assert session._jump is not None
        assert (await session.run(["echo", "through"])).stdout == "through\n"
    finally:
        await _stop(task)
