"""Splits nginx's $upstream_addr / $upstream_status / $upstream_response_time lists into Attempts.

nginx writes one value per upstream server it tried, separated by ``", "`` when it moved to the
next server of the same group, and by ``" : "`` when an internal redirect (``error_page``,
``X-Accel-Redirect``) sent the request to another group. The three variables always use the
same separators, so the lists are flattened and zipped position by position.

nginx fills the three lists from the same per-try records, so their lengths always agree.
Mismatched lengths mean a corrupted or hand-edited line: ``attempts`` returns None and the
parser counts the line as malformed. Padding was rejected because a padded ``None`` status
reads as "no response", which would invent failures and hidden errors. A variable that the
format does not log at all (passed as ``""``) gives None statuses or times without a check.

An address of ``-`` means no upstream was contacted at that position (a redirect that ended in
a static file, or a response served before proxying); it yields no attempt.
"""

from __future__ import annotations

from state.events import Attempt

_NO_ATTEMPTS: tuple[Attempt, ...] = ()


def split_list(value: str) -> list[str]:
    """The values of one $upstream_* variable in order, across both separators."""
    if ", " not in value and " : " not in value:
        return [value]
    return value.replace(" : ", ", ").split(", ")


def _status(text: str) -> int | None:
    # Not isdigit(): it accepts Unicode digits that int() then parses to surprising values.
    if 0 < len(text) <= 3 and text.isascii() and text.isdigit():
        return int(text)
    return None


def _seconds(text: str) -> float | None:
    if not text or text == "-":
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    # nan/inf would poison the latency sketches; nginx never writes them.
    return value if 0.0 <= value < 1e7 else None


def attempts(addr: str, status: str, response_time: str) -> tuple[Attempt, ...] | None:
    """The attempts one log line records; () when the request never reached an upstream,
    None when the lists disagree in length."""
    if not addr or addr == "-":
        return _NO_ATTEMPTS
    addrs = split_list(addr)
    if len(addrs) == 1 and len(split_list(status)) == 1 == len(split_list(response_time)):
        return (Attempt(addr, _status(status), _seconds(response_time)),)
    statuses = split_list(status) if status else [""] * len(addrs)
    times = split_list(response_time) if response_time else [""] * len(addrs)
    if len(statuses) != len(addrs) or len(times) != len(addrs):
        return None
    return tuple(Attempt(a, _status(s), _seconds(t))
                 for a, s, t in zip(addrs, statuses, times, strict=True) if a and a != "-")


def is_failure(attempt: Attempt) -> bool:
    """A try the client did not get an answer from: no response, or a 5xx."""
    return attempt.status is None or attempt.status >= 500


def hidden_failures(tries: tuple[Attempt, ...]) -> tuple[int, ...]:
    """Positions of failed attempts that a later attempt of the same request then served.

    nginx hides these from the client (it got the later answer), so they show up only here.
    """
    last_ok = -1
    for i in range(len(tries) - 1, -1, -1):
        if not is_failure(tries[i]):
            last_ok = i
            break
    if last_ok <= 0:
        return ()
    return tuple(i for i in range(last_ok) if is_failure(tries[i]))
