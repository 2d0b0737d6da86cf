"""`switchboard audit`: prints the audit log, newest last."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from actions.audit import AuditLog


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("audit", help="print the audit log of every action, newest last")
    p.add_argument("--json", action="store_true", help="print the raw JSON lines")
    p.add_argument("--last", type=int, metavar="N", help="only the last N records")
    p.add_argument("--file", type=Path, help="audit log to read (default: the user's)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    log = AuditLog(args.file)
    records = list(log.read())
    if args.last:
        records = records[-args.last:]
    for rec in records:
        print(json.dumps(rec) if args.json else _line(rec))
    if not records and not args.json:
        print(f"(no audit records in {log.path})")
    return 0


def _line(rec: dict[str, Any]) -> str:
    if "unreadable" in rec:
        return f"?? unreadable line: {rec['unreadable'][:120]}"
    head = f"{rec.get('time', '?')} {rec.get('local_user', '?')}@{rec.get('local_host', '?')} " \
           f"[{rec.get('cluster', '?')}] {rec.get('kind', '?')} {rec.get('action', '?')}"
    if rec.get("kind") == "result":
        outcome = "ok" if rec.get("ok") else "FAILED"
        secs = rec.get("duration_s")
        dur = f" in {secs:.1f}s" if isinstance(secs, int | float) else ""
        return f"{head}: {outcome}{dur} — {rec.get('message', '')}"
    return f"{head}: {rec.get('title', '')}"
