"""The `console` sub-command: opens the live dashboard on the inventory's cluster."""

from __future__ import annotations

import argparse
from typing import Any

from rich.color import Color, ColorParseError

import themes
from state.snapshot import WINDOWS
from switchboard import inventory
from switchboard.errors import InventoryError


def register(subparsers: Any) -> None:
    p: argparse.ArgumentParser = subparsers.add_parser(
        "console",
        help="open the live dashboard (the default command)",
        description="The live dashboard: backends, proxies, HA and events, refreshed a few "
        "times a second. Press ? inside for the keys.",
    )
    p.add_argument("--theme", choices=themes.NAMES, default=themes.DEFAULT,
                   help=f"colour theme (default: {themes.DEFAULT})")
    p.add_argument("--window", choices=WINDOWS, default="1m",
                   help="the window the figures start on (default: 1m; keys 1-4 or t change it)")
    p.add_argument("--demo", action="store_true",
                   help="show synthetic data instead of a cluster (no inventory, no SSH)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from console.app import SwitchboardApp

    if args.demo:
        from console.demo import DemoFeed

        app = SwitchboardApp(DemoFeed(), read_only=args.read_only, theme=args.theme,
                             window=args.window)
        app.run()
        return app.return_code or 0

    inv = inventory.load(inventory.resolve_path(args.inventory))
    _check_accent(inv)
    # Imported here so that `switchboard --help` and the other commands do not pay for SSH.
    from actions.audit import AuditLog
    from actions.dispatcher import ClusterActions
    from collectors.runtime import ClusterFeed

    feed = ClusterFeed(inv, accept_new_host_keys=args.accept_new_host_keys)
    # Read-only mode gives the app no dispatcher at all: nothing in it can reach a host.
    dispatcher = None if args.read_only else ClusterActions(feed, inv, AuditLog())
    app = SwitchboardApp(
        feed,
        dispatcher=dispatcher,
        read_only=args.read_only,
        theme=args.theme,
        window=args.window,
        accent=inv.accent,
        protected=inv.protected,
    )
    app.run()
    return app.return_code or 0


def _check_accent(inv: inventory.Inventory) -> None:
    """A bad colour would only fail when the header is drawn; say so before starting."""
    if inv.accent is None:
        return
    try:
        Color.parse(inv.accent)
    except ColorParseError:
        raise InventoryError(
            str(inv.path), f"{inv.accent!r} is not a colour (use a name such as 'red' or "
            "'#rrggbb')", key="cluster.accent") from None
