"""The nginx upstream configuration as data: blocks, servers, their flags and source lines."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Method = Literal["round_robin", "ip_hash", "hash", "least_conn", "random"]

# Methods with which nginx refuses `backup` (and for which weight changes move the hash).
METHODS_WITHOUT_BACKUP: frozenset[str] = frozenset({"ip_hash", "hash", "random"})


def bracket_host(host: str) -> str:
    """A host as it stands before ``:port`` or in a URL: an IPv6 literal in brackets."""
    return f"[{host}]" if ":" in host else host


def join_host_port(host: str, port: int | str) -> str:
    """``("::1", 8001)`` -> ``"[::1]:8001"``; ``("198.18.0.21", 80)`` -> ``"198.18.0.21:80"``."""
    return f"{bracket_host(host)}:{port}"


@dataclass(frozen=True)
class UpstreamServer:
    """One ``server`` line of an upstream block, as written in the file."""

    address: str  # as written: "web1:8001", "198.18.0.21:8001", "unix:/run/a.sock", "[::1]:80"
    weight: int = 1
    max_fails: int = 1
    fail_timeout: str = "10s"
    down: bool = False
    backup: bool = False
    args: tuple[str, ...] = ()  # every argument after the address, verbatim
    file: str = ""
    line: int = 0
    resolved: tuple[str, ...] = ()  # "ip:port" forms nginx will log in $upstream_addr

    @property
    def takes_traffic(self) -> bool:
        return not self.down and not self.backup


@dataclass(frozen=True)
class Upstream:
    name: str
    method: Method
    servers: tuple[UpstreamServer, ...]
    file: str = ""
    line: int = 0
    hash_key: str | None = None  # for `hash KEY [consistent]`
    directives: tuple[tuple[str, tuple[str, ...]], ...] = ()  # every other directive, verbatim
    method_args: tuple[str, ...] = ()  # the balancing directive's args: ("$uri", "consistent")

    def server(self, address: str) -> UpstreamServer | None:
        for s in self.servers:
            if s.address == address or address in s.resolved:
                return s
        return None


@dataclass(frozen=True)
class ProxyConfig:
    """What ``nginx -T`` on one proxy says: its upstreams and its access-log formats."""

    host: str
    upstreams: tuple[Upstream, ...]
    log_formats: dict[str, tuple[str, bool]]  # name -> (format string, escape=json?)
    access_logs: dict[str, str]  # path -> log_format name
    files: dict[str, str]  # path -> full text as nginx -T printed it
    includes: tuple[str, ...] = ()  # every `include` pattern, absolute, as nginx resolves it
    pid_file: str | None = None  # the main `pid` directive; None: nginx's compiled-in default
