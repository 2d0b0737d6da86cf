"""The `switchboard` command line: global options, sub-commands, errors printed without traces."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from switchboard import __version__
from switchboard.errors import SwitchboardError

# Each module registers its sub-commands; the order is the order of `--help`.
COMMAND_MODULES = (
    "switchboard.commands.console",
    "switchboard.commands.watch",
    "switchboard.commands.actions",
    "switchboard.commands.audit",
    "switchboard.commands.lab",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="switchboard",
        description="Operator console for highly-available nginx clusters. "
        "With no command, opens the live dashboard.",
    )
    parser.add_argument("--version", action="version", version=f"switchboard {__version__}")
    parser.add_argument(
        "--inventory", "-i", metavar="FILE",
        help="cluster inventory (default: $SWITCHBOARD_INVENTORY, the lab's while it is up, "
        "then ~/.config/switchboard/inventory.toml)",
    )
    parser.add_argument(
        "--accept-new-host-keys", action="store_true",
        help="trust hosts whose key is not yet in known_hosts (a changed key is always refused)",
    )
    parser.add_argument("--read-only", action="store_true",
                        help="refuse every action; only watch")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        # No command: the dashboard, with the console's own options at their defaults.
        args = parser.parse_args([*(argv if argv is not None else sys.argv[1:]), "console"])
    try:
        code: int = args.run(args)
        return code
    except SwitchboardError as e:
        print(f"switchboard: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("switchboard: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
