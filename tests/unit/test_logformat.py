"""Compiling log_format strings and parsing recorded access-log lines."""

from __future__ import annotations

import time
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from state.events import Attempt, Request
from state.logformat import BUILTIN_FORMATS, builtin_parsers, compile_format, detect

LOGS = Path(__file__).parent.parent / "data" / "logs"
LAB_FORMAT = BUILTIN_FORMATS[0][1]
A, B = "198.18.0.21:8001", "198.18.0.22:8001"


def _parse(name: str) -> tuple[list[Request], int, str | None]:
    data = (LOGS / name).read_bytes()
    parser = detect(data.split(b"\n"))
    assert parser is not None
    return parser.parse_lines(data.split(b"\n"))


def test_lab_log_counts_good_and_malformed_lines() -> None:
    requests, malformed, sample = _parse("upstreamlog.log")
    # garbage, non-UTF-8, truncated, mismatched upstream lists; the blank line is skipped
    assert (len(requests), malformed) == (14, 4)
    assert sample == "this is not an access log line"


def test_lab_log_fields() -> None:
    requests, _, _ = _parse("upstreamlog.log")
    by_uri = {r.uri: r for r in requests}
    first = requests[0]
    assert first == Request(1764039600.101, 200, 0.004, (Attempt(A, 200, 0.004),), "GET", "/")
    assert by_uri["/index.php?id=7"].attempts == (Attempt(A, 502, 0.001), Attempt(B, 200, 0.015))
    assert by_uri["/missing"].attempts == (Attempt(A, 404, 0.003), Attempt(B, 200, 0.005))
    assert by_uri["/favicon.ico"].attempts == ()
    assert by_uri["/status.php"].attempts[0].address == "unix:/run/php/php-fpm.sock"
    assert by_uri["/v6"].attempts[0].address == "[::1]:8001"
    assert by_uri["/slow.php"].attempts == (Attempt(B, None, 0.512),)
    assert by_uri["/search?q=\"hi\""].status == 200  # nginx's \x22 escaping undone
    assert by_uri["/api/login"].method == "POST"
    tls = [r for r in requests if r.status == 400]
    assert tls and tls[0].method == "" and tls[0].attempts == ()


def test_no_live_upstream_logs_the_group_name() -> None:
    requests, _, _ = _parse("upstreamlog.log")
    assert Attempt("web_servers", 502, 0.0) in [a for r in requests for a in r.attempts]


def test_detect_picks_each_builtin_format() -> None:
    for name in ("upstreamlog", "combined_upstream", "json_upstream"):
        parser = detect((LOGS / f"{name}.log").read_bytes().split(b"\n"))
        assert parser is not None and parser.name == name


def test_detect_returns_none_for_garbage() -> None:
    assert detect([b"hello", b"world"]) is None
    assert detect([]) is None


def test_combined_with_upstream_uses_time_local() -> None:
    requests, malformed, _ = _parse("combined_upstream.log")
    assert malformed == 0
    assert requests[0].timestamp == 1764039660.0
    assert requests[2].attempts == (Attempt(A, 502, 0.001), Attempt(B, 200, 0.005))
    assert requests[3].attempts == () and requests[3].request_time == 0.007


def test_json_format_with_iso_time_and_json_escapes() -> None:
    requests, malformed, _ = _parse("json_upstream.log")
    assert malformed == 0
    assert requests[0].timestamp == 1764039720.0
    assert requests[1].uri == '/q?x="y"'
    assert len(requests[1].attempts) == 2


def test_plain_combined_has_no_attempts() -> None:
    line = ('198.18.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326 '
            '"http://example.com/" "Mozilla/4.08"')
    parser = detect([line])
    assert parser is not None and parser.name == "combined"
    r = parser.parse_line(line)
    assert r is not None and r.attempts == () and r.timestamp == 971211336.0


def test_custom_format_with_unquoted_upstream_lists() -> None:
    p = compile_format("$msec $status $upstream_addr $upstream_status $upstream_response_time "
                       "$request_method $request_uri")
    r = p.parse_line(f"1764039600.500 200 {A}, {B} 502, 200 0.001, 0.002 GET /x?y=1")
    assert r is not None
    assert r.attempts == (Attempt(A, 502, 0.001), Attempt(B, 200, 0.002))
    assert (r.method, r.uri, r.timestamp) == ("GET", "/x?y=1", 1764039600.5)


def test_braced_variables_and_repeated_variables() -> None:
    p = compile_format("${status}|$msec|$status")
    r = p.parse_line("200|1.500|200")
    assert r is not None and r.status == 200 and r.timestamp == 1.5


def test_format_without_time_uses_now() -> None:
    p = compile_format('$status "$upstream_addr"')
    reqs, bad, _ = p.parse_lines([b'200 "a:1"'], now=42.0)
    assert reqs[0].timestamp == 42.0 and bad == 0


def test_crlf_line_endings() -> None:
    line = (LOGS / "upstreamlog.log").read_bytes().split(b"\n")[0] + b"\r"
    reqs, bad, _ = builtin_parsers()[0].parse_lines([line])
    assert (len(reqs), bad) == (1, 0)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=20))
def test_parser_never_raises_on_arbitrary_bytes(lines: list[bytes]) -> None:
    for parser in builtin_parsers():
        reqs, bad, _ = parser.parse_lines(lines)
        assert len(reqs) + bad <= len(lines) + sum(x.count(b"\n") for x in lines)
        reqs, bad, _ = parser.parse_chunk(b"\n".join(lines))


addresses = st.one_of(
    st.from_regex(r"198\.18\.0\.(2[1-9]):80(0[1-9])", fullmatch=True),
    st.just("unix:/run/php/php-fpm.sock"),
    st.from_regex(r"\[fd00::[1-9a-f]{1,4}\]:8001", fullmatch=True),
    st.sampled_from(["web_servers", "backend-pool"]),
)
statuses = st.one_of(st.none(), st.integers(100, 599))
seconds = st.one_of(st.none(), st.integers(0, 99_999).map(lambda ms: ms / 1000))
attempts_st = st.lists(st.builds(Attempt, addresses, statuses, seconds), max_size=4)
uris = st.from_regex(r"/[A-Za-z0-9._~/?=&%-]{0,40}", fullmatch=True)


def _render(r: Request) -> str:
    def field(values: list[str]) -> str:
        return ", ".join(values) if values else "-"
    ua = field([a.address for a in r.attempts])
    us = field(["-" if a.status is None else str(a.status) for a in r.attempts])
    urt = field(["-" if a.seconds is None else f"{a.seconds:.3f}" for a in r.attempts])
    local = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(r.timestamp))
    return (f'198.18.0.1 - - [{local}] "{r.method} {r.uri} HTTP/1.1" {r.status} 612 "-" '
            f'"curl/8.0" rt={r.request_time:.3f} ua="{ua}" us="{us}" urt="{urt}" '
            f"msec={r.timestamp:.3f}")


@settings(max_examples=200, deadline=None)
@given(st.builds(Request, st.integers(1_600_000_000_000, 1_900_000_000_000).map(lambda x: x / 1000),
                 st.integers(100, 599), st.integers(0, 99_999).map(lambda ms: ms / 1000),
                 attempts_st.map(tuple), st.sampled_from(["GET", "POST", "HEAD"]), uris))
def test_rendered_line_parses_back_to_its_fields(request: Request) -> None:
    parsed = compile_format(LAB_FORMAT).parse_line(_render(request))
    assert parsed == request


def test_absurd_numbers_are_malformed_not_infinite() -> None:
    line = (LOGS / "upstreamlog.log").read_text(errors="replace").split("\n")[0]
    huge = line.replace("msec=1764039600.101", "msec=" + "9" * 400 + ".1")
    reqs, bad, _ = builtin_parsers()[0].parse_lines([huge.encode()])
    assert (reqs, bad) == ([], 1)
