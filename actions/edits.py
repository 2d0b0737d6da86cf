"""Rewrites one ``server`` directive in a config file's text, leaving every other byte alone.

The directive is located by its line (from ``nginx -T`` via crossplane) and its address; the
change is spliced into the original characters, so comments, tabs, odd spacing and
arguments spread over several lines survive. The result is parsed again with crossplane and
must differ from the original only in that directive's arguments, as expected; otherwise
:class:`EditError` is raised and nothing is returned.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from state.nginxconf import NginxConfigError
from state.upstreams import UpstreamServer
from switchboard.errors import SwitchboardError
from switchboard.nginx_parse import parse_files

_SPECIAL = "{};"


class EditError(SwitchboardError):
    """A line edit could not be made, or would change more than the one directive."""

    def __init__(self, path: str, line: int, message: str):
        self.path = path
        self.line = line
        super().__init__(f"{path}:{line}: {message}")


@dataclass(frozen=True)
class Change:
    """What to set on one server; ``None`` leaves that flag as it is."""

    weight: int | None = None
    down: bool | None = None
    backup: bool | None = None

    def describe(self) -> str:
        parts = []
        if self.weight is not None:
            parts.append(f"weight={self.weight}")
        for flag in ("down", "backup"):
            value = getattr(self, flag)
            if value is not None:
                parts.append(flag if value else f"no {flag}")
        return ", ".join(parts) or "no change"


@dataclass(frozen=True)
class _Token:
    value: str  # what nginx sees (quotes removed)
    start: int
    end: int
    line: int
    quoted: bool


def _lex(text: str) -> Iterator[_Token]:
    """Tokens with their character spans; comments are skipped as nginx skips them."""
    i, line, n = 0, 1, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            line += c == "\n"
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in _SPECIAL:
            yield _Token(c, i, i + 1, line, False)
            i += 1
        elif c in "\"'":
            start, start_line, chars = i, line, []
            i += 1
            while i < n and text[i] != c:
                if text[i] == "\\" and i + 1 < n:
                    chars.append(text[i + 1] if text[i + 1] == c else text[i : i + 2])
                    i += 2
                    continue
                line += text[i] == "\n"
                chars.append(text[i])
                i += 1
            i += 1
            yield _Token("".join(chars), start, i, start_line, True)
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in _SPECIAL:
                i += 2 if text[i] == "\\" else 1
            yield _Token(text[start:i], start, min(i, n), line, False)


def _statements(text: str) -> Iterator[list[_Token]]:
    """Every simple or block-opening statement: directive, args, terminator."""
    current: list[_Token] = []
    for tok in _lex(text):
        if not tok.quoted and tok.value in _SPECIAL:
            if current:
                yield [*current, tok]
            current = []
        else:
            current.append(tok)


def _find(text: str, server: UpstreamServer, path: str) -> list[_Token]:
    found = [
        st for st in _statements(text)
        if st[0].value == "server" and st[0].line == server.line and len(st) > 2
        and st[1].value == server.address
    ]
    if len(found) != 1:
        where = "no" if not found else "more than one"
        raise EditError(path, server.line, f"{where} `server {server.address}` directive on "
                        "this line; the file changed since it was read (re-read the config)")
    return found[0]


def _removal(text: str, tok: _Token) -> tuple[int, int]:
    """The span to delete with a token so the spacing around it stays tidy."""
    before = tok.start
    while before > 0 and text[before - 1] in " \t":
        before -= 1
    if before < tok.start and before > 0 and text[before - 1] != "\n":
        return before, tok.end
    after = tok.end
    while after < len(text) and text[after] in " \t":
        after += 1
    if after < len(text) and text[after] == "\n" and (before == 0 or text[before - 1] == "\n"):
        return before, after + 1  # the token was alone on its line: drop the line
    return tok.start, after


def expected_args(args: Sequence[str], change: Change) -> list[str]:
    """The server's arguments (address first) after ``change``, as crossplane will read them."""
    out = list(args)
    if change.weight is not None:
        idx = [i for i, a in enumerate(out) if a.startswith("weight=")]
        if idx:
            for i in idx:
                out[i] = f"weight={change.weight}"
        else:
            out.insert(1, f"weight={change.weight}")
    for flag in ("down", "backup"):
        value = getattr(change, flag)
        if value is True and flag not in out[1:]:
            out.append(flag)
        elif value is False:
            out = [out[0], *(a for a in out[1:] if a != flag)]
    return out


def edit_server(text: str, path: str, server: UpstreamServer, change: Change) -> str:
    """``text`` with only ``server``'s directive changed as ``change`` says; verified."""
    stmt = _find(text, server, path)
    args = stmt[1:-1]
    splices: list[tuple[int, int, str]] = []
    if change.weight is not None:
        weights = [t for t in args[1:] if t.value.startswith("weight=")]
        for t in weights:
            splices.append((t.start, t.end, f"weight={change.weight}"))
        if not weights:
            splices.append((args[0].end, args[0].end, f" weight={change.weight}"))
    for flag in ("down", "backup"):
        value = getattr(change, flag)
        present = [t for t in args[1:] if t.value == flag]
        if value is True and not present:
            splices.append((args[-1].end, args[-1].end, f" {flag}"))
        elif value is False:
            splices.extend((*_removal(text, t), "") for t in present)
    new = text
    # Right to left so earlier offsets stay valid; at one offset the splice listed first
    # must end up first in the text, so it is applied last.
    order = sorted(range(len(splices)), key=lambda i: (splices[i][0], splices[i][1], i),
                   reverse=True)
    for i in order:
        start, end, repl = splices[i]
        new = new[:start] + repl + new[end:]
    verify_edit(text, new, path, server, expected_args([t.value for t in args], change))
    return new


def verify_edit(old: str, new: str, path: str, server: UpstreamServer,
                expected: Sequence[str]) -> None:
    """Raise unless ``new`` parses to ``old``'s tree with only that server's args changed."""
    try:
        trees = parse_files({"old": old, "new": new})
    except NginxConfigError as exc:
        raise EditError(path, server.line, f"the edited file no longer parses: {exc}") from exc
    before, after = _strip(trees["old"]), _strip(trees["new"])
    target = _locate(trees["old"], server)
    if target is None:
        raise EditError(path, server.line, f"crossplane finds no `server {server.address}` here")
    _at(before, target)["args"] = list(expected)
    if before != after:
        raise EditError(path, server.line, "the edit would change more than this server's "
                        "arguments; not applying it (please report this file's layout)")


def _strip(stmts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The tree without line numbers: lines after a removed line legitimately move."""
    return [
        {"directive": s["directive"], "args": list(s["args"]),
         **({"block": _strip(s["block"])} if "block" in s else {})}
        for s in stmts
    ]


def _locate(stmts: list[dict[str, Any]], server: UpstreamServer) -> tuple[int, ...] | None:
    for i, s in enumerate(stmts):
        if (s["directive"] == "server" and s["line"] == server.line and s["args"]
                and s["args"][0] == server.address):
            return (i,)
        if "block" in s:
            inner = _locate(s["block"], server)
            if inner is not None:
                return (i, *inner)
    return None


def _at(stmts: list[dict[str, Any]], path: tuple[int, ...]) -> dict[str, Any]:
    node = stmts[path[0]]
    for i in path[1:]:
        node = node["block"][i]
    return node
