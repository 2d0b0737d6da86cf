"""Headless actions: `weight`, `down`, `up`, `backup`, `drain`, `undrain`, `reload`, `failover`.

Each connects to the cluster like the console does, builds the plan from the live configs,
prints it, asks for confirmation, runs it and prints every step. ``--dry-run`` prints the
plan and changes nothing (allowed with ``--read-only``, since it only reads). Exit status:
0 done, 2 refused (read-only, no confirmation, lock held, file changed, pre-flight), 1 failed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from actions import intents
from actions.audit import AuditLog
from actions.confirm import confirm_word
from actions.dispatcher import ClusterActions
from actions.intents import Intent
from actions.plan import Plan
from state.snapshot import BackendView, Snapshot
from switchboard import inventory
from switchboard.commands._args import seconds
from switchboard.errors import RemoteError, UsageError
from switchboard.inventory import Inventory

READY_TIMEOUT = 20.0
REFUSED = 2


def open_feed(inv: Inventory, accept_new_host_keys: bool) -> AbstractAsyncContextManager[Any]:
    """The collectors' live feed (replaced in tests)."""
    from collectors.runtime import ClusterFeed

    feed: AbstractAsyncContextManager[Any] = ClusterFeed(
        inv, accept_new_host_keys=accept_new_host_keys)
    return feed


def register(sub: Any) -> None:
    def add(name: str, help_: str, make: Callable[[argparse.Namespace], Intent],
            backend: bool = True) -> argparse.ArgumentParser:
        p: argparse.ArgumentParser = sub.add_parser(name, help=help_, description=help_)
        if backend:
            p.add_argument("backend", help="inventory name (web1) or address as in the upstream")
        p.add_argument("--dry-run", action="store_true",
                       help="print the plan (diffs and every remote command) and change nothing")
        p.add_argument("--yes", "-y", action="store_true",
                       help="do not ask for confirmation (needed when stdin is not a terminal)")
        if backend:
            p.add_argument("--upstream", metavar="NAME",
                           help="only this upstream block (default: every one listing it)")
        p.set_defaults(run=run, make_intent=make)
        return p

    p = add("weight", "set a backend's weight on every proxy",
            lambda a: intents.SetWeight(a.backend, a.weight, a.upstream))
    p.add_argument("weight", type=_weight, help="the new weight (1-1000)")
    add("down", "mark a backend down (nginx sends it no new request)",
        lambda a: intents.MarkDown(a.backend, a.upstream))
    add("up", "mark a backend up again", lambda a: intents.MarkUp(a.backend, a.upstream))
    p = add("backup", "make a backend a backup server (or stop it being one with --off)",
            lambda a: intents.SetBackup(a.backend, not a.off, a.upstream))
    p.add_argument("--off", action="store_true", help="remove the backup flag")
    p = add("drain", "mark a backend down, optionally wait until no connection is left",
            lambda a: intents.Drain(a.backend, a.upstream))
    p.add_argument("--wait", action="store_true",
                   help="wait until the proxies hold no connection to it and the logs are quiet")
    p.add_argument("--timeout", type=seconds(86400), default=300.0, metavar="S",
                   help="with --wait: give up waiting after S seconds (default 300); the "
                   "backend stays down")
    add("undrain", "put a drained backend back into service",
        lambda a: intents.Undrain(a.backend, a.upstream))
    add("reload", "test and reload nginx on every proxy (standby first)",
        lambda a: intents.Reload(), backend=False)
    p = add("failover", "move the VIP to the standby proxy (or --to PROXY)",
            lambda a: intents.Failover(a.to), backend=False)
    p.add_argument("--to", metavar="PROXY", help="the proxy to move the VIP to")


def _weight(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def run(args: argparse.Namespace) -> int:
    intent: Intent = args.make_intent(args)
    if args.read_only and not args.dry_run:
        print(f"switchboard: refused: running with --read-only, so '{intent.describe()}' was "
              "not carried out (drop --read-only, or add --dry-run to see the plan)",
              file=sys.stderr)
        return REFUSED
    # A broken inventory is the first thing to fix, so it is reported before anything else.
    inv = inventory.load(inventory.resolve_path(args.inventory))
    if not args.dry_run and not args.yes and not sys.stdin.isatty():
        print(f"switchboard: refused: '{intent.describe()}' needs a confirmation and stdin is "
              "not a terminal; add --yes to run it without asking", file=sys.stderr)
        return REFUSED
    return asyncio.run(_main(args, inv, intent))


async def _main(args: argparse.Namespace, inv: Inventory, intent: Intent) -> int:
    async with open_feed(inv, args.accept_new_host_keys) as feed:
        actions = ClusterActions(feed, inv, AuditLog(),
                                 drain_timeout=getattr(args, "timeout", 300.0))
        await wait_ready(feed, actions, inv, need_ha=isinstance(intent, intents.Failover))
        plan = actions.plan(intent, wait_drained=getattr(args, "wait", True))
        _show(plan)
        if args.dry_run:
            print("(dry run: nothing was changed)")
            return 0
        snap = _snapshot(feed)
        if not args.yes and not await _confirm(plan, intent, snap, inv):
            print("switchboard: refused: not confirmed; nothing was changed", file=sys.stderr)
            return REFUSED
        result = await actions.apply(intent, plan, lambda line: print(f"  {line}", flush=True))
        print(result.message)
        if isinstance(intent, intents.Drain) and not getattr(args, "wait", True) and result.ok:
            print(f"{intent.backend} takes no new request; requests in flight finish on their "
                  "own (use `drain --wait` to wait for them)")
        for warning in result.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        return result.exit_code


async def wait_ready(feed: Any, actions: ClusterActions, inv: Inventory, *, need_ha: bool,
                     within: float = READY_TIMEOUT) -> None:
    """Read every proxy's config now, then wait until the HA view names an active proxy."""
    try:
        async with asyncio.timeout(within):
            await actions.read_configs()
    except TimeoutError:
        snap = _snapshot(feed)
        silent = [p.name for p in snap.proxies if p.connection != "connected"] if snap else []
        who = ", ".join(silent) or ", ".join(h.name for h in inv.proxies)
        raise RemoteError(who, f"no answer (nginx -T) within {within:g} s: "
                          f"{_why(snap, silent)}check SSH to the proxies") from None
    if len(inv.proxies) < 2:
        return
    deadline = time.monotonic() + within
    while True:
        snap = _snapshot(feed)
        if snap is not None and snap.ha.active is not None:
            return
        if time.monotonic() > deadline:
            if need_ha:
                detail = snap.ha.detail if snap is not None else "no snapshot"
                raise UsageError(f"no active proxy known after {within:g} s ({detail}); "
                                 "check Heartbeat and the SSH connections (`switchboard watch`)")
            return  # the plan changes the proxies in inventory order and says so
        await asyncio.sleep(0.2)


def _snapshot(feed: Any) -> Snapshot | None:
    try:
        snap = feed.snapshot()
    except Exception:  # a feed still starting has nothing to show
        return None
    return snap if isinstance(snap, Snapshot) else None


def _show(plan: Plan) -> None:
    if sys.stdout.isatty():
        from rich.console import Console

        Console().print(plan)
    else:
        print(plan.render(), end="")


async def _confirm(plan: Plan, intent: Intent, snap: Snapshot | None, inv: Inventory) -> bool:
    backend = _backend_view(intent, snap)
    word = confirm_word(intent, plan.risk, cluster=inv.name, protected=inv.protected,
                        backend=backend, backends=snap.backends if snap else ())
    if word is None:
        answer = await asyncio.to_thread(input, f"Apply '{plan.title}'? [y/N] ")
        return answer.strip().lower() in ("y", "yes")
    why = "this plan is risky" if plan.risk == "risky" else (
        f"cluster {inv.name} is protected" if inv.protected else "this action is risky")
    answer = await asyncio.to_thread(input, f"{why}: type {word} to apply '{plan.title}': ")
    return answer.strip() == word


def _backend_view(intent: Intent, snap: Snapshot | None) -> BackendView | None:
    name = getattr(intent, "backend", None)
    if snap is None or name is None:
        return None
    for b in snap.backends:
        if name in (b.name, b.address) or (b.config is not None and b.config.address == name):
            return b
    return None


def _why(snap: Snapshot | None, silent: list[str]) -> str:
    errors = [f"{p.name}: {p.connection_error}" for p in (snap.proxies if snap else ())
              if p.name in silent and p.connection_error]
    return "; ".join(errors) + "; " if errors else ""
