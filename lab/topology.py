"""The lab's fixed layout: host names, roles, addresses, namespaces and runtime paths."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from switchboard import paths

BRIDGE = "sb-br0"
BRIDGE_ADDRESS = "198.18.0.1"
PREFIX = 24
VIP = "198.18.0.100"
PROXY_PORT = 80
BACKEND_PORT = 8001
SSH_PORT = 22
UPSTREAM = "web_servers"
IFACE = "eth0"  # the veth end inside each host, as a real machine would call it
MAX_BACKENDS = 50  # webN is 198.18.0.(20+N); keep clear of the VIP at .100


@dataclass(frozen=True)
class LabHost:
    name: str
    role: str  # "lb" or "web"
    address: str

    @property
    def netns(self) -> str:
        return f"sb-{self.name}"

    @property
    def veth(self) -> str:
        return f"veth-{self.name}"

    @property
    def dir(self) -> Path:
        return hosts_dir() / self.name


def hosts(backends: int = 2) -> tuple[LabHost, ...]:
    lbs = (LabHost("lb1", "lb", "198.18.0.11"), LabHost("lb2", "lb", "198.18.0.12"))
    webs = tuple(LabHost(f"web{i}", "web", f"198.18.0.{20 + i}") for i in range(1, backends + 1))
    return lbs + webs


def runtime() -> Path:
    return paths.LAB_RUNTIME


def hosts_dir() -> Path:
    return runtime() / "hosts"


def pids_dir() -> Path:
    return runtime() / "pids"


def state_file() -> Path:
    """Which hosts this lab instance has, written before anything is created."""
    return runtime() / "lab.json"


def inventory_path() -> Path:
    return runtime() / "inventory.toml"


def sudo_inventory_path() -> Path:
    """The same cluster seen as the non-root operator (sbops) with sudo on the proxies."""
    return runtime() / "inventory-sudo.toml"


def known_hosts_path() -> Path:
    return runtime() / "known_hosts"


def client_key_path() -> Path:
    return runtime() / "id_ed25519"
