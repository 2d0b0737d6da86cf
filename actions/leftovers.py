"""Finds and removes ``*.switchboard-new`` files an interrupted apply left beside live files.

A staged file never becomes live by itself (the swap is a rename, which leaves no staged
file behind), so a leftover only means an apply was cut short between staging and swapping.
It is harmless to nginx unless an ``include`` glob matches it, but it would confuse the next
apply and an operator, so every run looks for them once it holds the lock (a rival's staged
file is never taken for a leftover) and removes them, saying so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from actions.plan import STAGED_SUFFIX
from actions.runner import RemoteRunner
from switchboard.errors import RemoteError
from switchboard.remote import privileged

# $1 suffix, then the config files: list staged copies in the real directories of those
# files (symlinks followed, as the stage step follows them): "<mtime> <size> <path>".
FIND_SH = ('s=$1; shift; for f; do p=$(readlink -f -- "$f") && dirname -- "$p"; done '
           '| sort -u | while IFS= read -r d; do '
           'find "$d" -maxdepth 1 -type f -name "*$s" -printf "%T@ %s %p\\n"; done')
REMOVE_SH = 'rm -f -- "$@"'


@dataclass(frozen=True)
class Leftover:
    host: str
    path: str
    mtime: float
    size: int

    def describe(self) -> str:
        return f"{self.host}: {self.path} ({self.size} bytes) left by an interrupted apply"


def parse_find(host: str, stdout: str) -> list[Leftover]:
    out: list[Leftover] = []
    for line in stdout.splitlines():
        parts = line.split(" ", 2)
        if len(parts) != 3 or not parts[2].endswith(STAGED_SUFFIX):
            continue
        try:
            out.append(Leftover(host, parts[2], float(parts[0]), int(parts[1])))
        except ValueError:
            continue
    return out


async def find(runner: RemoteRunner, files: Mapping[str, Sequence[str]]
               ) -> tuple[list[Leftover], list[str]]:
    """Leftovers next to each host's config ``files``, and hosts that could not be searched."""
    found: list[Leftover] = []
    problems: list[str] = []
    for host, paths in files.items():
        if not paths:
            continue
        # Listing the config directories is a read the SSH user can do: no sudo.
        argv = ["sh", "-c", FIND_SH, "sh", STAGED_SUFFIX, *paths]
        try:
            done = await runner.run(host, argv, timeout=15.0)
        except RemoteError as e:
            problems.append(f"could not look for leftovers: {e}")
            continue
        found += parse_find(host, done.stdout)
        if done.exit_status != 0 and not done.stdout:
            problems.append(f"{host}: could not look for leftovers: {done.failure}")
    return found, problems


async def clean(runner: RemoteRunner, leftovers: Sequence[Leftover],
                sudo: Mapping[str, bool]) -> list[str]:
    """Remove the leftovers; returns what could not be removed."""
    problems: list[str] = []
    by_host: dict[str, list[str]] = {}
    for left in leftovers:
        by_host.setdefault(left.host, []).append(left.path)
    for host, paths in by_host.items():
        # Removing them writes to root's directories: root.
        argv = privileged(["sh", "-c", REMOVE_SH, "sh", *paths], sudo=sudo.get(host, False))
        try:
            done = await runner.run(host, argv, timeout=15.0)
        except RemoteError as e:
            problems.append(f"could not remove leftovers: {e}")
            continue
        if done.exit_status != 0:
            problems.append(f"{host}: could not remove {', '.join(paths)}: {done.failure}")
    return problems
