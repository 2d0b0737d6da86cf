"""Creates and removes the lab's bridge, network namespaces and veth pairs with `ip`."""

from __future__ import annotations

import subprocess

from lab.errors import LabError
from lab.topology import BRIDGE, BRIDGE_ADDRESS, IFACE, PREFIX, LabHost


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise LabError(f"'ip {' '.join(args)}' failed: {proc.stderr.strip()} "
                       "(run as root on Linux; 'switchboard lab down' clears a half-built lab)")
    return proc


def namespaces() -> set[str]:
    out = ip("netns", "list", check=False).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def link_exists(name: str) -> bool:
    return ip("link", "show", "dev", name, check=False).returncode == 0


def create_bridge() -> None:
    if not link_exists(BRIDGE):
        ip("link", "add", BRIDGE, "type", "bridge", "forward_delay", "0")
    ip("addr", "replace", f"{BRIDGE_ADDRESS}/{PREFIX}", "dev", BRIDGE)
    ip("link", "set", BRIDGE, "up")


def create_host_network(host: LabHost) -> None:
    if host.netns not in namespaces():
        ip("netns", "add", host.netns)
    if not link_exists(host.veth):
        ip("link", "add", host.veth, "type", "veth", "peer", "name", IFACE, "netns", host.netns)
    ip("link", "set", host.veth, "master", BRIDGE, "up")
    ip("-n", host.netns, "addr", "replace", f"{host.address}/{PREFIX}", "dev", IFACE)
    ip("-n", host.netns, "link", "set", IFACE, "up")
    ip("-n", host.netns, "link", "set", "lo", "up")


def netns_pids(name: str) -> list[int]:
    out = ip("netns", "pids", name, check=False).stdout
    return [int(p) for p in out.split() if p.isdigit()]


def remove_host_network(host_netns: str, veth: str) -> list[str]:
    """Delete one host's veth and namespace; says what it removed."""
    done = []
    if link_exists(veth):
        ip("link", "del", veth, check=False)
        done.append(f"veth {veth}")
    if host_netns in namespaces():
        ip("netns", "del", host_netns, check=False)
        done.append(f"netns {host_netns}")
    return done


def remove_bridge() -> list[str]:
    if link_exists(BRIDGE):
        ip("link", "del", BRIDGE, check=False)
        return [f"bridge {BRIDGE}"]
    return []


def addresses(host_netns: str) -> list[str]:
    out = ip("-n", host_netns, "-o", "-4", "addr", "show", "dev", IFACE, check=False).stdout
    return [f.split("/")[0] for line in out.splitlines() for f in line.split()[3:4]]
