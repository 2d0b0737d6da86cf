"""A real OpenSSH sshd on loopback for the collector tests: started and stopped by PID."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh
import pytest

from state.events import Event, HostHealth, Request
from switchboard.inventory import Host, SshSettings

SSHD = "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (the per-connection sshd children), deepest first."""
    out: list[int] = []
    try:
        kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return out
    for k in kids:
        out.extend(_descendants(int(k)))
        out.append(int(k))
    return out


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


@dataclass
class Sshd:
    """One sshd listening on 127.0.0.1:port, with its own host key and one authorized key."""

    dir: Path
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.host_key = self.dir / "ssh_host_ed25519_key"
        self.client_key = self.dir / "client_ed25519"
        self.known_hosts = self.dir / "known_hosts"
        for path in (self.host_key, self.client_key):
            key = asyncssh.generate_private_key("ssh-ed25519")
            key.write_private_key(str(path))
            path.chmod(0o600)
        client_pub = asyncssh.read_private_key(str(self.client_key)).export_public_key()
        (self.dir / "authorized_keys").write_bytes(client_pub)
        self.config = self.dir / "sshd_config"
        self.config.write_text(
            f"ListenAddress 127.0.0.1\nHostKey {self.host_key}\n"
            f"AuthorizedKeysFile {self.dir / 'authorized_keys'}\nPidFile {self.dir / 'sshd.pid'}\n"
            "UsePAM no\nStrictModes no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin yes\nLogLevel ERROR\n"
            "ClientAliveInterval 0\nMaxStartups 100\nMaxSessions 50\n")
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir

    @property
    def host_public_key(self) -> asyncssh.SSHKey:
        return asyncssh.read_private_key(str(self.host_key)).convert_to_public()

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(self.config), "-p", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if self.proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self.proc.returncode}")
            time.sleep(0.02)
        raise RuntimeError("sshd did not start listening")

    def stop(self) -> None:
        """Kill the listener and the sshd processes serving its connections, by PID.

        The users' commands below them are left to end on their own (their pipes close): a
        login shell killed mid-startup can leave locks behind (pyenv's rehash lock, say).
        """
        if self.proc is None:
            return
        kids = [p for p in _descendants(self.proc.pid) if _comm(p) == "sshd"]
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)
        for pid in kids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.proc = None

    def trust(self) -> None:
        """Put this server's real host key in known_hosts."""
        alg, blob = self.host_public_key.export_public_key().decode().split()[:2]
        self.known_hosts.write_text(f"[127.0.0.1]:{self.port} {alg} {blob}\n")

    def host(self, name: str = "t1", **kw: object) -> Host:
        ssh = SshSettings(user="root", port=self.port, key=str(self.client_key),
                          known_hosts=str(self.known_hosts), use_ssh_config=False,
                          connect_timeout=5.0)
        return Host(name=name, role="lb", address="127.0.0.1", ssh=ssh, **kw)  # type: ignore[arg-type]


@pytest.fixture
def sshd(tmp_path: Path) -> Iterator[Sshd]:
    (tmp_path / "sshd").mkdir()
    server = Sshd(tmp_path / "sshd")
    server.start()
    try:
        yield server
    finally:
        server.stop()


class Events:
    """Collects published events; tests wait on a predicate with a deadline, never on time."""

    def __init__(self) -> None:
        self.items: list[Event] = []

    def __call__(self, event: Event) -> None:
        self.items.append(event)

    def health(self) -> list[HostHealth]:
        return [e for e in self.items if isinstance(e, HostHealth)]

    async def until(self, predicate: Callable[[], bool], *, within: float = 20.0) -> None:
        await until(predicate, within=within, context=lambda: f"events: {self.items[-8:]}")


async def until(predicate: Callable[[], bool], *, within: float = 20.0,
                context: Callable[[], str] = lambda: "") -> None:
    """Wait for a condition; the deadline only turns a hang into a failure."""
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {within} s; {context()}")
        await asyncio.sleep(0.02)


class LineEcho:
    """A parser stand-in: every line becomes a Request whose uri is the line."""

    def parse_lines(self, lines: list[bytes], now: float = 0.0
                    ) -> tuple[list[Request], int, str | None]:
        return [Request(now, 200, None, (), uri=ln.decode()) for ln in lines], 0, None
