"""The line editor: one server directive changes, every other byte stays, nginx accepts it."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from actions.edits import Change, EditError, edit_server, expected_args, verify_edit
from state.upstreams import ProxyConfig, UpstreamServer
from switchboard.nginx_parse import parse_dump
from tests.unit.nginx_fixtures import CORPUS, MAIN, corpus_config, dump, nginx_t

CASES = [
    ("lab.conf", "web_servers", "198.18.0.21:8001", Change(weight=3)),
    ("lab.conf", "web_servers", "198.18.0.22:8001", Change(down=True)),
    ("lab.conf", "web_servers", "198.18.0.22:8001", Change(backup=True)),
    ("messy.conf", "messy", "127.0.0.1:9001", Change(weight=7)),
    ("messy.conf", "messy", "127.0.0.1:9001", Change(down=True)),
    ("messy.conf", "messy", "127.0.0.1:9002", Change(weight=4)),
    ("messy.conf", "messy", "127.0.0.1:9002", Change(backup=False)),
    ("messy.conf", "messy", "127.0.0.1:9002", Change(backup=False, down=True)),
    ("messy.conf", "messy", "127.0.0.1:9003", Change(down=False)),
    ("messy.conf", "messy", "127.0.0.1:9003", Change(weight=1, down=False)),
    ("methods.conf", "sticky", "[::1]:8001", Change(weight=2)),
    ("methods.conf", "sticky", "[::1]:8001", Change(down=True)),
    ("methods.conf", "sticky", "unix:/run/php/app.sock", Change(down=False)),
    ("methods.conf", "by_uri", "localhost:8001", Change(weight=5)),
    ("methods.conf", "by_uri", "127.0.0.2:8001", Change(weight=9)),
    ("methods.conf", "fewest", "unix:/run/app-b.sock", Change(backup=True)),
    ("methods.conf", "fewest", "127.0.0.3:80", Change(backup=False)),
    ("methods.conf", "lucky", "127.0.0.4", Change(weight=10)),
    ("methods.conf", "lucky", "[::1]:8004", Change(down=True)),
    ("oneline.conf", "one", "127.0.0.1:8001", Change(weight=4, down=True)),
    ("oneline.conf", "one", "127.0.0.1:8002", Change(weight=1, down=False)),
]


def _server(name: str, upstream: str, address: str) -> UpstreamServer:
    ups = next(u for u in corpus_config(name).upstreams if u.name == upstream)
    server = ups.server(address)
    assert server is not None
    return server


@pytest.mark.parametrize(("name", "upstream", "address", "change"), CASES,
                         ids=[f"{c[0]}-{c[2]}-{c[3].describe()}" for c in CASES])
def test_corpus_edit_reparses_and_passes_real_nginx_t(
        name: str, upstream: str, address: str, change: Change, tmp_path: Path) -> None:
    old = (CORPUS / name).read_text()
    server = _server(name, upstream, address)
    new = edit_server(old, name, server, change)

    # Re-parsed, the server has exactly the expected arguments and nothing else moved.
    after = _server_in(new, name, upstream, address)
    assert [after.address, *after.args] == expected_args([address, *server.args], change)
    before_others = [(u.name, s.address, s.args) for u in corpus_config(name).upstreams
                     for s in u.servers if s.address != address or u.name != upstream]
    after_others = [(u.name, s.address, s.args) for u in _config_of(new, name).upstreams
                    for s in u.servers if s.address != address or u.name != upstream]
    assert after_others == before_others

    # Only lines of that directive changed.
    changed = [ln for ln in difflib.unified_diff(old.splitlines(), new.splitlines(), n=0,
                                                 lineterm="") if ln.startswith("@@")]
    assert changed, "the edit changed nothing"
    last_line = server.line + old[_offset(old, server.line):].split(";", 1)[0].count("\n")
    for hunk in changed:
        start = int(hunk.split()[1].lstrip("-").split(",")[0])
        assert server.line <= start <= last_line

    result = nginx_t(new, tmp_path)
    assert result.returncode == 0, result.stderr


def _offset(text: str, line: int) -> int:
    return sum(len(x) for x in text.splitlines(keepends=True)[: line - 1])


def _config_of(text: str, name: str) -> ProxyConfig:
    main = "events {}\nhttp {\n    include /etc/nginx/conf.d/*.conf;\n}\n"
    return parse_dump(dump({MAIN: main, f"/etc/nginx/conf.d/{name}": text}), "lb1")


def _server_in(text: str, name: str, upstream: str, address: str) -> UpstreamServer:
    ups = next(u for u in _config_of(text, name).upstreams if u.name == upstream)
    server = ups.server(address)
    assert server is not None
    return server


def test_weight_goes_right_after_the_address_keeping_tabs_and_comment() -> None:
    old = (CORPUS / "messy.conf").read_text()
    new = edit_server(old, "messy.conf", _server("messy.conf", "messy", "127.0.0.1:9002"),
                      Change(weight=4))
    assert new == old.replace("    server 127.0.0.1:9002\n", "    server 127.0.0.1:9002 weight=4\n")


def test_existing_weight_is_replaced_in_place() -> None:
    old = (CORPUS / "messy.conf").read_text()
    new = edit_server(old, "messy.conf", _server("messy.conf", "messy", "127.0.0.1:9001"),
                      Change(weight=12))
    assert new == old.replace("\t\tweight=2   max_fails=3;", "\t\tweight=12   max_fails=3;")


def test_setting_weight_back_to_one_keeps_it_explicit() -> None:
    old = (CORPUS / "methods.conf").read_text()
    new = edit_server(old, "m", _server("methods.conf", "sticky", "127.0.0.1:8002"),
                      Change(weight=1))
    assert "    server 127.0.0.1:8002 weight=1;\n" in new


def test_flag_alone_on_its_line_takes_the_line_with_it() -> None:
    old = (CORPUS / "messy.conf").read_text()
    new = edit_server(old, "messy.conf", _server("messy.conf", "messy", "127.0.0.1:9002"),
                      Change(backup=False))
    assert new == old.replace("           backup\n", "")


def test_flag_before_the_semicolon_and_comment() -> None:
    old = (CORPUS / "messy.conf").read_text()
    new = edit_server(old, "messy.conf", _server("messy.conf", "messy", "127.0.0.1:9003"),
                      Change(down=False))
    assert new == old.replace("127.0.0.1:9003   down   ;   # parked",
                              "127.0.0.1:9003   ;   # parked")


def test_down_is_appended_after_the_last_argument_of_a_multiline_directive() -> None:
    old = (CORPUS / "messy.conf").read_text()
    new = edit_server(old, "messy.conf", _server("messy.conf", "messy", "127.0.0.1:9002"),
                      Change(down=True))
    assert new == old.replace("           backup\n", "           backup down\n")


def test_only_the_named_server_on_a_shared_line_changes() -> None:
    old = (CORPUS / "oneline.conf").read_text()
    new = edit_server(old, "one", _server("oneline.conf", "one", "127.0.0.1:8002"),
                      Change(down=False, weight=5))
    assert new == ("upstream one { server 127.0.0.1:8001; "
                   "server 127.0.0.1:8002 weight=5; }")


def test_stale_line_number_is_an_error_not_a_guess() -> None:
    old = (CORPUS / "lab.conf").read_text()
    stale = UpstreamServer(address="198.18.0.21:8001", line=3)
    with pytest.raises(EditError, match=r"lab.conf:3: no `server 198.18.0.21:8001`"):
        edit_server(old, "lab.conf", stale, Change(weight=2))


def test_verification_rejects_an_edit_touching_anything_else() -> None:
    old = (CORPUS / "lab.conf").read_text()
    server = _server("lab.conf", "web_servers", "198.18.0.21:8001")
    sneaky = old.replace("198.18.0.22:8001 max_fails=2", "198.18.0.22:8001 max_fails=9")
    sneaky = sneaky.replace("198.18.0.21:8001 max", "198.18.0.21:8001 weight=2 max")
    with pytest.raises(EditError, match="more than this server"):
        verify_edit(old, sneaky, "lab.conf", server,
                    expected_args([server.address, *server.args], Change(weight=2)))


def test_verification_rejects_text_that_no_longer_parses() -> None:
    old = (CORPUS / "lab.conf").read_text()
    server = _server("lab.conf", "web_servers", "198.18.0.21:8001")
    with pytest.raises(EditError, match="no longer parses"):
        verify_edit(old, old.replace("}", ""), "lab.conf", server, [server.address])


def test_quoted_and_hostname_addresses() -> None:
    old = 'upstream q {\n  server "localhost:8001" max_fails=1;\n}\n'
    server = UpstreamServer(address="localhost:8001", args=("max_fails=1",), line=2)
    new = edit_server(old, "q", server, Change(weight=2))
    assert new == 'upstream q {\n  server "localhost:8001" weight=2 max_fails=1;\n}\n'
