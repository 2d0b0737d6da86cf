"""Turns the files of ``nginx -T`` and crossplane's parse of them into a ProxyConfig (pure).

``nginx -T`` prints every file nginx read, each after a ``# configuration file PATH:`` line
and followed by one extra newline, so the sections give back each file's exact text and
crossplane's line numbers are the real ones. Each file is parsed alone (``single=True``) and
the ``include`` directives are followed here, against the printed files, so that the context
of every directive (``http``, ``server``...) is known without touching the host's disk.

crossplane reads only files, so running it is left to :mod:`switchboard.nginx_parse`; this
module takes its payloads as data.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from collections.abc import Collection, Iterator, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any

from state.upstreams import (
    Method,
    ProxyConfig,
    Upstream,
    UpstreamServer,
    join_host_port,
)
from switchboard.errors import SwitchboardError

Stmt = dict[str, Any]  # one crossplane statement: directive, line, args, block
Payload = Mapping[str, Any]  # what crossplane.parse returns for one file

COMBINED = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent"'
)
METHODS: frozenset[str] = frozenset({"ip_hash", "hash", "least_conn", "random"})
_HEADER = re.compile(r"^# configuration file (.+):$", re.MULTILINE)
_UNESCAPE = re.compile(r"\\(.)")
_NGINX_ESCAPES = {'"': '"', "'": "'", "\\": "\\", "t": "\t", "r": "\r", "n": "\n"}
_ACCESS_LOG_OPTIONS = ("buffer=", "gzip", "flush=", "if=")


class NginxConfigError(SwitchboardError):
    """``nginx -T`` output that cannot be read, naming the host, file and line."""

    def __init__(self, host: str, message: str, *, file: str | None = None,
                 line: int | None = None):
        self.host = host
        self.file = file
        self.line = line
        where = host if file is None else f"{host}:{file}" + (f":{line}" if line else "")
        super().__init__(f"{where}: {message}")


def split_dump(text: str, host: str = "") -> dict[str, str]:
    """The files of an ``nginx -T`` dump, path -> exact text, in the order nginx read them.

    Lines before the first section must be nginx's own ``nginx: ...`` messages (stderr
    merged into stdout); anything else means this is not ``nginx -T`` output.
    """
    headers = list(_HEADER.finditer(text))
    if not headers:
        raise NginxConfigError(host, "not `nginx -T` output: no '# configuration file' line; "
                               "run `nginx -T` as a user that can read the configuration")
    for junk in text[: headers[0].start()].splitlines():
        if junk.strip() and not junk.startswith("nginx: "):
            raise NginxConfigError(host, f"not `nginx -T` output: unexpected line {junk!r} "
                                   "before the first '# configuration file' line")
    files: dict[str, str] = {}
    for i, header in enumerate(headers):
        end = headers[i + 1].start() if i + 1 < len(headers) else len(text)
        body = text[header.end() + 1 : end]
        # nginx writes a newline after every file; what precedes it is the file itself.
        files.setdefault(header.group(1), body[:-1] if body.endswith("\n") else body)
    return files


def statements(payloads: Mapping[str, Payload], host: str = "") -> dict[str, list[Stmt]]:
    """Each file's statements from crossplane's payload for that file parsed alone.

    ``payloads`` maps each real path to the payload of ``crossplane.parse(copy, single=True)``
    on a copy of that file; the copy's name is taken out of crossplane's error messages.
    """
    parsed: dict[str, list[Stmt]] = {}
    for path, payload in payloads.items():
        for err in payload["errors"]:
            message = str(err["error"]).replace(f" in {err.get('file', '')}", "")
            message = re.sub(r":\d+$", "", message)
            raise NginxConfigError(host, message, file=path, line=err.get("line"))
        parsed[path] = _drop_comments(payload["config"][0]["parsed"])
    return parsed


def _drop_comments(stmts: list[Stmt]) -> list[Stmt]:
    """crossplane reports comments found between arguments even with ``comments=False``."""
    return [{**stmt, "block": _drop_comments(stmt["block"])} if "block" in stmt else stmt
            for stmt in stmts if stmt["directive"] != "#"]


def proxy_config(host: str, files: Mapping[str, str], parsed: Mapping[str, list[Stmt]], *,
                 hosts: Mapping[str, Sequence[str]] | None = None) -> ProxyConfig:
    """One proxy's configuration from its ``nginx -T`` files (:func:`split_dump`, the first
    is the main file) and their statements (:func:`statements`).

    ``hosts`` maps a host name written in a ``server`` line to the addresses it resolves to,
    so that ``resolved`` can hold the ``ip:port`` forms nginx logs; IP literals and unix
    sockets need no mapping.
    """
    walker = _Walker(host, files, parsed, hosts or {})
    main = next(iter(files))
    walker.walk(main, walker.parsed[main], ())
    log_formats = {"combined": (COMBINED, False), **walker.log_formats}
    return ProxyConfig(host=host, upstreams=tuple(walker.upstreams), log_formats=log_formats,
                       access_logs=walker.access_logs, files=dict(files),
                       includes=tuple(walker.includes), pid_file=walker.pid_file)


def nginx_unescape(word: str) -> str:
    """Apply the backslash escapes nginx applies to every word (crossplane keeps them)."""
    return _UNESCAPE.sub(lambda m: _NGINX_ESCAPES.get(m.group(1), m.group(0)), word)


def glob_matches(pattern: str, path: str) -> bool:
    """Whether nginx's ``include PATTERN`` (glob(3), no GLOB_PERIOD) would open ``path``."""
    pat_parts, path_parts = pattern.split("/"), path.split("/")
    if len(pat_parts) != len(path_parts):
        return False
    for pat, part in zip(pat_parts, path_parts, strict=True):
        if part.startswith(".") and not pat.startswith(".") and pat != part:
            return False
        if not fnmatchcase(part, pat):
            return False
    return True


def resolved_forms(address: str, hosts: Mapping[str, Sequence[str]] | None = None
                   ) -> tuple[str, ...]:
    """The forms nginx writes to ``$upstream_addr`` for a ``server`` address."""
    if address.startswith("unix:"):
        return (address,)
    host, port = split_host_port(address)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ips = [ipaddress.ip_address(a) for a in (hosts or {}).get(host, ())]
        return tuple(join_host_port(str(a), port) for a in ips)
    return (join_host_port(str(ip), port),)


def split_host_port(address: str) -> tuple[str, int]:
    """``"[::1]:8001"`` -> ``("::1", 8001)``; the port defaults to 80 as in nginx."""
    if address.startswith("["):
        host, _, rest = address[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else 80
    host, sep, port = address.rpartition(":")
    if sep and port.isdigit() and ":" not in host:
        return host, int(port)
    return address, 80


class _Walker:
    """Follows includes from the main file, collecting what a ProxyConfig needs."""

    def __init__(self, host: str, files: Mapping[str, str], parsed: Mapping[str, list[Stmt]],
                 hosts: Mapping[str, Sequence[str]]):
        self.host = host
        self.files = files
        self.parsed = parsed
        self.hosts = hosts
        self.prefix = posixpath.dirname(next(iter(files)))
        self.upstreams: list[Upstream] = []
        self.log_formats: dict[str, tuple[str, bool]] = {}
        self.access_logs: dict[str, str] = {}
        self.includes: list[str] = []
        self.pid_file: str | None = None
        self._stack: list[str] = []
        self._log_depth: dict[str, int] = {}

    def error(self, message: str, file: str, line: int | None) -> NginxConfigError:
        return NginxConfigError(self.host, message, file=file, line=line)

    def walk(self, file: str, stmts: list[Stmt], ctx: tuple[str, ...]) -> None:
        for stmt in stmts:
            name, args, line = stmt["directive"], list(stmt["args"]), stmt["line"]
            if name == "include" and args:
                self.include(file, args[0], line, ctx)
            elif name == "pid" and ctx == () and args:
                self.pid_file = args[0]
            elif name == "upstream" and ctx == ("http",) and "block" in stmt:
                self.upstreams.append(self.upstream(file, stmt))
            elif name == "log_format" and ctx[:1] == ("http",) and len(args) >= 2:
                self.log_format(args)
            elif name == "access_log" and ctx[:1] == ("http",) and args and args[0] != "off":
                fmt = args[1] if len(args) > 1 and not args[1].startswith(
                    _ACCESS_LOG_OPTIONS) else "combined"
                # The deepest access_log for a path is the one proxied requests use; a
                # broader one (http-level default) only logs what no server overrides.
                if len(ctx) > self._log_depth.get(args[0], -1):
                    self._log_depth[args[0]] = len(ctx)
                    self.access_logs[args[0]] = fmt
            if "block" in stmt and name != "upstream":
                self.walk(file, stmt["block"], (*ctx, name))

    def include(self, file: str, pattern: str, line: int, ctx: tuple[str, ...]) -> None:
        full = pattern if pattern.startswith("/") else posixpath.join(self.prefix, pattern)
        self.includes.append(full)
        if any(c in full for c in "*?["):
            targets = sorted(p for p in self.files if glob_matches(full, p))
        elif full in self.files:
            targets = [full]
        else:
            raise self.error(f"includes {full}, which `nginx -T` did not print", file, line)
        for target in targets:
            if target in self._stack:
                raise self.error(f"include loop through {target}", file, line)
            self._stack.append(target)
            self.walk(target, self.parsed[target], ctx)
            self._stack.pop()

    def log_format(self, args: list[str]) -> None:
        name, rest = args[0], args[1:]
        escape_json = False
        if rest and rest[0].startswith("escape="):
            escape_json = rest[0] == "escape=json"
            rest = rest[1:]
        # nginx concatenates the pieces of a format with nothing between them.
        self.log_formats.setdefault(name, ("".join(nginx_unescape(a) for a in rest),
                                           escape_json))

    def upstream(self, file: str, stmt: Stmt) -> Upstream:
        method: Method = "round_robin"
        method_args: tuple[str, ...] = ()
        servers: list[UpstreamServer] = []
        directives: list[tuple[str, tuple[str, ...]]] = []
        for inner in self._flatten(file, stmt["block"]):
            ifile, sub = inner
            name, args = sub["directive"], tuple(sub["args"])
            if name == "server":
                servers.append(self.server(ifile, sub))
            elif name in METHODS:
                method, method_args = name, args
            else:
                directives.append((name, args))
        return Upstream(
            name=stmt["args"][0] if stmt["args"] else "", method=method, servers=tuple(servers),
            file=file, line=stmt["line"],
            hash_key=method_args[0] if method == "hash" and method_args else None,
            directives=tuple(directives), method_args=method_args)

    def _flatten(self, file: str, stmts: list[Stmt]) -> Iterator[tuple[str, Stmt]]:
        for stmt in stmts:
            if stmt["directive"] == "include" and stmt["args"]:
                pattern = stmt["args"][0]
                full = pattern if pattern.startswith("/") else posixpath.join(self.prefix,
                                                                              pattern)
                self.includes.append(full)
                for target in sorted(p for p in self.files if glob_matches(full, p)):
                    yield from self._flatten(target, self.parsed[target])
            else:
                yield file, stmt

    def server(self, file: str, stmt: Stmt) -> UpstreamServer:
        args: list[str] = list(stmt["args"])
        line: int = stmt["line"]
        if not args:
            raise self.error("`server` without an address", file, line)
        fields: dict[str, Any] = {}
        for arg in args[1:]:
            key, eq, value = arg.partition("=")
            if eq and key in ("weight", "max_fails"):
                if not value.isdigit():
                    raise self.error(f"{key}={value!r} is not a whole number", file, line)
                fields[key] = int(value)
            elif eq and key == "fail_timeout":
                fields[key] = value
            elif not eq and key in ("down", "backup"):
                fields[key] = True
        return UpstreamServer(address=args[0], args=tuple(args[1:]), file=file, line=line,
                              resolved=resolved_forms(args[0], self.hosts), **fields)


def upstream_drift(a: ProxyConfig, b: ProxyConfig, only: Collection[str] = ()) -> list[str]:
    """Human lines naming every difference between two proxies' upstream blocks
    (``only``: just the upstreams with these names)."""
    out: list[str] = []
    ups_a = {u.name: u for u in a.upstreams if not only or u.name in only}
    ups_b = {u.name: u for u in b.upstreams if not only or u.name in only}
    for name in [*ups_a, *(n for n in ups_b if n not in ups_a)]:
        ua, ub = ups_a.get(name), ups_b.get(name)
        if ua is None or ub is None:
            out.append(f"{name}: only on {a.host if ub is None else b.host}")
            continue
        if (ua.method, ua.method_args) != (ub.method, ub.method_args):
            out.append(f"{name}: balancing {_method(ua)} on {a.host}, {_method(ub)} on {b.host}")
        if ua.directives != ub.directives:
            out.append(f"{name}: other directives differ between {a.host} and {b.host}")
        sa = {s.address: s for s in ua.servers}
        sb = {s.address: s for s in ub.servers}
        for addr in [*sa, *(x for x in sb if x not in sa)]:
            xa, xb = sa.get(addr), sb.get(addr)
            if xa is None or xb is None:
                out.append(f"{name}: {addr} only on {a.host if xb is None else b.host}")
                continue
            for attr in ("weight", "max_fails", "fail_timeout", "down", "backup"):
                va, vb = getattr(xa, attr), getattr(xb, attr)
                if va != vb:
                    out.append(f"{name}: {addr} {attr} {_show(va)} on {a.host}, "
                               f"{_show(vb)} on {b.host}")
    return out


def _method(u: Upstream) -> str:
    return " ".join((u.method, *u.method_args))


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)
