"""Reads each proxy's configuration with ``nginx -T``, resolving server names on the proxy."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import Callable, Iterable

import asyncssh

from collectors.ssh import HostSession, describe_error
from state.events import ConfigRead, Event
from state.nginxconf import NginxConfigError, proxy_config, split_dump, split_host_port
from state.upstreams import ProxyConfig
from switchboard.errors import RemoteError
from switchboard.nginx_parse import parse_files

# One round trip for all names; "@@ NAME" then getent's lines ("ADDR STREAM name", ...).
RESOLVE_SCRIPT = 'for n in "$@"; do printf "@@ %s\\n" "$n"; getent ahosts "$n"; done; exit 0'


def names_to_resolve(config: ProxyConfig) -> list[str]:
    """Host names (not IP literals, not unix sockets) in the upstreams' server lines."""
    names: list[str] = []
    for upstream in config.upstreams:
        for server in upstream.servers:
            if server.address.startswith("unix:"):
                continue
            host, _ = split_host_port(server.address)
            try:
                ipaddress.ip_address(host)
            except ValueError:
                if host not in names:
                    names.append(host)
    return names


def parse_getent(text: str) -> dict[str, list[str]]:
    """``name -> [addresses]`` from RESOLVE_SCRIPT's output, in getent's order, no repeats."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@@ "):
            current = out.setdefault(line[3:].strip(), [])
            continue
        words = line.split()
        if current is None or not words:
            continue
        try:
            addr = str(ipaddress.ip_address(words[0]))
        except ValueError:
            continue
        if addr not in current:
            current.append(addr)
    return out


def _last_lines(text: str, n: int = 3) -> str:
    return " / ".join(text.strip().splitlines()[-n:]) or "no output"


class ConfigReader:
    """``nginx -T`` on one proxy at start, every ``interval`` seconds and when asked.

    ``nginx -T`` needs root (it opens the pid and log files as ``nginx -t`` does), so it goes
    through sudo where the inventory asks; resolving names (``getent``) does not.
    """

    def __init__(self, session: HostSession, publish: Callable[[Event], None], *,
                 interval: float = 30.0, clock: Callable[[], float] = time.time,
                 command: tuple[str, ...] = ("nginx", "-T")) -> None:
        self.session = session
        self.command = command
        self.latest: ProxyConfig | None = None
        self._publish = publish
        self._interval = interval
        self._clock = clock
        self._wake = asyncio.Event()
        self.tried = asyncio.Event()  # set once a first read has published its outcome

    def refresh(self) -> None:
        """Read again now instead of at the next interval."""
        self._wake.set()

    async def _resolve(self, names: Iterable[str]) -> dict[str, list[str]]:
        result = await self.session.run_script(RESOLVE_SCRIPT, *names, check=False,
                                               timeout=15, privileged=False)
        return parse_getent(result.stdout)

    async def read(self) -> ConfigRead:
        """Read, parse and resolve once; the outcome (config or error) as an event."""
        host = self.session.name
        try:
            result = await self.session.run(self.command, check=False, timeout=20,
                                            privileged=True)
        except (RemoteError, OSError, asyncssh.Error) as e:
            return ConfigRead(host, self._clock(), None, error=f"cannot run nginx -T: "
                              f"{describe_error(e)}")
        if not result.ok:
            hint = f"; {result.hint}" if result.hint else ""
            return ConfigRead(host, self._clock(), None,
                              error=f"nginx -T exited with {result.exit_status}: "
                                    f"{_last_lines(result.stderr or result.stdout)}{hint}")
        try:
            files = split_dump(result.stdout, host)
            parsed = parse_files(files, host)
            config = proxy_config(host, files, parsed)
        except NginxConfigError as e:
            return ConfigRead(host, self._clock(), None, error=str(e))
        error = None
        names = names_to_resolve(config)
        if names:
            try:
                config = proxy_config(host, files, parsed, hosts=await self._resolve(names))
            except (RemoteError, OSError, asyncssh.Error) as e:
                # unresolved names only cost the mapping of logged addresses: keep the config
                error = f"cannot resolve server names: {describe_error(e)}"
        self.latest = config
        return ConfigRead(host, self._clock(), config, error=error)

    async def read_now(self) -> ConfigRead:
        event = await self.read()
        self._publish(event)
        self.tried.set()
        return event

    async def run(self) -> None:
        while True:
            await self.session.connection()
            self._wake.clear()
            await self.read_now()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._interval):
                    await self._wake.wait()
