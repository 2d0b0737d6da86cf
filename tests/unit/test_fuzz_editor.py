"""Fuzzing the config line editor: generated upstream blocks, random edits, a real `nginx -t`."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from actions.edits import EditError, edit_server, expected_args
from actions.intents import (
    BackendIntent,
    Drain,
    MarkDown,
    MarkUp,
    SetBackup,
    SetWeight,
    Undrain,
)
from actions.rules import MAX_WEIGHT, Refused, Target, change_for, check
from state.nginxconf import NginxConfigError
from state.upstreams import METHODS_WITHOUT_BACKUP, ProxyConfig, Upstream, UpstreamServer
from switchboard.errors import SwitchboardError
from switchboard.nginx_parse import parse_dump
from tests.unit.nginx_fixtures import MAIN, dump, nginx_t

# Real processes (sshd, nginx -t, a Textual pilot) or many examples: seconds, not ms.
pytestmark = pytest.mark.slow

PATH = "/etc/nginx/conf.d/upstream.conf"
# Separators nginx treats as whitespace between a directive's words, comments included.
SEPARATORS = (" ", "  ", "\t", "\n        ", " # a comment; with { braces }\n    ", "\r\n  ",
              " \t ")


@dataclass(frozen=True)
class ServerSpec:
    address: str
    flags: tuple[str, ...]
    seps: tuple[str, ...]  # one before each word after `server`
    quoted: tuple[bool, ...]  # per word (address first)


@dataclass(frozen=True)
class UpstreamSpec:
    name: str
    method: str
    servers: tuple[ServerSpec, ...]
    same_line: bool  # the first two servers share one line
    keepalive: bool


addresses = st.one_of(
    st.integers(1, 254).flatmap(lambda n: st.sampled_from(
        [f"127.0.0.{n}:{8000 + n}", f"127.0.0.{n}"])),
    st.integers(8001, 8999).map(lambda p: f"localhost:{p}"),
    st.from_regex(r"unix:/run/app/[a-z]{1,8}\.sock", fullmatch=True),
    st.integers(8001, 8999).map(lambda p: f"[::1]:{p}"),
)


@st.composite
def server_specs(draw: st.DrawFn, backup_ok: bool) -> ServerSpec:
    flags: list[str] = []
    if draw(st.booleans()):
        flags.append(f"weight={draw(st.integers(1, 100))}")
    if draw(st.booleans()):
        flags.append(f"max_fails={draw(st.integers(0, 9))}")
    if draw(st.booleans()):
        flags.append(f"fail_timeout={draw(st.integers(1, 90))}s")
    if draw(st.booleans()):
        flags.append(f"max_conns={draw(st.integers(0, 500))}")
    if draw(st.integers(0, 3)) == 0:
        flags.append("down")
    if backup_ok and draw(st.integers(0, 3)) == 0:
        flags.append("backup")
    flags = draw(st.permutations(flags))
    words = 1 + len(flags)
    seps = tuple(draw(st.lists(st.sampled_from(SEPARATORS), min_size=words, max_size=words)))
    quoted = tuple(draw(st.lists(st.integers(0, 5).map(lambda n: n == 0), min_size=words,
                                 max_size=words)))
    return ServerSpec(draw(addresses), tuple(flags), seps, quoted)


@st.composite
def upstream_specs(draw: st.DrawFn, name: str) -> UpstreamSpec:
    method = draw(st.sampled_from(["", "ip_hash", "hash $request_uri",
                                   "hash $remote_addr consistent", "least_conn", "random",
                                   "random two", "random two least_conn"]))
    backup_ok = method.split(" ")[0] not in METHODS_WITHOUT_BACKUP
    servers = draw(st.lists(server_specs(backup_ok), min_size=1, max_size=5))
    if all("backup" in s.flags for s in servers):  # nginx: "no servers in upstream"
        s = servers[0]
        servers[0] = ServerSpec(s.address, tuple(f for f in s.flags if f != "backup"),
                                s.seps[: len(s.flags)], s.quoted[: len(s.flags)])
    return UpstreamSpec(name, method, tuple(servers), draw(st.booleans()), draw(st.booleans()))


def _word(text: str, quoted: bool) -> str:
    return f'"{text}"' if quoted else text


def render_server(s: ServerSpec) -> str:
    words = [s.address, *s.flags]
    return "server" + "".join(sep + _word(w, q)
                              for sep, w, q in zip(s.seps, words, s.quoted, strict=True)) + ";"


def render(ups: UpstreamSpec) -> str:
    lines = [f"upstream {ups.name} {{", "    # servers of " + ups.name]
    if ups.method:
        lines.append(f"    {ups.method};")
    servers = [render_server(s) for s in ups.servers]
    if ups.same_line and len(servers) > 1:
        servers = [servers[0] + "  " + servers[1], *servers[2:]]
    lines += [f"    {s}" for s in servers]
    if ups.keepalive:
        lines.append("\tkeepalive 8;  # idle connections")
    lines.append("}")
    return "\n".join(lines) + "\n"


def parse(text: str) -> ProxyConfig:
    main = "events {}\nhttp {\n    include /etc/nginx/conf.d/*.conf;\n}\n"
    return parse_dump(dump({MAIN: main, PATH: text}), "lb1")


def servers_of(config: ProxyConfig) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(u.name, s.address, s.args) for u in config.upstreams for s in u.servers]


INTENTS = ("weight", "down", "up", "backup", "backup_off", "drain", "undrain")


def make_intent(kind: str, weight: int) -> BackendIntent:
    intents: dict[str, BackendIntent] = {
        "weight": SetWeight("x", weight), "down": MarkDown("x"), "up": MarkUp("x"),
        "backup": SetBackup("x", True), "backup_off": SetBackup("x", False),
        "drain": Drain("x"), "undrain": Undrain("x")}
    return intents[kind]


@dataclass
class Outcome:
    edited: int = 0
    refused: int = 0


def apply_edits(text: str, picks: list[tuple[int, str, int]], outcome: Outcome) -> str:
    """One edit per upstream (bottom-up), each checked by the rules then the editor."""
    config = parse(text)
    chosen: list[tuple[Upstream, UpstreamServer, BackendIntent]] = []
    for ups, (index, kind, weight) in zip(config.upstreams, picks, strict=False):
        chosen.append((ups, ups.servers[index % len(ups.servers)], make_intent(kind, weight)))
    new = text
    for ups, srv, intent in sorted(chosen, key=lambda c: c[1].line, reverse=True):
        try:
            check(intent, Target(ups, srv))
            before = new
            new = edit_server(new, PATH, srv, change_for(intent))
        except (Refused, EditError) as e:
            assert isinstance(e, SwitchboardError) and str(e).strip()
            assert "Traceback" not in str(e)
            if isinstance(e, EditError):
                assert str(e).startswith(f"{PATH}:{srv.line}: ")
            outcome.refused += 1
            continue
        outcome.edited += 1
        # Only this server's arguments changed, exactly as expected; nothing else moved.
        old_servers, new_servers = servers_of(parse(before)), servers_of(parse(new))
        want = expected_args([srv.address, *srv.args], change_for(intent))
        target = (ups.name, srv.address, srv.args)
        assert len(old_servers) == len(new_servers)
        changed = [(o, n) for o, n in zip(old_servers, new_servers, strict=True) if o != n]
        if changed:
            assert len(changed) == 1 and changed[0][0] == target
            assert [changed[0][1][1], *changed[0][1][2]] == want
        else:
            assert [srv.address, *srv.args] == want
        other_directives = [(u.name, u.method, u.method_args, u.directives)
                            for u in parse(before).upstreams]
        assert other_directives == [(u.name, u.method, u.method_args, u.directives)
                                    for u in parse(new).upstreams]
    return new


def nginx_accepts(text: str) -> None:
    with tempfile.TemporaryDirectory(prefix="sb-fuzz-nginx-") as tmp:
        done = nginx_t(text, Path(tmp))
        assert done.returncode == 0, f"nginx -t refused:\n{done.stderr}\n--- config ---\n{text}"


TOTALS = Outcome()

edits_st = st.lists(st.tuples(st.integers(0, 9), st.sampled_from(INTENTS),
                              st.one_of(st.integers(1, 20), st.sampled_from(
                                  [0, -1, MAX_WEIGHT, MAX_WEIGHT + 1]))),
                    min_size=4, max_size=4)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.tuples(*(upstream_specs(f"pool{i}") for i in range(4))), edits_st)
@example(  # a multi-line server with a comment between its words, quoted flags
    (UpstreamSpec("pool0", "", (
        ServerSpec("127.0.0.1:8001", ("weight=3", "down"), ("\n  ", " # c\n   ", "\t"),
                   (False, True, True)),
        ServerSpec("localhost:8002", ("max_conns=5",), (" ", " "), (False, False))),
        False, True),
     UpstreamSpec("pool1", "ip_hash", (ServerSpec("[::1]:8001", (), (" ",), (False,)),),
                  False, False),
     UpstreamSpec("pool2", "", (ServerSpec("unix:/run/app/a.sock", ("backup",), (" ", " "),
                                           (False, False)),
                                ServerSpec("127.0.0.2", (), ("\t",), (True,))), True, False),
     UpstreamSpec("pool3", "random two least_conn",
                  (ServerSpec("127.0.0.3:80", ("down",), (" ", "\r\n  "), (False, False)),
                   ServerSpec("127.0.0.4:80", (), (" ",), (False,))), False, True)),
    [(0, "up", 1), (0, "weight", 7), (0, "backup_off", 1), (0, "down", 1)],
)
def test_generated_upstreams_every_accepted_edit_passes_nginx_t(
        specs: tuple[UpstreamSpec, ...], picks: list[tuple[int, str, int]]) -> None:
    text = "".join(render(u) for u in specs)
    nginx_accepts(text)  # the generator writes only what nginx accepts
    new = apply_edits(text, picks, TOTALS)
    nginx_accepts(new)  # all of this example's edits, in one nginx -t run


def test_refusals_are_switchboard_errors_with_a_reason() -> None:
    text = "upstream a {\n    server 127.0.0.1:8001; server 127.0.0.1:8001 backup;\n}\n"
    config = parse(text)
    ups = config.upstreams[0]
    with pytest.raises(EditError, match=r"upstream.conf:2: more than one `server 127.0.0.1:8001`"):
        edit_server(text, PATH, ups.servers[0], change_for(MarkDown("x")))
    stale = UpstreamServer("127.0.0.9:8001", line=2)
    with pytest.raises(EditError, match=r"no `server 127\.0\.0\.9:8001` directive on this line"):
        edit_server(text, PATH, stale, change_for(MarkDown("x")))
    with pytest.raises(Refused, match="whole number of 1 or more"):
        check(SetWeight("x", 0), Target(ups, ups.servers[0]))
    with pytest.raises(Refused, match="at most 1000"):
        check(SetWeight("x", 1001), Target(ups, ups.servers[0]))
    # found by the fuzzer: a down server made a backup left only backups, which nginx refuses
    last = parse("upstream c { server 127.0.0.1 down; server 127.0.0.2 backup; }\n").upstreams[0]
    with pytest.raises(Refused, match="servers are all backups"):
        check(SetBackup("x", True), Target(last, last.servers[0]))
    one = parse("upstream b { ip_hash; server 127.0.0.1; server 127.0.0.2; }\n").upstreams[0]
    with pytest.raises(Refused, match="refuses `backup` with the `ip_hash`"):
        check(SetBackup("x", True), Target(one, one.servers[0]))


JUNK = ["{", "}", ";", '"', "'", "\\", "#", "\n", " ", "server", "down", "weight=2", "\\\n",
        "${", "\r", "\0", "é"]


@settings(max_examples=150, deadline=None)
@given(upstream_specs("pool"), st.lists(st.tuples(st.integers(0, 10_000), st.sampled_from(JUNK)),
                                        min_size=1, max_size=4),
       st.integers(0, 9), st.sampled_from(INTENTS))
def test_a_file_changed_since_it_was_read_is_edited_safely_or_refused(
        spec: UpstreamSpec, junk: list[tuple[int, str]], index: int, kind: str) -> None:
    """The servers come from the text as read; the text edited is a mangled copy of it."""
    text = render(spec)
    ups = parse(text).upstreams[0]
    srv = ups.servers[index % len(ups.servers)]
    mangled = text
    for at, piece in junk:
        at %= len(mangled) + 1
        mangled = mangled[:at] + piece + mangled[at:]
    change = change_for(make_intent(kind, 2))
    try:
        new = edit_server(mangled, PATH, srv, change)
    except EditError as e:
        assert str(e).startswith(f"{PATH}:{srv.line}: ") and "\n" not in str(e).strip()
        return
    # Accepted: crossplane read both alike; where the upstream model reads them too, only
    # this server's arguments changed.
    try:
        old_servers = servers_of(parse(mangled))
    except NginxConfigError:
        return
    new_servers = servers_of(parse(new))
    changed = [(o, n) for o, n in zip(old_servers, new_servers, strict=True) if o != n]
    assert len(old_servers) == len(new_servers) and len(changed) <= 1
