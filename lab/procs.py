"""Starts lab daemons inside a host's namespaces and records, checks and stops them by PID."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from lab import topology
from lab.errors import LabError

CLEAN_ENV = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "HOME": "/root",
}


@dataclass(frozen=True)
class Record:
    """One process the lab started: its PID and kernel start time, so a reused PID is not ours."""

    key: str
    pid: int
    start: int

    @property
    def path(self) -> Path:
        return topology.pids_dir() / f"{self.key}.pid"


def start_time(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counted after the ")" that closes the command name.
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return None
    return int(fields[19])


def record(key: str, pid: int) -> Record:
    start = start_time(pid)
    if start is None:
        raise LabError(f"{key}: process {pid} exited right after it started "
                       f"(see the logs under {topology.hosts_dir()})")
    rec = Record(key, pid, start)
    rec.path.parent.mkdir(parents=True, exist_ok=True)
    rec.path.write_text(f"{pid} {start}\n")
    return rec


def records() -> list[Record]:
    out = []
    for p in sorted(topology.pids_dir().glob("*.pid")):
        try:
            pid, start = (int(x) for x in p.read_text().split()[:2])
        except (OSError, ValueError):
            continue
        out.append(Record(p.stem, pid, start))
    return out


def alive(rec: Record) -> bool:
    return start_time(rec.pid) == rec.start


def spawn(key: str, argv: Sequence[str], *, log: Path, holder: int | None = None,
          env: Mapping[str, str] | None = None) -> Record:
    """Start argv (inside the holder's mount, UTS and network namespaces when given)."""
    full = list(argv)
    if holder is not None:
        full = ["nsenter", f"--target={holder}", "--mount", "--uts", "--net", "--", *full]
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                env={**CLEAN_ENV, **(env or {})}, start_new_session=True,
                                close_fds=True)
    time.sleep(0.05)
    return record(key, proc.pid)


def reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_pids(pids: Sequence[tuple[int, int]], timeout: float = 5.0) -> int:
    """TERM then KILL each (pid, start time) pair that is still the same process."""
    live = [(p, s) for p, s in pids if start_time(p) == s]
    for pid, _ in live:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid, _ in live:
            reap(pid)
        if all(start_time(p) != s for p, s in live):
            return len(live)
        time.sleep(0.05)
    for pid, start in live:
        if start_time(pid) == start:
            _signal(pid, signal.SIGKILL)
            reap(pid)
    return len(live)


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (sshd's per-connection processes, say)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def forget(rec: Record) -> None:
    rec.path.unlink(missing_ok=True)
