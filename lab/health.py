"""Checks a running lab from the root namespace: open ports, who holds the VIP, cl_status."""

from __future__ import annotations

import functools
import socket
import time
import urllib.request
from collections.abc import Callable, Iterable

from lab import netns, topology
from lab.errors import LabError
from lab.topology import LabHost


def port_open(address: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def expected_ports(host: LabHost) -> list[int]:
    web = topology.PROXY_PORT if host.role == "lb" else topology.BACKEND_PORT
    return [topology.SSH_PORT, web]


def vip_owner(lab_hosts: Iterable[LabHost]) -> str | None:
    for h in lab_hosts:
        if h.role == "lb" and topology.VIP in netns.addresses(h.netns):
            return h.name
    return None


def vip_answers() -> bool:
    try:
        # No proxy: the lab is only reachable directly over the bridge.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://{topology.VIP}/", timeout=1) as resp:
            return int(resp.status) == 200
    except OSError:
        return False


def wait_until(check: Callable[[], bool], what: str, timeout: float) -> float:
    """Poll check until true; returns the seconds it took."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what} "
                           f"(logs under {topology.hosts_dir()}; 'switchboard lab status')")
        time.sleep(0.1)
    return time.monotonic() - start


def wait_ready(lab_hosts: tuple[LabHost, ...], timeout: float = 40.0) -> None:
    for h in lab_hosts:
        for port in expected_ports(h):
            wait_until(functools.partial(port_open, h.address, port),
                       f"{h.name} port {port}", timeout)
    wait_until(lambda: vip_owner(lab_hosts) is not None, "Heartbeat to bring up the VIP",
               timeout)
    wait_until(vip_answers, f"http://{topology.VIP}/ to answer", timeout)
