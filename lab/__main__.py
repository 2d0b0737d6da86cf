"""`python -m lab up|down|status|traffic`: the same as `switchboard lab ...`."""

from __future__ import annotations

import sys

from switchboard.cli import main

if __name__ == "__main__":
    sys.exit(main(["lab", *sys.argv[1:]]))
