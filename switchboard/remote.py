"""Builds every remote shell command from a list of arguments, quoted with shlex.

Who runs a command is decided where it is built: a command that needs root goes through
:func:`privileged` (``sudo -n --`` on a host whose inventory says ``sudo = true``), a read the
SSH user can do itself is sent as it is. :func:`refusal_hint` turns a host's refusal of either
kind into what the operator has to do about it.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

SUDO = ("sudo", "-n", "--")
# What sudo -n says when no rule lets the user run the command without a password.
_SUDO_REFUSALS = ("a password is required", "a terminal is required", "is not allowed to",
                  "is not in the sudoers file", "no tty present", "may not run sudo")
_DENIALS = ("Permission denied", "Operation not permitted")
SUDO_DOC = "Switchboard's README, section 'sudo'"


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
    """A command that needs root: ``sudo -n`` (never prompting) in front when the host's
    inventory asks for sudo."""
    return [*SUDO, *args] if sudo else list(args)


def through_sudo(argv: Sequence[str]) -> bool:
    return tuple(argv[:3]) == SUDO


def refusal_hint(argv: Sequence[str], stderr: str, *, user: str | None, sudo: bool) -> str:
    """What to do when a host refused ``argv`` (as sent, with or without ``sudo -n``); ""
    when ``stderr`` shows no refusal. ``sudo``: the host's inventory setting."""
    who = user or "the SSH user"
    if through_sudo(argv):
        if not any(s in stderr for s in _SUDO_REFUSALS):
            return ""
        name = argv[3] if len(argv) > 3 else "the command"
        return (f"sudo -n refused `{name}` to {who}, and Switchboard never lets sudo prompt: "
                f"give {who} on this host the sudoers rule in {SUDO_DOC}; `sudo -n -l` run "
                f"there as {who} lists what it may run")
    if not any(s in stderr for s in _DENIALS):
        return ""
    if sudo:
        return (f"Switchboard runs this read as {who} without sudo, since it needs no root: "
                f"give {who} access to it; the groups the SSH user needs are in {SUDO_DOC}")
    return (f"{who} may not do this, and the inventory does not say `sudo = true` for this "
            f"host: changes and `nginx -T` need root (set `sudo = true` and install the "
            f"sudoers rule), reads need the groups named in {SUDO_DOC}")
