"""Exceptions a user can cause, each with a message that says what, where and how to fix it."""

from __future__ import annotations


class SwitchboardError(Exception):
    """Base of every error the CLI prints without a traceback.

    ``exit_code`` follows the convention of the CLI: 2 for usage or input errors,
    1 for failures while doing the work.
    """

    exit_code = 1


class UsageError(SwitchboardError):
    """The user asked for something malformed (bad arguments, bad input file)."""

    exit_code = 2


class InventoryError(UsageError):
    """The inventory file is missing, unreadable or invalid."""

    def __init__(self, path: str, message: str, *, line: int | None = None, key: str | None = None):
        self.path = path
        self.line = line
        self.key = key
        self.detail = message
        where = path if line is None else f"{path}:{line}"
        what = f"key '{key}': " if key else ""
        super().__init__(f"{where}: {what}{message}")


class RemoteError(SwitchboardError):
    """A command on a host failed or the host could not be reached."""

    def __init__(self, host: str, message: str):
        self.host = host
        super().__init__(f"{host}: {message}")
