"""The append-only audit log: one JSON line per plan and per result, who, when, what, how long."""

from __future__ import annotations

import fcntl
import getpass
import json
import os
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from switchboard import paths


@dataclass(frozen=True)
class AuditRecord:
    at: float
    kind: str  # "plan" | "result"
    action: str
    cluster: str
    local_user: str
    local_host: str
    data: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.at)),
            "kind": self.kind,
            "action": self.action,
            "cluster": self.cluster,
            "local_user": self.local_user,
            "local_host": self.local_host,
            **self.data,
        }


class AuditLog:
    """Appends records with O_APPEND under an exclusive lock, so concurrent writers never
    interleave a line; nothing here ever rewrites or truncates the file."""

    def __init__(self, path: Path | None = None):
        self.path = path or paths.audit_log()

    def record(self, kind: str, action: str, cluster: str, data: Mapping[str, Any]) -> AuditRecord:
        rec = AuditRecord(
            at=time.time(), kind=kind, action=action, cluster=cluster,
            local_user=local_user(), local_host=socket.gethostname(), data=data,
        )
        line = json.dumps(rec.to_json(), sort_keys=False, default=str) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line.encode("utf-8"))
        finally:
            os.close(fd)
        return rec

    def read(self) -> Iterator[dict[str, Any]]:
        """Every record, oldest first; a damaged line is returned as {"unreadable": text}."""
        try:
            with self.path.open(encoding="utf-8", errors="replace") as f:
                for line in f:
                    if not line.strip():
                        continue
                    try:
                        yield json.loads(line)
                    except json.JSONDecodeError:
                        yield {"unreadable": line.rstrip("\n")}
        except FileNotFoundError:
            return


def local_user() -> str:
    """Who runs this Switchboard: the name the audit, the lock and the proxies' syslog give."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())
