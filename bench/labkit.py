"""The lab as the benchmarks use it: is it up, its proxies, SSH sessions and remote files."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from state.events import Event
from switchboard import inventory, paths, remote
from switchboard.inventory import Host, Inventory

if TYPE_CHECKING:
    from collectors.ssh import HostSession

BENCH_LOG = "/var/log/nginx/bench.log"
FRESH_LOG = "/var/log/nginx/bench-fresh.log"


def lab_inventory() -> Inventory | None:
    """The running lab's inventory, None when the lab is not up."""
    if not paths.LAB_INVENTORY.exists():
        return None
    return inventory.load(paths.LAB_INVENTORY)


def host_path(host: Host, path: str) -> Path:
    """Where a file inside a lab host lives in the root namespace (its directory tree)."""
    return paths.LAB_RUNTIME / "hosts" / host.name / path.lstrip("/")


def ssh_argv(host: Host, *command: str) -> list[str]:
    """The OpenSSH client command for one lab host, with the lab's key and known_hosts."""
    ssh = host.ssh
    argv = ["ssh", "-p", str(ssh.port), "-o", "BatchMode=yes", "-o",
            "StrictHostKeyChecking=yes"]
    if ssh.key:
        argv += ["-i", ssh.key]
    if ssh.known_hosts:
        argv += ["-o", f"UserKnownHostsFile={ssh.known_hosts}"]
    target = f"{ssh.user}@{host.address}" if ssh.user else host.address
    # OpenSSH joins its arguments into one shell line: quote each, as switchboard.remote does.
    return [*argv, target, "--", remote.command(*command)]


def ssh(host: Host, *command: str, stdin: Path | None = None,
        timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    if stdin is None:
        return subprocess.run(ssh_argv(host, *command), capture_output=True, text=True,
                              timeout=timeout, check=False)
    with stdin.open("rb") as f:
        proc = subprocess.run(ssh_argv(host, *command), stdin=f, capture_output=True,
                              timeout=timeout, check=False)
    return subprocess.CompletedProcess(proc.args, proc.returncode,
                                       proc.stdout.decode(errors="replace"),
                                       proc.stderr.decode(errors="replace"))


def upload(host: Host, local: Path, remote: str) -> None:
    """Copy ``local`` to ``remote`` on the host, through SSH's standard input."""
    proc = ssh(host, "sh", "-c", 'cat > "$1"', "sh", remote, stdin=local, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{host.name}: upload to {remote} failed: {proc.stderr.strip()}")


def remove(host: Host, remote: str) -> None:
    ssh(host, "rm", "-f", "--", remote)


@contextlib.asynccontextmanager
async def sessions(hosts: Sequence[Host], publish: Callable[[Event], None]
                   ) -> AsyncIterator[list[HostSession]]:
    """Connected collector sessions, one per host, closed on the way out."""
    from collectors.ssh import HostSession  # late: the benchmarks without SSH must not need it

    live = [HostSession(h, publish) for h in hosts]
    tasks = [asyncio.create_task(s.maintain()) for s in live]
    try:
        for s in live:
            await s.connection(15.0)
        yield list(live)
    finally:
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t


def collectors_landed() -> str | None:
    """None when the SSH tailer can be used, else why not."""
    try:
        from collectors.follow import Position  # noqa: F401
        from collectors.ssh import HostSession  # noqa: F401
        from collectors.tailer import LogTailer  # noqa: F401
    except Exception as e:  # anything a half-written module raises on import
        return f"collectors do not import: {type(e).__name__}: {e}"
    return None
