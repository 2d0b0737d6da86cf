"""The log tailer over a real sshd: rotation (rename, copytruncate), reconnects, gaps."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from collectors.ssh import HostSession
from collectors.supervisor import Backoff
from collectors.tailer import LogTailer
from state.events import LogBatch, LogGap

from .collectors_sshd import Events, LineEcho, Sshd, sshd  # noqa: F401

# Real processes (sshd, nginx -t, a Textual pilot) or many examples: seconds, not ms.
pytestmark = pytest.mark.slow


class Writer:
    """Appends numbered lines like nginx: one open descriptor, reopened only when told."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.n = 0
        self.f = path.open("a", buffering=1)

    def write(self, count: int) -> None:
        for _ in range(count):
            self.f.write(f"line {self.n}\n")
            self.n += 1

    def reopen(self) -> None:
        self.f.close()
        self.f = self.path.open("a", buffering=1)


class Rig:
    def __init__(self, server: Sshd, log: Path, poll: float = 0.05) -> None:
        server.trust()
        self.events = Events()
        self.session = HostSession(server.host(), self.events, backoff=Backoff(0.05, 0.3))
        # A renamed file counts as finished after 1 s of quiet, as in production: a shorter
        # window would lose lines whenever a loaded runner pauses the test's writer.
        self.tailer = LogTailer(self.session, str(log), self.events, lambda _: LineEcho(),
                                poll=poll, settle_polls=max(2, round(1 / poll)),
                                tick_seconds=max(0.5, poll))
        self.tasks: list[asyncio.Task[None]] = []

    def seen(self) -> list[str]:
        return [r.uri for e in self.events.items if isinstance(e, LogBatch) for r in e.requests]

    def gaps(self) -> list[LogGap]:
        return [e for e in self.events.items if isinstance(e, LogGap)]

    async def start(self) -> None:
        self.tasks = [asyncio.create_task(self.session.maintain()),
                      asyncio.create_task(self.tailer.run())]
        await self.events.until(lambda: self.tailer.position.inode != "")

    async def until_seen(self, n: int) -> None:
        await self.events.until(lambda: len(self.seen()) >= n)

    def assert_exactly(self, n: int) -> None:
        numbers = sorted(int(s.split()[1]) for s in self.seen())
        assert numbers == list(range(n))


async def running(r: Rig) -> AsyncIterator[Rig]:
    yield r
    for t in r.tasks:
        t.cancel()
    await asyncio.gather(*r.tasks, return_exceptions=True)


@pytest.fixture
async def rig(sshd: Sshd, tmp_path: Path) -> AsyncIterator[Rig]:  # noqa: F811
    log = tmp_path / "access.log"
    log.write_text("old line before start\n")
    async for r in running(Rig(sshd, log)):
        yield r


@pytest.fixture
async def slow_rig(sshd: Sshd, tmp_path: Path) -> AsyncIterator[Rig]:  # noqa: F811
    """A follower that looks once a second: room to act between two of its looks."""
    log = tmp_path / "access.log"
    log.write_text("old line before start\n")
    async for r in running(Rig(sshd, log, poll=1.0)):
        yield r


async def test_follows_from_now_in_order(rig: Rig, tmp_path: Path) -> None:
    await rig.start()
    w = Writer(tmp_path / "access.log")
    w.write(500)
    await rig.until_seen(500)
    assert rig.seen() == [f"line {i}" for i in range(500)] and not rig.gaps()


async def test_rename_rotation_keeps_lines_written_to_the_old_file(rig: Rig, tmp_path: Path
                                                                  ) -> None:
    log = tmp_path / "access.log"
    await rig.start()
    w = Writer(log)
    w.write(100)
    await rig.until_seen(50)
    os.rename(log, str(log) + ".1")
    w.write(100)  # still going to the renamed file, as nginx does until USR1
    log.touch()
    await asyncio.sleep(0.1)
    w.write(50)
    w.reopen()
    w.write(100)
    await rig.until_seen(350)
    await asyncio.sleep(0.3)
    rig.assert_exactly(350)
    assert not rig.gaps()


async def test_copytruncate_keeps_every_line(rig: Rig, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    await rig.start()
    w = Writer(log)
    w.write(200)
    shutil.copyfile(log, str(log) + ".1")  # the writer pauses, as logrotate's window allows
    os.truncate(log, 0)
    w.write(100)
    await rig.until_seen(300)
    await asyncio.sleep(0.3)
    rig.assert_exactly(300)
    assert not rig.gaps()


async def test_copytruncate_after_lines_read_past_the_copy_is_no_gap(rig: Rig, tmp_path: Path
                                                                     ) -> None:
    log = tmp_path / "access.log"
    await rig.start()
    w = Writer(log)
    w.write(200)
    await rig.until_seen(200)
    shutil.copyfile(log, str(log) + ".1")
    w.write(50)  # between logrotate's copy and its truncate: read by us, gone from disk
    await rig.until_seen(250)
    os.truncate(log, 0)
    w.write(100)
    await rig.until_seen(350)
    await asyncio.sleep(0.3)
    rig.assert_exactly(350)
    assert not rig.gaps()


async def test_copytruncate_of_a_new_file_before_its_first_read_keeps_every_line(
        slow_rig: Rig, tmp_path: Path) -> None:
    rig, log = slow_rig, tmp_path / "access.log"
    await rig.start()
    w = Writer(log)
    w.write(20)
    await rig.until_seen(20)
    os.rename(log, str(log) + ".1")
    log.touch()
    w.reopen()
    new = str(log.stat().st_ino)
    await rig.events.until(lambda: rig.tailer.position.inode == new)
    # the follower has looked at the empty new file and sleeps a second: rotate under it
    os.rename(str(log) + ".1", str(log) + ".2")
    w.write(30)
    shutil.copyfile(log, str(log) + ".1")
    os.truncate(log, 0)
    w.write(10)
    await rig.until_seen(60)
    await asyncio.sleep(1.5)
    rig.assert_exactly(60)
    assert not rig.gaps()


async def test_resumes_after_the_connection_drops(rig: Rig, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    await rig.start()
    w = Writer(log)
    w.write(100)
    await rig.until_seen(100)
    rig.session.drop()
    w.write(100)  # while nobody listens
    await rig.events.until(lambda: rig.session.generation == 2)
    w.write(100)
    await rig.until_seen(300)
    await asyncio.sleep(0.3)
    rig.assert_exactly(300)


async def test_resumes_into_the_rotated_file_after_a_drop(rig: Rig, sshd: Sshd,  # noqa: F811
                                                          tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    await rig.start()
    w = Writer(log)
    w.write(100)
    await rig.until_seen(100)
    sshd.stop()
    w.write(40)
    os.rename(log, str(log) + ".1")
    w.write(10)
    w.reopen()
    w.write(50)
    sshd.start()
    await rig.until_seen(200)
    await asyncio.sleep(0.3)
    rig.assert_exactly(200)
    assert not rig.gaps()


async def test_lines_gone_while_disconnected_are_reported_as_a_gap(rig: Rig, sshd: Sshd,  # noqa: F811
                                                                   tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    await rig.start()
    w = Writer(log)
    w.write(10)
    await rig.until_seen(10)
    sshd.stop()
    w.write(10)  # lines 10..19 will be lost: rotated twice, the old file deleted
    os.rename(log, str(log) + ".1")
    w.reopen()
    os.rename(str(log) + ".1", str(log) + ".2")
    os.unlink(str(log) + ".2")
    w.write(10)
    sshd.start()
    await rig.until_seen(20)
    await rig.events.until(lambda: bool(rig.gaps()))
    assert rig.seen() == [f"line {i}" for i in [*range(10), *range(20, 30)]]
    gap = rig.gaps()[0]
    assert gap.lines_lost is None and "rotated" in gap.reason and str(log) in gap.reason


async def test_partial_line_is_completed_not_split(rig: Rig, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    await rig.start()
    with log.open("a") as f:
        f.write("line 0\nline ")
        f.flush()
        await asyncio.sleep(0.3)
        rig.session.drop()
        f.write("1\n")
    await rig.events.until(lambda: rig.session.generation == 2)
    await rig.until_seen(2)
    assert rig.seen() == ["line 0", "line 1"]


async def test_a_quiet_log_still_says_its_stream_is_alive(rig: Rig) -> None:
    await rig.start()  # nothing is written: only the follower's periodic TICK arrives

    def beats() -> list[LogBatch]:
        return [e for e in rig.events.items
                if isinstance(e, LogBatch) and not e.requests and e.received_at]

    await rig.events.until(lambda: len(beats()) >= 2)
    assert rig.seen() == [] and not rig.gaps()
