"""Parsing the Heartbeat poll script's output, recorded from the lab's proxies and this host."""

from __future__ import annotations

from pathlib import Path

from collectors.heartbeat import parse
from state.ha import (
    addresses,
    holds_address,
    link_up,
    node_alive,
    nodes_and_links,
    sections,
)

DATA = Path(__file__).parents[1] / "data" / "heartbeat"
VIP = "198.18.0.100"


def _read(name: str) -> str:
    return (DATA / name).read_text()


def test_active_proxy_holds_the_vip_and_sees_both_nodes() -> None:
    s = parse("lb1", _read("lb1-running.txt"), VIP, 10.0)
    assert s.heartbeat_running and s.error is None
    assert (s.host, s.at, s.local_node) == ("lb1", 10.0, "lb1")
    assert s.nodes == {"lb1": "active", "lb2": "active"}
    # a node's link to itself reads "dead": Heartbeat does not hear its own packets
    assert s.links == {"lb1": {"eth0": "dead"}, "lb2": {"eth0": "up"}}
    assert s.resources == "local"
    assert s.holds_vip


def test_standby_proxy_does_not_hold_the_vip() -> None:
    s = parse("lb2", _read("lb2-running.txt"), VIP, 10.0)
    assert s.heartbeat_running and not s.holds_vip and s.local_node == "lb2"
    assert s.links == {"lb1": {"eth0": "up"}, "lb2": {"eth0": "dead"}}


def test_stopped_heartbeat_is_reported_with_its_words() -> None:
    s = parse("lb1", _read("stopped.txt"), VIP, 1.0)
    assert not s.heartbeat_running and not s.holds_vip
    assert s.error == "Heartbeat is stopped on this machine."
    assert s.nodes == {} and s.links == {} and s.resources == ""


def test_vip_with_prefix_length_and_other_address_listings() -> None:
    text = _read("lb1-running.txt")
    assert parse("lb1", text, "198.18.0.100/24", 0).holds_vip
    assert not parse("lb1", text, "198.18.0.10", 0).holds_vip
    brief = ["lo               UNKNOWN        127.0.0.1/8 ::1/128",
             "eth0@if42        UP             198.18.0.11/24 198.18.0.100/24 fe80::1/64"]
    assert addresses(brief) == {"127.0.0.1", "::1", "198.18.0.11", "198.18.0.100", "fe80::1"}


def test_truncated_or_empty_output_is_an_error_not_a_crash() -> None:
    assert parse("lb1", "", VIP, 0).error is not None
    cut = _read("lb1-running.txt").split("@@ rc")[0]
    s = parse("lb1", cut, VIP, 0)
    assert not s.heartbeat_running and s.error and "no answer" in s.error
    assert [h for h, _ in sections("@@ node a\nactive\n@@ x")] == [["node", "a"], ["x"]]
    bare = parse("lb1", "@@ \nnoise\n" + _read("lb1-running.txt"), VIP, 0)
    assert bare.heartbeat_running and bare.holds_vip  # a bare "@@ " line is no header


def test_address_listings_give_local_addresses_in_canonical_form() -> None:
    ptp = ["3: ppp0    inet 198.18.0.61 peer 198.18.0.62/32 scope global ppp0\\       valid_lft"]
    assert addresses(ptp) == {"198.18.0.61"}  # the peer is the other end's address, not ours
    lines = ["2: eth0    inet6 fd00:0:0::100/64 scope global \\       valid_lft forever"]
    assert holds_address(lines, "fd00::100/64") and holds_address(lines, "fd00:0::100")
    assert not holds_address(lines, "fd00::1") and not holds_address(lines, "")


def test_cl_status_sections_read_alike_for_poller_and_failover_check() -> None:
    text = _read("lb1-running.txt")
    nodes, links = nodes_and_links(sections(text))
    assert nodes == {"lb1": "active", "lb2": "active"}
    assert links == {"lb1": {"eth0": "dead"}, "lb2": {"eth0": "up"}}
    assert node_alive("Active") and node_alive("up") and not node_alive("dead")
    assert link_up("UP") and not link_up("dead") and not link_up("")
