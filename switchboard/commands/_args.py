"""Argument types shared by the sub-commands' parsers."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def seconds(most: float) -> Callable[[str], float]:
    """An argparse ``type=`` for a duration in seconds: more than 0, at most ``most``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
        if not 0 < value <= most:
            raise argparse.ArgumentTypeError(f"must be between 0 and {most:g} seconds")
        return value

    return parse
