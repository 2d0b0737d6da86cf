"""`switchboard watch`: headless snapshots of the cluster, live over SSH or from a local log."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

from state.events import HostHealth, LogBatch, LogGap
from state.logformat import (
    BUILTIN_FORMATS,
    LineParser,
    compile_format,
    detect,
    looks_like_json,
)
from state.reducer import ClusterState, backend_names_from
from state.snapshot import WINDOWS, Snapshot
from switchboard import inventory
from switchboard.commands._args import seconds
from switchboard.errors import SwitchboardError, UsageError

CHUNK = 1 << 20  # bytes read at a time from a log file
DETECT_BYTES = 64 << 10  # how much of the file's head auto-detection looks at
_sleep = time.sleep  # replaced in tests to drive the follow loop


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "watch", help="print cluster snapshots without the dashboard",
        description="Print a snapshot of the cluster every --interval seconds: live from the "
        "inventory's hosts, or from a local access log with --from-file.")
    p.add_argument("--json", action="store_true",
                   help="one JSON object per line (the documented watch schema)")
    p.add_argument("--once", action="store_true", help="print one snapshot and exit")
    p.add_argument("--interval", type=seconds(3600), default=1.0, metavar="S",
                   help="seconds between snapshots (default 1)")
    p.add_argument("--window", choices=WINDOWS, default="1m",
                   help="window of the per-backend figures (default 1m)")
    p.add_argument("--from-file", metavar="FILE",
                   help="read this nginx access log instead of the cluster; with --once, "
                   "figures end at the last request in the file")
    p.add_argument("--log-format", metavar="STRING",
                   help="the log_format string the file was written with (default: detect "
                   f"among {', '.join(n for n, _, _ in BUILTIN_FORMATS)})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.from_file:
        return _run_file(args)
    if args.log_format:
        raise UsageError("--log-format only applies with --from-file (live mode reads each "
                         "proxy's format from nginx -T)")
    return _run_live(args)


def _emit(snapshot: Snapshot, args: argparse.Namespace) -> None:
    if args.json:
        print(json.dumps(snapshot.to_json(args.window), separators=(",", ":")), flush=True)
    else:
        print(_human(snapshot, args.window), flush=True)


def _human(s: Snapshot, window: str) -> str:
    clock = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(s.at))
    lines = [f"{s.cluster}  {clock} UTC  window {window}  requests {s.requests}  "
             f"malformed {s.malformed}  {s.ha.detail}"]
    for b in s.backends:
        w = b.windows[window]
        p99 = f"{w.p99_ms:.0f}ms" if w.p99_ms is not None else "-"
        lines.append(f"  {b.label:<24} {b.state:<9} {w.rate:8.1f}/s share {w.share:6.1%} "
                     f"5xx {w.status.get('5xx', 0):<6} hidden {w.hidden_errors:<5} p99 {p99}")
    lines.extend(f"  drift: {d}" for d in s.drift)
    return "\n".join(lines)


# -- file mode --------------------------------------------------------------------------------


class FileIngest:
    """Feeds a log file's bytes through the parser into the reducer, line-aligned."""

    def __init__(self, path: Path, state: ClusterState, host: str,
                 parser: LineParser | None) -> None:
        self.path = path
        self.state = state
        self.host = host
        self.parser = parser
        self.pending = b""
        self.last_request_at: float | None = None

    def feed(self, data: bytes, *, final: bool = False) -> None:
        data = self.pending + data
        cut = len(data) if final else data.rfind(b"\n") + 1
        self.pending = data[cut:]
        if cut:
            self._parse(data[:cut])

    def _parse(self, block: bytes) -> None:
        if self.parser is None:
            self.parser = detect(block[:DETECT_BYTES].split(b"\n"))
            if self.parser is None:
                raise UsageError(
                    f"{self.path}: no known log format matches its first lines (tried "
                    f"{', '.join(n for n, _, _ in BUILTIN_FORMATS)}); give the proxy's "
                    "log_format with --log-format '...'")
        requests, bad, sample = self.parser.parse_chunk(block)
        if requests:
            last = requests[-1].timestamp
            if self.last_request_at is None or last > self.last_request_at:
                self.last_request_at = last
        self.state.apply(LogBatch(self.host, tuple(requests), bad, 0.0, sample))


def _open(path: Path) -> BinaryIO:
    try:
        return path.open("rb")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file (give --from-file the path of an nginx "
                         "access log)") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a directory, not an access log file") from None
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror or e} (check the path and its "
                         "permissions)") from None


def _read_all(f: BinaryIO, ingest: FileIngest) -> None:
    try:
        while chunk := f.read(CHUNK):
            ingest.feed(chunk)
    except OSError as e:
        raise UsageError(f"{ingest.path}: cannot read: {e.strerror or e}") from None


def _file_state(args: argparse.Namespace, host: str) -> ClusterState:
    if args.inventory:
        inv = inventory.load(inventory.resolve_path(args.inventory))
        return ClusterState(cluster=inv.name, proxies=(host,),
                            backend_names=backend_names_from(inv.backends),
                            upstreams=inv.upstreams)
    return ClusterState(cluster=host, proxies=(host,))


def _run_file(args: argparse.Namespace) -> int:
    path = Path(args.from_file)
    host = path.name
    parser = None
    if args.log_format:
        parser = compile_format(args.log_format, escape_json=looks_like_json(args.log_format),
                                name="--log-format")
    state = _file_state(args, host)
    ingest = FileIngest(path, state, host, parser)
    f = _open(path)
    try:
        state.apply(HostHealth(host, "connected", 0.0))
        _read_all(f, ingest)
        if args.once:
            ingest.feed(b"", final=True)
            now = ingest.last_request_at
            if now is None:
                now = os.fstat(f.fileno()).st_mtime
            _emit(state.snapshot(now), args)
            return 0
        return _follow(f, ingest, args)
    finally:
        f.close()


def _follow(f: BinaryIO, ingest: FileIngest, args: argparse.Namespace) -> int:
    """Keep reading like ``tail -F``: survive rotation and truncation, report each as a gap."""
    try:
        while True:
            _emit(ingest.state.snapshot(time.time()), args)
            _sleep(args.interval)
            _read_all(f, ingest)
            f = _reopen_if_rotated(f, ingest)
            _read_all(f, ingest)  # the new file, or the truncated one from its start
    finally:
        f.close()


def _reopen_if_rotated(f: BinaryIO, ingest: FileIngest) -> BinaryIO:
    try:
        st = os.stat(ingest.path)
    except OSError:
        return f  # between rename and create during rotation: look again next time
    now = time.time()
    if st.st_ino != os.fstat(f.fileno()).st_ino:
        _read_all(f, ingest)
        ingest.feed(b"", final=True)
        f.close()
        ingest.state.apply(LogGap(ingest.host, "log rotated; reading the new file", 0, now))
        return _open(ingest.path)
    if st.st_size < f.tell():
        ingest.pending = b""
        ingest.state.apply(LogGap(ingest.host, "log truncated; reading from its start",
                                  None, now))
        f.seek(0)
    return f


# -- live mode --------------------------------------------------------------------------------


def _run_live(args: argparse.Namespace) -> int:
    inv = inventory.load(inventory.resolve_path(args.inventory))
    try:
        # Imported late: file mode must work without the SSH stack.
        feed_class = importlib.import_module("collectors.runtime").ClusterFeed
    except (ImportError, AttributeError) as e:
        raise SwitchboardError(f"live mode is unavailable in this build ({e}); use "
                               "--from-file FILE to read a local access log") from None
    try:
        return asyncio.run(_live(feed_class, inv, args))
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130


READY_WITHIN = 15.0  # seconds --once waits for every proxy's first HA and config reading


async def _until_ready(feed: Any, inv: inventory.Inventory, within: float) -> None:
    proxies = {h.name for h in inv.proxies}
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        snap: Snapshot = feed.snapshot()
        connected = {p.name for p in snap.proxies if p.connection == "connected"}
        configured = any(b.config is not None for b in snap.backends)
        if connected >= proxies and configured and (snap.ha.active or len(proxies) < 2):
            return
        await asyncio.sleep(0.2)


async def _live(feed_class: Any, inv: inventory.Inventory, args: argparse.Namespace) -> int:
    async with feed_class(inv, accept_new_host_keys=bool(args.accept_new_host_keys)) as feed:
        if args.once:
            # One snapshot for a script: wait (bounded) until the proxies have said who holds
            # the VIP and what their upstreams are, so "no VIP" never means "not asked yet".
            await _until_ready(feed, inv, READY_WITHIN)
        while True:
            await asyncio.sleep(args.interval)
            _emit(feed.snapshot(), args)
            if args.once:
                return 0
