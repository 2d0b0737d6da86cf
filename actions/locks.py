"""A lock on each proxy (an atomic ``mkdir``) so two Switchboards never change it at once.

The lock is the directory :data:`LOCK_DIR` on the proxy; ``mkdir`` either creates it or fails,
atomically, on every filesystem. Inside, ``owner`` holds one JSON line: a random token, the
local user, machine, PID, the time it was taken and the action. Only the holder of the token
removes it. A lock older than ``stale_after`` is reported as probably stale, with its owner
and the command that removes it, but not broken: an apply that really is still running
elsewhere must not be trampled. The one lock Switchboard does remove is one whose owner ran
on this very machine under a PID that no longer exists (a crashed or killed Switchboard):
that owner is certainly gone, and the removal is reported, never silent.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from actions.audit import local_user
from actions.runner import RemoteRunner
from switchboard.errors import RemoteError, SwitchboardError
from switchboard.remote import command, privileged

LOCK_DIR = "/run/switchboard.lock"
BUSY = 75  # EX_TEMPFAIL: someone else holds the lock
STALE_AFTER = 15 * 60.0

# $1 lock dir, $2 owner line. Prints the current owner and "<dir mtime> <now>" when busy,
# both by the proxy's own clock so the age is right even if the clocks disagree.
ACQUIRE_SH = ('if mkdir -m 0700 -- "$1" 2>/dev/null; then '
              'printf "%s\\n" "$2" > "$1/owner" && exit 0; rmdir -- "$1"; exit 1; fi; '
              'head -c 2000 -- "$1/owner" 2>/dev/null; echo; '
              'echo "$(stat -c %Y -- "$1" 2>/dev/null || echo 0) $(date +%s)"; exit 75')
# $1 lock dir, $2 token: remove only our own lock.
RELEASE_SH = ('grep -qF -- "$2" "$1/owner" 2>/dev/null || '
              '{ echo "the lock is not ours any more" >&2; exit 3; }; '
              'rm -f -- "$1/owner" && rmdir -- "$1"')


class LockBusy(SwitchboardError):
    """Another Switchboard (or a crashed one) holds a proxy's lock; the action is refused."""

    exit_code = 2


@dataclass(frozen=True)
class Owner:
    """Who holds a lock, from its owner file."""

    user: str = "?"
    machine: str = "?"
    pid: int | None = None
    since: float | None = None
    action: str = ""
    token: str = ""
    machine_id: str = ""  # a hash of /etc/machine-id: host names are not unique enough

    def line(self) -> str:
        return json.dumps({"token": self.token, "user": self.user, "machine": self.machine,
                           "pid": self.pid, "since": self.since, "action": self.action,
                           "machine_id": self.machine_id}, separators=(",", ":"))

    @classmethod
    def parse(cls, text: str) -> Owner | None:
        try:
            data: Any = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        pid = data.get("pid")
        since = data.get("since")
        return cls(str(data.get("user", "?")), str(data.get("machine", "?")),
                   pid if isinstance(pid, int) else None,
                   float(since) if isinstance(since, int | float) else None,
                   str(data.get("action", "")), str(data.get("token", "")),
                   str(data.get("machine_id", "")))

    def who(self) -> str:
        pid = f" pid {self.pid}" if self.pid is not None else ""
        return f"{self.user}@{self.machine}{pid}"


def busy_message(host: str, owner: Owner | None, age: float | None, stale_after: float,
                 *, sudo: bool = False) -> str:
    """What the operator reads when a proxy's lock is held: who, since when, what to do."""
    who = owner.who() if owner else "an unknown owner (the owner file is missing or damaged)"
    doing = f" applying '{owner.action}'" if owner and owner.action else ""
    since = ""
    if age is not None:
        since = f", taken {_ago(age)} ago"
    head = f"{host}: another Switchboard holds the lock {LOCK_DIR}: {who}{doing}{since}"
    if age is not None and age > stale_after:
        rm = command(*privileged(["rm", "-r", "--", LOCK_DIR], sudo=sudo))
        return (f"{head}. It is older than {_ago(stale_after)}, so probably stale (that "
                f"Switchboard may have crashed). If no Switchboard is running there, look for "
                f"leftover *.switchboard-new files, then remove the lock on {host}: {rm}")
    return f"{head}. Wait for it to finish, then try again"


def _ago(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class ProxyLocks:
    """Takes the lock on several proxies (in name order, so two rivals never both lose the
    race half-way and each hold one), and releases what it took."""

    runner: RemoteRunner
    sudo: dict[str, bool]
    action: str = ""
    stale_after: float = STALE_AFTER
    owner: Owner = field(default_factory=lambda: Owner(
        local_user(), socket.gethostname(), os.getpid(), 0.0, "", uuid.uuid4().hex,
        _machine_id()))
    held: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)  # dead owners' locks this run removed

    async def acquire(self, hosts: Sequence[str]) -> None:
        """Lock every host or none; raises LockBusy (held elsewhere) or RemoteError."""
        me = Owner(self.owner.user, self.owner.machine, self.owner.pid, time.time(),
                   self.action, self.owner.token, self.owner.machine_id)
        try:
            for host in sorted(set(hosts)):
                await self._take(host, me, retry=True)
        except BaseException:
            await self.release()
            raise

    async def _take(self, host: str, me: Owner, *, retry: bool) -> None:
        sudo = self.sudo.get(host, False)
        argv = privileged(["sh", "-c", ACQUIRE_SH, "sh", LOCK_DIR, me.line()], sudo=sudo)
        done = await self.runner.run(host, argv, timeout=15.0)
        if done.exit_status == 0:
            self.held.append(host)
            return
        if done.exit_status != BUSY:
            raise RemoteError(host, f"cannot take the lock {LOCK_DIR}: {done.failure}")
        owner, age = _busy_details(done.stdout)
        if retry and owner is not None and self._dead_here(owner):
            gone = await self.runner.run(host, privileged(
                ["sh", "-c", RELEASE_SH, "sh", LOCK_DIR, owner.token], sudo=sudo), timeout=15.0)
            if gone.exit_status == 0:
                self.removed.append(f"{host}: removed the lock {LOCK_DIR} left by {owner.who()}"
                                    f"{f' (applying {owner.action!r})' if owner.action else ''}"
                                    ": that process ended without releasing it")
                await self._take(host, me, retry=False)
                return
        raise LockBusy(busy_message(host, owner, age, self.stale_after, sudo=sudo))

    def _dead_here(self, owner: Owner) -> bool:
        """The owner ran on this machine and its PID is gone: it can never release the lock."""
        if (not owner.machine_id or owner.machine_id != self.owner.machine_id
                or owner.pid is None or not owner.token):
            return False
        try:
            os.kill(owner.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # alive, someone else's
        return False

    async def release(self) -> list[str]:
        """Remove every lock this object holds; returns problems (never raises)."""
        problems: list[str] = []
        while self.held:
            host = self.held.pop()
            argv = privileged(["sh", "-c", RELEASE_SH, "sh", LOCK_DIR, self.owner.token],
                              sudo=self.sudo.get(host, False))
            try:
                done = await self.runner.run(host, argv, timeout=15.0)
            except RemoteError as e:
                problems.append(f"{host}: could not release the lock {LOCK_DIR}: {e}")
                continue
            if done.exit_status != 0:
                problems.append(f"{host}: could not release the lock {LOCK_DIR}: {done.failure}")
        return problems


def _busy_details(stdout: str) -> tuple[Owner | None, float | None]:
    lines = [ln for ln in stdout.splitlines() if ln.strip()]
    owner = Owner.parse(lines[0]) if lines else None
    age: float | None = None
    if lines:
        parts = lines[-1].split()
        if len(parts) == 2 and all(p.isdigit() for p in parts) and int(parts[0]) > 0:
            age = float(int(parts[1]) - int(parts[0]))
    return owner, age


def _machine_id() -> str:
    try:
        raw = Path("/etc/machine-id").read_text().strip()
    except OSError:
        return ""
    return hashlib.sha256(raw.encode()).hexdigest()[:16] if raw else ""

