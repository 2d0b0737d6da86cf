"""Fuzzing the access-log parser and the tailer's framing: nothing raises, bad lines are counted."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from collectors.follow import FrameReader, Output, Position
from collectors.tailer import LogTailer
from state.events import Event, LogBatch, Request
from state.logformat import LineParser, builtin_parsers, compile_format, detect

LOGS = Path(__file__).parent.parent / "data" / "logs"
PARSERS = builtin_parsers()
RECORDED = ("upstreamlog.log", "combined_upstream.log", "json_upstream.log")


def _good_lines(name: str) -> tuple[LineParser, list[bytes]]:
    lines = (LOGS / name).read_bytes().split(b"\n")
    parser = detect(lines)
    assert parser is not None
    return parser, [ln for ln in lines if ln and parser.parse_lines([ln])[1] == 0]


GOOD = {name: _good_lines(name) for name in RECORDED}


def _pieces(data: bytes) -> int:
    """How many lines the parser must account for: every non-blank one."""
    return sum(1 for piece in data.split(b"\n") if piece)


def _one_by_one(parser: LineParser, lines: list[bytes]) -> tuple[list[Request], int]:
    reqs: list[Request] = []
    bad = 0
    for ln in lines:
        r, b, _ = parser.parse_lines([ln])
        reqs += r
        bad += b
    return reqs, bad


# -- the recorded corpus of broken lines -----------------------------------------------------

def test_broken_corpus_counts_every_bad_line() -> None:
    data = (LOGS / "broken.log").read_bytes()
    parser = PARSERS[0]
    for reqs, bad, sample in (parser.parse_chunk(data),
                              parser.parse_lines(data.rstrip(b"\n").split(b"\n"))):
        # 19 lines: 6 requests (good, NUL in the URI, escaped backslash, a 70 KB user agent,
        # CRLF, good) and 13 malformed; see tests/data/logs/README.md
        assert (len(reqs), bad) == (6, 13)
        assert sample is not None and sample.startswith("198.18.0.1 - - [25/Nov/2025")
        assert [r.uri for r in reqs] == ["/", "/\x00nul", "/", "/", "/", "/index.php"]
        assert all(r.status == 200 and r.attempts for r in reqs)


def test_other_scripts_digits_are_not_numbers() -> None:
    # `\d` matched Arabic-Indic digits: a corrupt status "٢٠٠" was read as 200.
    line = (LOGS / "upstreamlog.log").read_text(errors="replace").split("\n")[0]
    assert PARSERS[0].parse_line(line.replace(" 200 612 ", " ٢٠٠ 612 ")) is None
    assert PARSERS[0].parse_line(line.replace("msec=1764039600", "msec=١٧٦٤٠٣٩٦٠٠")) is None
    assert compile_format("$status $upstream_addr").parse_line("200 a:1, b:٢") is not None


def test_every_truncation_of_every_recorded_line() -> None:
    tried = 0
    for parser, goods in GOOD.values():
        alone = [parser.parse_lines([g])[0][0] for g in goods]
        for n, line in enumerate(goods):
            before, after = goods[n - 1], goods[(n + 1) % len(goods)]
            for cut in range(len(line)):
                reqs, bad, _ = parser.parse_lines([before, line[:cut], after])
                tried += 1
                assert len(reqs) + bad == 2 + (cut > 0)
                assert reqs[0] == alone[n - 1] and reqs[-1] == alone[(n + 1) % len(goods)]
    assert tried > 4000


def test_megabyte_lines() -> None:
    parser, goods = GOOD["upstreamlog.log"]
    g = goods[0]
    huge = [b"a" * 1_000_000, b'"' * 1_000_000, b"\\" * 1_000_000, b"\x00" * 1_000_000,
            b" " * 1_000_000, (b'"' + b"x" * 999) * 1000, b"\xff" * 1_000_000,
            g[:60] + b"x" * 1_000_000 + g[60:],
            g.replace(b"Mozilla/5.0", b"M" * 1_000_000)]
    for p in PARSERS:
        for line in huge:
            reqs, bad, sample = p.parse_lines([g, line, g])
            assert len(reqs) + bad == 3
            # the sample is cut to 200 bytes; backslashreplace may spell each as 4 characters
            assert sample is None or len(sample) <= 800
    reqs, bad, _ = parser.parse_lines(huge)
    assert (len(reqs), bad) == (1, 8)  # only the 1 MB user agent is a real request


# -- arbitrary bytes ---------------------------------------------------------------------------

@settings(max_examples=150, deadline=None)
@given(st.lists(st.binary(max_size=200).map(lambda b: b.replace(b"\n", b"")), max_size=12))
def test_arbitrary_lines_never_raise_and_are_all_counted(lines: list[bytes]) -> None:
    for parser in PARSERS:
        reqs, bad, _ = parser.parse_lines(lines)
        assert len(reqs) + bad == sum(1 for ln in lines if ln)
        assert (reqs, bad) == _one_by_one(parser, lines)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_chunks_never_raise_and_are_all_counted(data: bytes) -> None:
    for parser in PARSERS:
        reqs, bad, _ = parser.parse_chunk(data)
        assert len(reqs) + bad == _pieces(data)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_arbitrary_text_never_raises(text: str) -> None:
    for parser in PARSERS:
        reqs, bad, _ = parser.parse_chunk(text.encode("utf-8"))
        assert len(reqs) + bad == _pieces(text.encode("utf-8"))


# -- structured mutations of real lines --------------------------------------------------------

INSERTS = [b'"', b"\\", b"\x00", b"\xff\xfe", b"\xc3", b"\\x22", b'\\"', b" ", b", ", b" : ",
           b"-", b"\r", "é".encode(), "٣".encode(), b"9" * 400, b"x" * 100_000,
           b'"' * 5000, b"[", b"]", b"{", b"}", b"%"]


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, int, bytes]:
    name = draw(st.sampled_from(RECORDED))
    goods = GOOD[name][1]
    n = draw(st.integers(0, len(goods) - 1))
    line = goods[n]
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(line)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "truncate", "duplicate"]))
        what = draw(st.one_of(st.sampled_from(INSERTS), st.binary(min_size=1, max_size=8)))
        what = what.replace(b"\n", b"")
        if op == "insert":
            line = line[:at] + what + line[at:]
        elif op == "delete":
            line = line[:at] + line[at + draw(st.integers(1, 20)):]
        elif op == "replace":
            line = line[:at] + what + line[at + len(what):]
        elif op == "truncate":
            line = line[:at]
        else:
            line = line[:at] + line[at: at + 30] * 2 + line[at + 30:]
    return name, n, line


@settings(max_examples=300, deadline=None)
@given(mutated())
def test_mutated_line_never_raises_and_spares_its_neighbours(case: tuple[str, int, bytes]
                                                             ) -> None:
    name, n, line = case
    parser, goods = GOOD[name]
    before, after = goods[n - 1], goods[(n + 1) % len(goods)]
    batch = [before, line, after]
    reqs, bad, _ = parser.parse_lines(batch)
    assert len(reqs) + bad == 2 + (1 if line else 0)
    assert (reqs, bad) == _one_by_one(parser, batch)
    assert reqs[0] == parser.parse_lines([before])[0][0]
    assert reqs[-1] == parser.parse_lines([after])[0][0]
    chunk_reqs, chunk_bad, _ = parser.parse_chunk(b"\n".join(batch) + b"\n")
    assert (chunk_reqs, chunk_bad) == (reqs, bad)
    for other in PARSERS:  # a parser for another format only counts it
        r, b, _ = other.parse_lines(batch)
        assert len(r) + b == len(reqs) + bad
    for req in reqs:
        assert 100 <= req.status <= 999 or req.status == 0
        assert req.request_time is None or 0 <= req.request_time < 1e10
        assert all(a.status is None or 0 <= a.status <= 999 for a in req.attempts)


# -- the tailer's chunk path (pure: framing, then the parser) ----------------------------------

TAG = "@@SB-0123456789abcdef"


class _Session:
    name = "lb1"


def _frames(payload: bytes, offset: int = 0) -> bytes:
    head = f"{TAG} START 42 {offset} - \n{TAG} DATA 42 {offset} -\n".encode()
    return head + payload + f"\n{TAG} END {len(payload)}\n".encode()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(GOOD["upstreamlog.log"][1]),
                          st.binary(max_size=120).map(lambda b: b.replace(b"\n", b""))),
                max_size=10),
       st.lists(st.integers(1, 300), min_size=1, max_size=20))
def test_tailer_chunk_path_counts_lines_split_anywhere(lines: list[bytes], cuts: list[int]
                                                       ) -> None:
    payload = b"".join(ln + b"\n" for ln in lines)
    stream = _frames(payload)
    reader = FrameReader(TAG, Position())
    got: list[bytes] = []
    errors: list[str] = []
    pos, i = 0, 0
    while pos < len(stream):
        size = cuts[i % len(cuts)]
        out = reader.feed(stream[pos: pos + size])
        got += out.lines
        errors += out.errors
        pos, i = pos + size, i + 1
    assert errors == [] and got == lines
    assert reader.position.offset == len(payload)

    events: list[Event] = []
    tailer = LogTailer(_Session(), "/var/log/nginx/access.log",  # type: ignore[arg-type]
                       events.append, lambda _lines: PARSERS[0], clock=lambda: 1.0)
    tailer._emit(Output(lines=got))
    batches = [e for e in events if isinstance(e, LogBatch)]
    nonblank = [ln for ln in lines if ln]
    if not nonblank:
        assert batches == []
        return
    (batch,) = batches
    assert len(batch.requests) + batch.malformed == len(nonblank)
    assert (list(batch.requests), batch.malformed) == _one_by_one(PARSERS[0], nonblank)


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=400), st.lists(st.sampled_from(
    ["START", "RESUME", "FILE", "TICK", "DATA", "GAP", "ERROR", "END", "", "x"]), max_size=6),
    st.lists(st.text(alphabet="0123456789abcdef- x", max_size=12), max_size=8))
def test_frame_reader_survives_garbage_headers(junk: bytes, kinds: list[str], words: list[str]
                                               ) -> None:
    reader = FrameReader(TAG, Position())
    stream = junk + b"".join(f"{TAG} {k} {' '.join(words)}\n".encode() for k in kinds) + junk
    out = reader.feed(stream)
    assert isinstance(out, Output)
    reader.feed(b"\n" + f"{TAG} END 0\n".encode())
