"""Streams one proxy's access log over its SSH session and publishes parsed batches and gaps."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from typing import Protocol

import asyncssh

from collectors.follow import SCRIPT, FrameReader, Output, Position
from collectors.ssh import HostSession, describe_error
from collectors.supervisor import Backoff
from state.events import ActionNote, Event, LogBatch, LogGap, Request

log = logging.getLogger(__name__)

# While lines keep coming the follower looks this often (a quiet log: every ``poll``), so a
# busy log's lines reach the state within tens of milliseconds
FAST_POLL = 0.05
READ_SIZE = 256 * 1024  # one read of the stream; a busy log fills it, a quiet one gives less


class Parser(Protocol):
    def parse_lines(self, lines: list[bytes], now: float = 0.0
                    ) -> tuple[list[Request], int, str | None]: ...


ParserFor = Callable[[list[bytes]], Parser]
"""Given the first lines of a batch, the parser to use (from the config, else detected)."""

_GAP_WHY = {
    "rotated": "was rotated and the old file is no longer at {path}.1; the lines after byte "
               "{offset} of the old file are lost",
    "truncated": "was truncated with no copy at {path}.1; the lines after byte {offset} are lost",
}


class LogTailer:
    """Follows ``path`` on one host from now on; survives reconnects without losing a line."""

    def __init__(self, session: HostSession, path: str, publish: Callable[[Event], None],
                 parser_for: ParserFor, *, clock: Callable[[], float] = time.time,
                 poll: float = 0.25, settle_polls: int = 4, chunk_bytes: int = 4 << 20,
                 tick_seconds: float = 5.0) -> None:
        self.session = session
        self.host = session.name
        self.path = path
        self.position = Position()
        self.lines_seen = 0
        self._publish = publish
        self._parser_for = parser_for
        self._clock = clock
        self._poll = poll
        self._settle = settle_polls
        self._chunk = chunk_bytes
        self._tick = max(1, round(tick_seconds / poll))
        self._backoff = Backoff(1.0, 15.0)

    def _argv(self, tag: str) -> list[str]:
        p = self.position
        return ["sh", "-c", SCRIPT, "sh", self.path, tag, p.inode, str(p.offset), p.rotated,
                f"{self._poll:g}", str(self._chunk), str(self._settle), str(self._tick),
                p.last.hex(), f"{min(self._poll, FAST_POLL):g}"]

    async def run(self) -> None:
        """Follow forever: one remote follower per connection, resumed where the last ended."""
        while True:
            generation = self.session.generation
            try:
                await self._follow_once()
            except asyncio.CancelledError:
                raise
            except (OSError, asyncssh.Error) as e:
                log.info("%s: following %s stopped: %s", self.host, self.path, describe_error(e))
            if self.session.generation == generation and self.session.connected:
                # the follower itself ended while the connection stayed up: do not spin
                await asyncio.sleep(self._backoff.next())

    async def _follow_once(self) -> None:
        tag = "@@SB-" + secrets.token_hex(8)
        # A read the SSH user can do (Debian's nginx logs are group adm): never through sudo.
        proc = await self.session.start_process(self._argv(tag), privileged=False)
        reader = FrameReader(tag, self.position)
        try:
            while True:
                chunk = await proc.stdout.read(READ_SIZE)
                if not chunk:
                    break
                out = reader.feed(chunk)
                self._emit(out)
                for error in out.errors:
                    await self._report(error)
                self.position = reader.position
                if out.lines:
                    self._backoff.reset()
        finally:
            # the remote loop also exits by itself at its next TICK once nobody reads it
            with contextlib.suppress(Exception):
                proc.terminate()
            proc.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await proc.wait_closed()
        status = proc.exit_status
        if status not in (None, 0):
            log.warning("%s: log follower for %s exited with %s", self.host, self.path, status)

    def _emit(self, out: Output) -> None:
        now = self._clock()
        lines = [ln for ln in out.lines if ln]
        if lines:
            self.lines_seen += len(lines)
            parser = self._parser_for(lines)
            requests, bad, sample = parser.parse_lines(lines, now)
            self._publish(LogBatch(self.host, tuple(requests), malformed=bad, received_at=now,
                                   malformed_sample=sample))
        elif out.frames:
            # No line, but the follower spoke (its TICK): the stream is alive, just quiet.
            self._publish(LogBatch(self.host, (), received_at=now))
        for reason, offset in out.gaps:
            why = _GAP_WHY.get(reason, "could not be read ({reason})").format(
                path=self.path, offset=offset, reason=reason)
            self._publish(LogGap(self.host, f"{self.path} {why}", None, now))

    async def _report(self, error: str) -> None:
        """The follower's error as a warning; a refused read says which group to join."""
        if "permission denied" in error.lower():
            error = f"{error}: {await self._access_hint()}"
        self._publish(ActionNote(self._clock(), "tail", f"{self.host}: {self.path}: {error}",
                                 level="warning"))

    async def _access_hint(self) -> str:
        who = self.session.host.ssh.user or "the SSH user"
        group, mode = "", 0
        with contextlib.suppress(Exception):  # only a better message is lost
            done = await self.session.run(["stat", "-L", "-c", "%G %a", "--", self.path],
                                          check=False, timeout=10, privileged=False)
            group, _, octal = done.stdout.strip().partition(" ")
            mode = int(octal, 8) if done.ok and octal.isdigit() else 0
        if group and group != "root" and mode & 0o040:
            fix = (f"add {who} to the log's group {group} (`usermod -aG {group} {who}` on "
                   f"{self.host}), then restart Switchboard (a new SSH login picks up the "
                   "group)")
        else:
            fix = (f"make it readable for {who}: Debian's nginx logs are www-data:adm 0640, "
                   f"with {who} in group adm")
        return f"Switchboard reads the log as {who}, without sudo: {fix}"
