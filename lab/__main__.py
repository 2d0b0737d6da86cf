"""`python -m lab up|down|status|traffic`: the lab commands alone, without the rest of the CLI."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from switchboard.commands import lab as lab_command
from switchboard.errors import SwitchboardError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lab")
    lab_command.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["lab", *(argv if argv is not None else sys.argv[1:])])
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
