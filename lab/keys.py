"""Generates the lab's SSH keys (one client key, one host key per host) and known_hosts."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lab import topology
from lab.errors import LabError
from lab.topology import LabHost


def keygen(path: Path, comment: str) -> str:
    """An ed25519 key pair at path (kept if present); returns the public key line."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        proc = subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
            capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise LabError(f"ssh-keygen for {path} failed: {proc.stderr.strip()} "
                           "(install openssh-client: lab/setup.sh)")
    path.chmod(0o600)
    return Path(f"{path}.pub").read_text().strip()


def client_key() -> str:
    return keygen(topology.client_key_path(), "switchboard-lab-client")


def host_key(host: LabHost) -> str:
    return keygen(host.dir / "etc/ssh/ssh_host_ed25519_key", f"root@{host.name}")


def write_known_hosts(keys: dict[LabHost, str]) -> Path:
    lines = []
    for host, pub in keys.items():
        kind, blob = pub.split()[:2]
        lines.append(f"{host.address},{host.name} {kind} {blob}")
    path = topology.known_hosts_path()
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o644)
    return path
