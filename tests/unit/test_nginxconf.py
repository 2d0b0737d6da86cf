"""Reading recorded `nginx -T` output into ProxyConfig, and drift between two proxies."""

from __future__ import annotations

import pytest

from state.nginxconf import (
    COMBINED,
    NginxConfigError,
    glob_matches,
    proxy_config,
    resolved_forms,
    split_dump,
    statements,
    upstream_drift,
)
from state.upstreams import bracket_host, join_host_port
from switchboard.nginx_parse import parse_dump
from tests.unit.nginx_fixtures import DATA, MAIN, corpus_config, dump

LB1 = (DATA / "lb1-nginx-T.txt").read_text()
LB2 = (DATA / "lb2-drift-nginx-T-with-stderr.txt").read_text()
UPSTREAM_CONF = "/etc/nginx/conf.d/upstream.conf"


def test_recorded_dump_gives_files_in_nginx_order_with_exact_text() -> None:
    files = split_dump(LB1)
    assert list(files) == [
        "/etc/nginx/nginx.conf", "/etc/nginx/mime.types", "/etc/nginx/conf.d/logformat.conf",
        UPSTREAM_CONF, "/etc/nginx/sites-enabled/proxy", "/etc/nginx/proxy_params"]
    assert files[UPSTREAM_CONF] == (
        "# Managed by hand; Switchboard edits single server lines in place.\n"
        "upstream web_servers {\n"
        "    server 198.18.0.21:8001 max_fails=2 fail_timeout=30s;\n"
        "    server 198.18.0.22:8001 max_fails=2 fail_timeout=30s;\n"
        "    keepalive 16;\n"
        "}\n")


def test_lab_upstream_with_real_file_and_lines() -> None:
    config = parse_dump(LB1, "lb1")
    (ups,) = config.upstreams
    assert (ups.name, ups.method, ups.file, ups.line) == ("web_servers", "round_robin",
                                                          UPSTREAM_CONF, 2)
    assert ups.directives == (("keepalive", ("16",)),)
    first, second = ups.servers
    assert (first.address, first.line, first.file) == ("198.18.0.21:8001", 3, UPSTREAM_CONF)
    assert (first.weight, first.max_fails, first.fail_timeout) == (1, 2, "30s")
    assert first.args == ("max_fails=2", "fail_timeout=30s")
    assert (first.down, first.backup, first.takes_traffic) == (False, False, True)
    assert second.resolved == ("198.18.0.22:8001",)
    assert config.pid_file == "/run/nginx.pid"
    assert "/etc/nginx/sites-enabled/*" in config.includes


def test_log_formats_joined_as_nginx_joins_them() -> None:
    config = parse_dump(LB1, "lb1")
    assert config.log_formats["upstreamlog"] == (
        '$remote_addr - $remote_user [$time_local] "$request" $status '
        '$body_bytes_sent "$http_referer" "$http_user_agent" '
        'rt=$request_time ua="$upstream_addr" us="$upstream_status" '
        'urt="$upstream_response_time" msec=$msec', False)
    fmt, escape_json = config.log_formats["jsonlog"]
    assert escape_json is True
    assert fmt.startswith('{"time":"$time_iso8601","status":$status,"ua":')
    assert config.log_formats["combined"] == (COMBINED, False)


def test_access_log_takes_the_most_specific_format_for_a_path() -> None:
    # nginx.conf logs /var/log/nginx/access.log in `combined` at http level; the proxy's
    # server block overrides it with upstreamlog, which is what proxied requests use.
    config = parse_dump(LB1, "lb1")
    assert config.access_logs == {"/var/log/nginx/access.log": "upstreamlog",
                                  "/var/log/nginx/access.json": "jsonlog"}


def test_nginx_stderr_lines_before_the_dump_are_ignored() -> None:
    assert LB2.startswith("nginx: the configuration file")
    config = parse_dump(LB2, "lb2")
    assert config.upstreams[0].servers[1].weight == 3


def test_drift_names_upstream_server_and_both_values() -> None:
    a, b = parse_dump(LB1, "lb1"), parse_dump(LB2, "lb2")
    assert upstream_drift(a, b) == ["web_servers: 198.18.0.22:8001 weight 1 on lb1, 3 on lb2"]
    assert upstream_drift(a, parse_dump(LB1, "lb2")) == []


def test_drift_reports_missing_servers_methods_and_flags() -> None:
    a = corpus_config("methods.conf", "lb1")
    text = (DATA / "corpus" / "methods.conf").read_text()
    text = text.replace("ip_hash;", "least_conn;").replace("server 127.0.0.4;\n", "")
    text = text.replace("unix:/run/php/app.sock down", "unix:/run/php/app.sock")
    b = parse_dump(dump({MAIN: "events {}\nhttp { include /etc/nginx/conf.d/*.conf; }\n",
                         "/etc/nginx/conf.d/methods.conf": text}), "lb2")
    assert upstream_drift(a, b) == [
        "sticky: balancing ip_hash on lb1, least_conn on lb2",
        "sticky: unix:/run/php/app.sock down on on lb1, off on lb2",
        "lucky: 127.0.0.4 only on lb1",
    ]


def test_balancing_methods_and_their_arguments() -> None:
    config = corpus_config("methods.conf")
    by_name = {u.name: u for u in config.upstreams}
    assert by_name["sticky"].method == "ip_hash"
    assert (by_name["by_uri"].method, by_name["by_uri"].hash_key,
            by_name["by_uri"].method_args) == ("hash", "$request_uri",
                                               ("$request_uri", "consistent"))
    assert by_name["fewest"].method == "least_conn"
    assert (by_name["lucky"].method, by_name["lucky"].method_args) == ("random",
                                                                        ("two", "least_conn"))
    assert [s.address for s in by_name["sticky"].servers] == [
        "[::1]:8001", "127.0.0.1:8002", "unix:/run/php/app.sock"]
    assert by_name["sticky"].servers[2].down
    assert by_name["fewest"].servers[2].backup
    assert by_name["by_uri"].servers[0].max_fails == 0


def test_multiline_server_directive_has_the_line_it_starts_on() -> None:
    (ups,) = corpus_config("messy.conf").upstreams
    assert [(s.address, s.line) for s in ups.servers] == [
        ("127.0.0.1:9001", 4), ("127.0.0.1:9002", 5), ("127.0.0.1:9003", 10)]
    assert ups.servers[1].args == ("max_fails=2", "fail_timeout=30s", "backup")
    assert ups.directives == (("zone", ("messy_zone", "64k")), ("keepalive", ("32",)),
                              ("keepalive_timeout", ("60s",)))


def test_resolved_forms_match_what_nginx_logs() -> None:
    assert resolved_forms("198.18.0.21") == ("198.18.0.21:80",)
    assert resolved_forms("[0:0::1]:8001") == ("[::1]:8001",)
    assert resolved_forms("unix:/run/a.sock") == ("unix:/run/a.sock",)
    assert resolved_forms("web1:8001") == ()
    assert resolved_forms("web1:8001", {"web1": ["198.18.0.21"]}) == ("198.18.0.21:8001",)


def test_include_globs_follow_nginx_rules() -> None:
    assert glob_matches("/etc/nginx/conf.d/*.conf", "/etc/nginx/conf.d/a.conf")
    assert not glob_matches("/etc/nginx/conf.d/*.conf", "/etc/nginx/conf.d/a.conf.switchboard-new")
    assert not glob_matches("/etc/nginx/conf.d/*.conf", "/etc/nginx/conf.d/sub/a.conf")
    assert glob_matches("/etc/nginx/sites-enabled/*", "/etc/nginx/sites-enabled/x.switchboard-bak")
    assert not glob_matches("/etc/nginx/sites-enabled/*", "/etc/nginx/sites-enabled/.hidden")


def test_stream_upstreams_are_not_http_upstreams() -> None:
    main = ("events {}\nstream { upstream db { server 127.0.0.1:5432; } }\n"
            "http { upstream web { server 127.0.0.1:8001; } }\n")
    config = parse_dump(dump({MAIN: main}), "lb1")
    assert [u.name for u in config.upstreams] == ["web"]


def test_not_nginx_output_is_refused_with_the_host() -> None:
    with pytest.raises(NginxConfigError, match=r"^lb1: not `nginx -T` output"):
        parse_dump("bash: nginx: command not found\n", "lb1")
    with pytest.raises(NginxConfigError, match="unexpected line 'sudo: a password"):
        parse_dump("sudo: a password is required\n" + dump({MAIN: "events {}\n"}), "lb1")


def test_syntax_error_names_host_file_and_line() -> None:
    broken = "events {}\nhttp {\n    upstream u {\n        server 127.0.0.1:1;\n"
    with pytest.raises(NginxConfigError) as info:
        parse_dump(dump({MAIN: broken}), "lb2")
    assert info.value.file == MAIN and info.value.line == 4
    assert str(info.value).startswith(f"lb2:{MAIN}:4: unexpected end of file")


def test_include_of_a_file_nginx_did_not_print_is_an_error() -> None:
    main = "events {}\nhttp {\n    include /etc/nginx/missing.conf;\n}\n"
    with pytest.raises(NginxConfigError, match=f"lb1:{MAIN}:3: includes /etc/nginx/missing"):
        parse_dump(dump({MAIN: main}), "lb1")


def test_bad_weight_is_reported_with_its_line() -> None:
    main = "events {}\nhttp {\n  upstream u {\n    server 127.0.0.1:1 weight=x;\n  }\n}\n"
    with pytest.raises(NginxConfigError, match=f"{MAIN}:4: weight='x'"):
        parse_dump(dump({MAIN: main}), "lb1")


def test_escapes_in_log_format_are_nginx_escapes() -> None:
    main = ("events {}\nhttp {\n  log_format j escape=json '{\\\"a\\\":\\\"$x\\\"}' "
            "\"\\t$y\";\n  access_log /l j;\n}\n")
    config = parse_dump(dump({MAIN: main}), "lb1")
    assert config.log_formats["j"] == ('{"a":"$x"}\t$y', True)
    assert config.access_logs == {"/l": "j"}


def test_statements_and_config_come_from_crossplane_payloads_as_data() -> None:
    # The shape crossplane.parse(copy, single=True) returns; state never reads a file itself.
    payload = {"status": "ok", "errors": [], "config": [{"file": "/tmp/x/0.conf", "parsed": [
        {"directive": "http", "line": 1, "args": [], "block": [
            {"directive": "upstream", "line": 2, "args": ["u"], "block": [
                {"directive": "server", "line": 3, "args": ["[::1]:8001", "weight=2"]},
                {"directive": "#", "line": 3, "args": [], "comment": " between args"}]}]}]}]}
    parsed = statements({MAIN: payload}, "lb1")
    assert parsed[MAIN][0]["block"][0]["block"] == [
        {"directive": "server", "line": 3, "args": ["[::1]:8001", "weight=2"]}]
    config = proxy_config("lb1", {MAIN: "(text)"}, parsed)
    (server,) = config.upstreams[0].servers
    assert (server.weight, server.resolved, server.file) == (2, ("[::1]:8001",), MAIN)
    broken = {"status": "failed", "config": [{"file": "/tmp/x/0.conf", "parsed": []}],
              "errors": [{"file": "/tmp/x/0.conf", "line": 4,
                          "error": 'unexpected "}" in /tmp/x/0.conf:4'}]}
    with pytest.raises(NginxConfigError) as info:
        statements({MAIN: broken}, "lb2")
    assert str(info.value) == f'lb2:{MAIN}:4: unexpected "}}"'


def test_host_and_port_are_joined_as_nginx_logs_them() -> None:
    assert join_host_port("::1", 8001) == "[::1]:8001"
    assert join_host_port("198.18.0.21", 80) == "198.18.0.21:80"
    assert (bracket_host("fd00::100"), bracket_host("lb1")) == ("[fd00::100]", "lb1")
