"""Reads nginx's stub_status page through an SSH port forward and publishes StubStatus."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import asyncssh
import httpx

from collectors.ssh import HostSession, describe_error
from state.events import Event, StubStatus
from switchboard.errors import RemoteError, UsageError

log = logging.getLogger(__name__)

_PATTERN = re.compile(
    r"Active connections:\s*(\d+)\s*"
    r"server accepts handled requests\s*(\d+)\s+(\d+)\s+(\d+)\s*"
    r"Reading:\s*(\d+)\s+Writing:\s*(\d+)\s+Waiting:\s*(\d+)")


def parse(host: str, text: str, at: float) -> StubStatus:
    """The stub_status page as an event; ValueError when the text is not that page."""
    m = _PATTERN.search(text)
    if m is None:
        raise ValueError(f"not a stub_status page: {text[:80]!r}")
    active, accepts, handled, requests, reading, writing, waiting = (int(g) for g in m.groups())
    return StubStatus(host, at, active=active, reading=reading, writing=writing,
                      waiting=waiting, accepts=accepts, handled=handled, requests=requests)


def target(url: str) -> tuple[str, int, str, str]:
    """(host, port, path, Host header) for a stub_status URL as seen from the host itself."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise UsageError(f"stub_status URL {url!r}: give a plain http:// URL as the host "
                         "itself reaches it (the page is read through an SSH port forward)")
    port = parts.port or 80
    return parts.hostname, port, (parts.path or "/") + (f"?{parts.query}" if parts.query else ""), \
        parts.netloc


class StubStatusPoller:
    """Every ``interval`` seconds, GET the page through a forward kept per SSH connection."""

    def __init__(self, session: HostSession, url: str, publish: Callable[[Event], None], *,
                 interval: float = 2.0, clock: Callable[[], float] = time.time) -> None:
        self.session = session
        self.url = url
        self.dest_host, self.dest_port, self.path, self.host_header = target(url)
        self.last_error: str | None = None
        self._publish = publish
        self._interval = interval
        self._clock = clock

    async def run(self) -> None:
        while True:
            await self.session.connection()
            generation = self.session.generation
            try:
                listener = await self.session.forward_local_port(self.dest_host, self.dest_port)
            except (RemoteError, OSError, asyncssh.Error) as e:
                self._failed(f"cannot forward a port: {describe_error(e)}")
                await asyncio.sleep(self._interval)
                continue
            try:
                base = f"http://127.0.0.1:{listener.get_port()}"
                async with httpx.AsyncClient(base_url=base, timeout=3.0,
                                             headers={"Host": self.host_header}) as client:
                    while self.session.generation == generation and self.session.connected:
                        await self._poll(client)
                        await asyncio.sleep(self._interval)
            finally:
                listener.close()

    async def _poll(self, client: httpx.AsyncClient) -> None:
        try:
            response = await client.get(self.path)
            response.raise_for_status()
            self._publish(parse(self.session.name, response.text, self._clock()))
            self.last_error = None
        except (httpx.HTTPError, ValueError) as e:
            self._failed(f"{self.url}: {type(e).__name__}: {e}")

    def _failed(self, message: str) -> None:
        if message != self.last_error:
            log.warning("%s: stub_status: %s", self.session.name, message)
        self.last_error = message
        # Said every time: a drain must never count on connections last seen minutes ago.
        self._publish(StubStatus(self.session.name, self._clock(), 0, 0, 0, 0, 0, 0, 0,
                                 error=message))
