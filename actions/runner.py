"""What the executor needs from SSH: run one argv on one host, get exit status and output."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from switchboard.errors import RemoteError


@dataclass(frozen=True)
class Completed:
    """A command that ran to its end on a host (whatever its exit status)."""

    exit_status: int | None  # None: killed by a signal or the server sent no status
    stdout: str
    stderr: str
    hint: str = ""  # what to do when the host refused it (see switchboard.remote)

    @property
    def failure(self) -> str:
        """Why it failed, for a message: what it said on stderr, else its exit status, and
        what to do when the host refused it."""
        said = self.stderr.strip() or f"exit {self.exit_status}"
        return f"{said}; {self.hint}" if self.hint else said


class RemoteRunner(Protocol):
    """Runs commands on the cluster's hosts.

    ``run`` raises :class:`switchboard.errors.RemoteError` when the host cannot be reached,
    the connection drops or ``timeout`` passes: the command's outcome is then unknown.
    """

    async def run(self, host: str, argv: Sequence[str], *, input: str | None = None,
                  timeout: float = 30.0) -> Completed:  # noqa: ASYNC109 - a remote deadline
        ...


class _Session(Protocol):
    async def run(self, argv: Sequence[str], *, check: bool = ...,
                  timeout: float | None = ...,  # noqa: ASYNC109
                  input: str | None = ..., privileged: bool = ...) -> Any: ...


class _HasSessions(Protocol):
    def session(self, host_name: str) -> Any: ...


class FeedRunner:
    """A :class:`RemoteRunner` over the collectors' supervised SSH sessions (``feed.session``).

    Whatever the session raises (asyncssh errors, OSError, timeouts) becomes a RemoteError,
    so the executor knows the outcome of that command is unknown.
    """

    def __init__(self, feed: _HasSessions) -> None:
        self.feed = feed

    async def run(self, host: str, argv: Sequence[str], *, input: str | None = None,
                  timeout: float = 30.0) -> Completed:  # noqa: ASYNC109 - the session's own
        try:
            session: _Session = self.feed.session(host)
            # The executor already put `sudo -n --` in front of the commands that need root,
            # where the inventory asks for it; the session explains a refusal from what it sent.
            result = await session.run(list(argv), check=False, timeout=timeout, input=input,
                                       privileged=False)
        except RemoteError:
            raise
        except TimeoutError:
            raise RemoteError(host, f"no answer within {timeout:g} s") from None
        except Exception as e:  # any transport failure means "outcome unknown"
            raise RemoteError(host, f"{type(e).__name__}: {e}") from e
        status = getattr(result, "exit_status", None)
        return Completed(status if isinstance(status, int) else None,
                         _text(getattr(result, "stdout", "")), _text(getattr(result, "stderr", "")),
                         _text(getattr(result, "hint", "")))


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return "" if value is None else str(value)
