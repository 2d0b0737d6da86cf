"""Writes the lab's inventories, in the format `switchboard.inventory` reads: one as root, and
one as the non-root operator (sbops) with `sudo = true` on the proxies."""

from __future__ import annotations

import json
from pathlib import Path

from lab import topology, users
from lab.topology import LabHost
from switchboard import inventory


def _q(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def render(lab_hosts: tuple[LabHost, ...], *, user: str = "root", sudo: bool = False) -> str:
    who = f"as {user}" + (", with sudo on the proxies" if sudo else "")
    lines = [
        f"# The Switchboard lab ({who}), written by 'switchboard lab up'; removed by 'lab down'.",
        "[cluster]",
        'name = "lab"',
        f"vip = {_q(topology.VIP)}",
        'ha = "heartbeat"',
        f"upstreams = [{_q(topology.UPSTREAM)}]",
        "",
        "[ssh]",
        f"user = {_q(user)}",
        f"port = {topology.SSH_PORT}",
        f"key = {_q(str(topology.client_key_path()))}",
        f"known_hosts = {_q(str(topology.known_hosts_path()))}",
        "use_ssh_config = false",
        "connect_timeout = 5.0",
    ]
    for h in lab_hosts:
        lines += ["", "[[hosts]]", f"name = {_q(h.name)}", f"role = {_q(h.role)}",
                  f"address = {_q(h.address)}",
                  'access_log = "/var/log/nginx/access.log"',
                  'error_log = "/var/log/nginx/error.log"']
        if h.role == "lb":
            lines.append('stub_status = "http://127.0.0.1/nginx_status"')
            if sudo:
                lines.append("sudo = true")
        else:
            port = topology.BACKEND_PORT
            lines += [f'stub_status = "http://127.0.0.1:{port}/nginx_status"', f"port = {port}"]
    return "\n".join(lines) + "\n"


def write(lab_hosts: tuple[LabHost, ...]) -> Path:
    """Both inventories; returns the root one (the lab's default)."""
    for path, text in ((topology.sudo_inventory_path(),
                        render(lab_hosts, user=users.OPERATOR, sudo=True)),
                       (topology.inventory_path(), render(lab_hosts))):
        inventory.parse(text, str(path))  # never leave behind a file the loader would refuse
        path.write_text(text)
    return topology.inventory_path()
