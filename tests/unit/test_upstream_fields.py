"""Splitting $upstream_* lists into attempts."""

from __future__ import annotations

from state.events import Attempt
from state.upstream_fields import attempts, hidden_failures, split_list

A, B = "198.18.0.21:8001", "198.18.0.22:8001"


def test_single_attempt() -> None:
    assert attempts(A, "200", "0.004") == (Attempt(A, 200, 0.004),)


def test_next_upstream_retry() -> None:
    assert attempts(f"{A}, {B}", "502, 200", "0.001, 0.015") == (
        Attempt(A, 502, 0.001), Attempt(B, 200, 0.015))


def test_internal_redirect_to_another_group() -> None:
    assert attempts(f"{A} : {B}", "404 : 200", "0.003 : 0.005") == (
        Attempt(A, 404, 0.003), Attempt(B, 200, 0.005))


def test_retry_then_redirect() -> None:
    assert split_list(f"{A}, {B} : web_static") == [A, B, "web_static"]


def test_dash_means_no_upstream_or_no_response() -> None:
    assert attempts("-", "-", "-") == ()
    assert attempts(B, "-", "0.512") == (Attempt(B, None, 0.512),)
    assert attempts(f"{A} : -", "502 : -", "0.001 : -") == (Attempt(A, 502, 0.001),)


def test_unix_socket_ipv6_and_group_name() -> None:
    assert attempts("unix:/run/php/php-fpm.sock", "200", "0.020")[0].address == (  # type: ignore[index]
        "unix:/run/php/php-fpm.sock")
    assert attempts("[::1]:8001, [fd00::2]:8001", "502, 200", "0.000, 0.002") == (
        Attempt("[::1]:8001", 502, 0.0), Attempt("[fd00::2]:8001", 200, 0.002))
    assert attempts("web_servers", "502", "0.000") == (Attempt("web_servers", 502, 0.0),)


def test_mismatched_lengths_are_rejected_not_padded() -> None:
    assert attempts(f"{A}, {B}", "502", "0.001") is None
    assert attempts(A, "502, 200", "0.001") is None
    assert attempts(f"{A}, {B}", "502, 200", "0.001") is None


def test_variables_not_logged_give_none() -> None:
    assert attempts(f"{A}, {B}", "", "") == (Attempt(A, None, None), Attempt(B, None, None))


def test_garbage_values_do_not_raise() -> None:
    assert attempts(A, "2x0", "nan") == (Attempt(A, None, None),)
    assert attempts(A, "\u0663\u0660\u0660", "1e99") == (Attempt(A, None, None),)


def test_hidden_failures_are_failures_before_a_later_success() -> None:
    ok, bad, none = Attempt(B, 200, 0.01), Attempt(A, 502, 0.0), Attempt(A, None, None)
    assert hidden_failures((bad, ok)) == (0,)
    assert hidden_failures((none, bad, ok)) == (0, 1)
    assert hidden_failures((bad, bad)) == ()
    assert hidden_failures((ok, bad)) == ()
    assert hidden_failures((Attempt(A, 404, 0.0), ok)) == ()
