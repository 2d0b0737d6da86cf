"""Builds every remote shell command from a list of arguments, quoted with shlex."""

from __future__ import annotations

import shlex
from collections.abc import Sequence


def command(*args: str) -> str:
    """Join arguments into one shell command line, each argument quoted.

    >>> command("tail", "-F", "/var/log/nginx/access log")
    "tail -F '/var/log/nginx/access log'"
    """
    return " ".join(shlex.quote(str(a)) for a in args)


def pipeline(*commands: Sequence[str]) -> str:
    """Join several argument lists with ``|``; each list is quoted by :func:`command`."""
    return " | ".join(command(*c) for c in commands)


def privileged(args: Sequence[str], *, sudo: bool) -> list[str]:
    """Prefix ``sudo -n`` (never prompting) when the host's inventory asks for sudo."""
    return ["sudo", "-n", "--", *args] if sudo else list(args)
