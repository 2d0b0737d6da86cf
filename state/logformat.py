"""Compiles an nginx ``log_format`` into one regex and parses access-log lines into Requests.

Each ``$variable`` becomes a regex piece: known numeric or time variables get tight patterns
(which also lets auto-detection tell similar formats apart), a variable inside double quotes
matches up to the closing quote (nginx escapes ``"`` as ``\\x22``, or ``\\"`` with
``escape=json``), and any other variable matches up to the next literal character. Only the
variables a Request needs are captured. Lines that do not match, including truncated and
non-UTF-8 lines, are counted as malformed; nothing here raises on input data.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime

from state.events import Attempt, Request
from state.upstream_fields import attempts as split_attempts

_VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")

# Bounded digit counts keep every captured number finite (a float of 400 digits is inf).
_NUMBER = r"\d{1,9}(?:\.\d{1,6})?"
_TIGHT: dict[str, str] = {
    "status": r"\d{3}",
    "body_bytes_sent": r"\d+",
    "bytes_sent": r"\d+",
    "request_length": r"\d+",
    "connection": r"\d+",
    "connection_requests": r"\d+",
    "pid": r"\d+",
    "request_time": rf"{_NUMBER}|-",
    "msec": r"\d{1,12}\.\d{1,6}",
    "time_local": r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}",
    "time_iso8601": r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:[+-]\d{2}:\d{2}|Z)",
}
# Unquoted $upstream_* lists contain spaces inside their separators.
_UNQUOTED_LIST = r"[^\s,]+(?:(?:, | : )[^\s,]+)*"
_LISTS = frozenset({"upstream_addr", "upstream_status", "upstream_response_time"})
_CAPTURED = (
    "status", "request_time", "msec", "time_local", "time_iso8601", "request",
    "request_method", "request_uri", "uri", "upstream_addr", "upstream_status",
    "upstream_response_time",
)

# Names and formats tried, in order, when the proxy's own format is not known.
BUILTIN_FORMATS: tuple[tuple[str, str, bool], ...] = (
    ("upstreamlog",
     '$remote_addr - $remote_user [$time_local] "$request" $status '
     '$body_bytes_sent "$http_referer" "$http_user_agent" '
     'rt=$request_time ua="$upstream_addr" us="$upstream_status" '
     'urt="$upstream_response_time" msec=$msec', False),
    ("combined_upstream",
     '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
     '"$http_referer" "$http_user_agent" '
     '"$upstream_addr" "$upstream_status" "$upstream_response_time" $request_time', False),
    ("upstream_time",
     '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
     '"$http_referer" "$http_user_agent" rt=$request_time uct="$upstream_connect_time" '
     'uht="$upstream_header_time" urt="$upstream_response_time"', False),
    ("json_upstream",
     '{"time":"$time_iso8601","remote_addr":"$remote_addr","request":"$request",'
     '"status":$status,"body_bytes_sent":$body_bytes_sent,"request_time":$request_time,'
     '"upstream_addr":"$upstream_addr","upstream_status":"$upstream_status",'
     '"upstream_response_time":"$upstream_response_time",'
     '"http_referer":"$http_referer","http_user_agent":"$http_user_agent"}', True),
    ("main",
     '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
     '"$http_referer" "$http_user_agent" "$http_x_forwarded_for"', False),
    ("combined",
     '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
     '"$http_referer" "$http_user_agent"', False),
)

_ESCAPED_BYTE = re.compile(r"\\x([0-9A-Fa-f]{2})")
_SAMPLE_CHARS = 200
_ATTEMPT_CACHE_LIMIT = 50_000

ParseResult = tuple[list[Request], int, str | None]


def _compile(fmt: str, escape_json: bool) -> tuple[str, dict[str, int]]:
    """The regex source for a format, and the group number of each captured variable."""
    pieces: list[str] = []
    groups: dict[str, int] = {}
    quoted = False
    pos = 0
    matches = list(_VARIABLE.finditer(fmt))
    for n, m in enumerate(matches):
        literal = fmt[pos:m.start()]
        pieces.append(re.escape(literal))
        quoted ^= literal.count('"') % 2 == 1
        name = m.group(1) or m.group(2)
        end = matches[n + 1].start() if n + 1 < len(matches) else len(fmt)
        following = fmt[m.end():end]
        if name in _TIGHT:
            body = _TIGHT[name]
        elif quoted:
            body = r'(?:[^"\\]|\\.)*' if escape_json else r'[^"]*'
        elif name in _LISTS:
            body = _UNQUOTED_LIST
        elif following:
            body = f"[^{re.escape(following[0])}]*"
        else:
            body = ".*?" if n + 1 < len(matches) else ".*"
        if name in _CAPTURED and name not in groups:
            groups[name] = len(groups) + 1
            pieces.append(f"({body})")
        else:
            pieces.append(f"(?:{body})")
        pos = m.end()
    tail = fmt[pos:]
    pieces.append(re.escape(tail))
    return "".join(pieces) + r"\r?", groups


def _unescape(value: str, escape_json: bool) -> str:
    """Undo nginx's escaping of one captured value (only called when it holds a backslash)."""
    if escape_json:
        try:
            out = json.loads(f'"{value}"')
        except ValueError:
            return value
        return out if isinstance(out, str) else value
    raw = _ESCAPED_BYTE.sub(lambda m: chr(int(m.group(1), 16)), value)
    return raw.encode("latin-1", "replace").decode("utf-8", "replace")


class LineParser:
    """A compiled log_format: turns lines into Requests, counting the ones that do not fit."""

    def __init__(self, fmt: str, *, escape_json: bool = False, name: str = "") -> None:
        self.name = name
        self.format = fmt
        self.escape_json = escape_json
        source, groups = _compile(fmt, escape_json)
        # ASCII: \d must not match other scripts' digits (nginx writes only 0-9)
        self.pattern = re.compile(source, re.DOTALL | re.ASCII)
        self.groups = groups
        self.has_time = any(k in groups for k in ("msec", "time_local", "time_iso8601"))
        self.has_upstream = "upstream_addr" in groups
        self._match = self.pattern.fullmatch
        self._attempt_cache: dict[str, tuple[Attempt, ...]] = {}
        self._last_time_text = ""
        self._last_time = 0.0

    def __repr__(self) -> str:
        return f"LineParser(name={self.name!r}, escape_json={self.escape_json})"

    def _time(self, text: str, iso: bool) -> float | None:
        # Consecutive lines nearly always share the second, so one remembered value suffices.
        if text == self._last_time_text:
            return self._last_time
        try:
            if iso:
                value = datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
            else:
                value = datetime.strptime(text, "%d/%b/%Y:%H:%M:%S %z").timestamp()
        except ValueError:
            return None
        self._last_time_text = text
        self._last_time = value
        return value

    def _attempts(self, key: str, addr: str, status: str, rtime: str
                  ) -> tuple[Attempt, ...] | None:
        """Attempts for one line's upstream fields, remembered: few distinct values repeat."""
        if self.escape_json and "\\" in addr:
            addr = _unescape(addr, True)
        tries = split_attempts(addr, status, rtime)
        if tries is None:
            return None
        cache = self._attempt_cache
        if len(cache) >= _ATTEMPT_CACHE_LIMIT:
            cache.clear()
        cache[key] = tries
        return tries

    def parse_line(self, line: str, now: float = 0.0) -> Request | None:
        """One line without its newline; None when it does not fit the format."""
        reqs, _, _ = self.parse_text_lines((line,), now)
        return reqs[0] if reqs else None

    def parse_text_lines(self, lines: Iterable[str], now: float = 0.0) -> ParseResult:
        """Parse decoded lines; blank lines are skipped, not counted."""
        # The hot loop: group positions are bound to locals once (0 means "not logged").
        g = self.groups
        i_msec, i_local, i_iso = g.get("msec", 0), g.get("time_local", 0), g.get("time_iso8601", 0)
        i_status, i_rt, i_req = g.get("status", 0), g.get("request_time", 0), g.get("request", 0)
        i_method = g.get("request_method", 0)
        i_uri = g.get("request_uri", 0) or g.get("uri", 0)
        i_ua, i_us = g.get("upstream_addr", 0), g.get("upstream_status", 0)
        i_urt = g.get("upstream_response_time", 0)
        match = self._match
        cache = self._attempt_cache
        tries_of = self._attempts
        parse_time = self._time
        escape_json = self.escape_json
        out: list[Request] = []
        append = out.append
        bad = 0
        sample: str | None = None
        for line in lines:
            if not line:
                continue
            m = match(line)
            if m is not None:
                f = m.groups("")
                timestamp: float | None
                if i_msec:
                    timestamp = float(f[i_msec - 1])
                elif i_local:
                    timestamp = parse_time(f[i_local - 1], False)
                elif i_iso:
                    timestamp = parse_time(f[i_iso - 1], True)
                else:
                    timestamp = now
                if timestamp is not None:
                    rt = f[i_rt - 1] if i_rt else "-"
                    if i_ua:
                        # A string key: unlike a tuple it is not tracked by the cyclic GC.
                        ua, us = f[i_ua - 1], f[i_us - 1] if i_us else ""
                        urt = f[i_urt - 1] if i_urt else ""
                        key = f"{ua}\n{us}\n{urt}"
                        tries = cache.get(key)
                        if tries is None:
                            tries = tries_of(key, ua, us, urt)
                            if tries is None:
                                bad += 1
                                if sample is None:
                                    sample = line[:_SAMPLE_CHARS]
                                continue
                    else:
                        tries = ()
                    method = uri = ""
                    if i_req:
                        req = f[i_req - 1]
                        sp = req.find(" ")
                        if sp > 0:
                            end = req.find(" ", sp + 1)
                            method = req[:sp]
                            uri = req[sp + 1:] if end < 0 else req[sp + 1:end]
                    if i_method:
                        method = f[i_method - 1]
                    if i_uri:
                        uri = f[i_uri - 1]
                    if "\\" in uri:
                        uri = _unescape(uri, escape_json)
                    append(Request(timestamp, int(f[i_status - 1]) if i_status else 0,
                                   None if rt == "-" else float(rt), tries, method, uri))
                    continue
            bad += 1
            if sample is None:
                sample = line[:_SAMPLE_CHARS]
        return out, bad, sample

    def parse_lines(self, lines: list[bytes], now: float = 0.0) -> ParseResult:
        """(requests, malformed count, one malformed line) for raw lines without newlines.

        ``now`` stamps requests only when the format logs no time at all.
        """
        try:
            # One decode for the whole batch; the per-line path is only for broken batches.
            text = b"\n".join(lines).decode("utf-8")
        except UnicodeDecodeError:
            return self._parse_mixed(lines, now)
        return self.parse_text_lines(text.split("\n"), now)

    def parse_chunk(self, data: bytes, now: float = 0.0) -> ParseResult:
        """Like parse_lines for a block of complete newline-terminated lines."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return self._parse_mixed(data.split(b"\n"), now)
        return self.parse_text_lines(text.split("\n"), now)

    def _parse_mixed(self, lines: Sequence[bytes], now: float) -> ParseResult:
        out: list[Request] = []
        bad = 0
        sample: str | None = None
        for raw in lines:
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                bad += 1
                if sample is None:
                    sample = raw[:_SAMPLE_CHARS].decode("utf-8", "backslashreplace")
                continue
            reqs, n, s = self.parse_text_lines((line,), now)
            out.extend(reqs)
            bad += n
            if sample is None:
                sample = s
        return out, bad, sample


def compile_format(fmt: str, *, escape_json: bool = False, name: str = "") -> LineParser:
    """A parser for one log_format string, as ``nginx -T`` shows it (quotes joined)."""
    return LineParser(fmt, escape_json=escape_json, name=name)


def builtin_parsers() -> tuple[LineParser, ...]:
    return tuple(compile_format(f, escape_json=j, name=n) for n, f, j in BUILTIN_FORMATS)


def looks_like_json(fmt: str) -> bool:
    """Guess ``escape=json`` for a format given on the command line without that flag."""
    return fmt.lstrip().startswith("{")


def detect(lines: Iterable[bytes | str],
           candidates: Sequence[LineParser] | None = None,
           sample_size: int = 20) -> LineParser | None:
    """The first candidate that fits most of the first non-blank lines, else the best fit."""
    sample: list[str] = []
    for raw in lines:
        line = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
        line = line.rstrip("\r\n")
        if line:
            sample.append(line)
        if len(sample) >= sample_size:
            break
    if not sample:
        return None
    best: LineParser | None = None
    best_hits = 0
    for parser in candidates if candidates is not None else builtin_parsers():
        hits = sum(1 for line in sample if parser.parse_line(line) is not None)
        if hits * 2 > len(sample):
            return parser
        if hits > best_hits:
            best, best_hits = parser, hits
    return best
