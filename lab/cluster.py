"""Brings the whole lab up, down and reports its status; the entry points `lab` commands use."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path

from lab import daemons, health, inventory_file, keys, netns, procs, render, topology, users
from lab.errors import LabError
from lab.procs import Record
from lab.topology import LabHost

TOOLS = ("ip", "nsenter", "unshare", "setpriv", "ssh-keygen", "/usr/sbin/nginx",
         "/usr/sbin/sshd", "/usr/bin/php-cgi", daemons.HEARTBEAT, "/usr/bin/cl_status", "sudo",
         "visudo")


def say(message: str) -> None:
    print(f"lab: {message}", file=sys.stderr, flush=True)


def preflight() -> None:
    if sys.platform != "linux" or os.geteuid() != 0:
        raise LabError("the lab needs root on Linux (network namespaces, bind mounts); "
                       "run 'sudo switchboard lab up'")
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        raise LabError(f"missing {', '.join(missing)}; install them with 'sudo lab/setup.sh'")
    if not users.has_includedir():
        raise LabError("/etc/sudoers does not read /etc/sudoers.d (@includedir /etc/sudoers.d, "
                       "as Debian's does), where the lab puts its operator's sudo rule")


def saved_hosts() -> tuple[LabHost, ...] | None:
    try:
        data = json.loads(topology.state_file().read_text())
        return tuple(LabHost(h["name"], h["role"], h["address"]) for h in data["hosts"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def holders() -> dict[str, Record]:
    return {r.key.split(".")[0]: r for r in procs.records() if r.key.endswith(".holder")}


def follow_heartbeat(lab_hosts: tuple[LabHost, ...]) -> None:
    """Heartbeat re-executes itself after a split brain heals; record its new PID."""
    recs = {r.key: r for r in procs.records()}
    for h in lab_hosts:
        rec = recs.get(f"{h.name}.heartbeat")
        if h.role != "lb" or rec is None or procs.alive(rec):
            continue
        pid = daemons.heartbeat_pid(h)
        if pid is None or pid not in netns.netns_pids(h.netns):
            continue
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
        except OSError:
            continue
        if comm == "heartbeat":
            procs.record(rec.key, pid)


def healthy(lab_hosts: tuple[LabHost, ...]) -> bool:
    follow_heartbeat(lab_hosts)
    # The optional traffic generator ends on its own; it says nothing about the lab's health.
    recs = [r for r in procs.records() if not r.key.startswith("traffic")]
    return (bool(recs) and all(procs.alive(r) for r in recs)
            and topology.inventory_path().exists() and topology.sudo_inventory_path().exists()
            and health.vip_owner(lab_hosts) is not None)


def leftovers() -> bool:
    return (topology.runtime().exists() or netns.link_exists(topology.BRIDGE)
            or any(n.startswith("sb-") for n in netns.namespaces()))


def up(backends: int = 2) -> Path:
    """Bring the lab up (or find it up); returns the inventory path."""
    preflight()
    if not 1 <= backends <= topology.MAX_BACKENDS:
        raise LabError(f"--backends must be 1..{topology.MAX_BACKENDS}, not {backends}")
    lab_hosts = topology.hosts(backends)
    current = saved_hosts()
    if current == lab_hosts and healthy(lab_hosts):
        say("already up")
        return topology.inventory_path()
    if leftovers():
        say("a previous lab is partly up or has another shape; tearing it down first")
        down()
    started = time.monotonic()
    try:
        build(lab_hosts)
    except BaseException:
        say("bring-up failed; cleaning up")
        down()
        raise
    say(f"up in {time.monotonic() - started:.1f}s; VIP {topology.VIP} on "
        f"{health.vip_owner(lab_hosts)}; as {users.OPERATOR} with sudo on the proxies: "
        f"{topology.sudo_inventory_path()}")
    return topology.inventory_path()


def build(lab_hosts: tuple[LabHost, ...]) -> None:
    runtime = topology.runtime()
    runtime.mkdir(mode=0o755, parents=True, exist_ok=True)
    topology.state_file().write_text(json.dumps(
        {"hosts": [{"name": h.name, "role": h.role, "address": h.address} for h in lab_hosts]}))
    client_pub = keys.client_key()
    operator_id = users.free_id()
    secret = secrets.token_hex(16)
    host_keys: dict[LabHost, str] = {}
    say(f"rendering {len(lab_hosts)} hosts under {topology.hosts_dir()}")
    for h in lab_hosts:
        render.seed(h)
        render.common(h, lab_hosts, client_pub)
        users.add_operator(h, client_pub, operator_id)
        if h.role == "lb":
            render.proxy(h, lab_hosts, secret)
            users.install_sudoers(h, users.sudoers_rule())
        else:
            render.backend(h)
        host_keys[h] = keys.host_key(h)
    say(f"bridge {topology.BRIDGE} {topology.BRIDGE_ADDRESS}/{topology.PREFIX}")
    netns.create_bridge()
    for h in lab_hosts:
        netns.create_host_network(h)
    keys.write_known_hosts(host_keys)
    inventory_file.write(lab_hosts)
    # Backends first, so the proxies have somewhere to send the first requests.
    for h in sorted(lab_hosts, key=lambda h: h.role == "lb"):
        holder = daemons.start_holder(h)
        names = [r.key.split(".", 1)[1] for r in daemons.start_services(h, holder)]
        say(f"{h.name} {h.address}: {', '.join(names)}")
    say("waiting for ports and for Heartbeat to take the VIP")
    health.wait_ready(lab_hosts)


def down() -> list[str]:
    """Stop every recorded process, remove namespaces, veths, bridge and the runtime dir."""
    preflight()
    done: list[str] = []
    follow_heartbeat(saved_hosts() or ())
    recs = procs.records()
    # Heartbeat first: it releases the VIP cleanly while the rest still runs.
    order = [r for r in recs if r.key.endswith(".heartbeat")]
    order += [r for r in recs if not r.key.endswith((".heartbeat", ".holder"))]
    for group in (order, [r for r in recs if r.key.endswith(".holder")]):
        n = procs.stop_pids([(r.pid, r.start) for r in group])
        if group:
            done.append(f"stopped {n} of {len(group)} recorded processes, the rest had exited "
                        f"({', '.join(r.key for r in group)})" if n < len(group) else
                        f"stopped {n} recorded processes ({', '.join(r.key for r in group)})")
        for r in group:
            procs.forget(r)
    lab_hosts = saved_hosts() or ()
    names = {h.netns: h.veth for h in lab_hosts}
    for ns in netns.namespaces():
        if ns.startswith("sb-"):
            names.setdefault(ns, f"veth-{ns[3:]}")
    for ns, veth in sorted(names.items()):
        # Whatever still runs in a lab namespace was started there by the lab or over its SSH.
        strays = [(p, s) for p in netns.netns_pids(ns) if (s := procs.start_time(p)) is not None]
        if strays and procs.stop_pids(strays):
            done.append(f"stopped {len(strays)} leftover processes in {ns}")
        done += netns.remove_host_network(ns, veth)
    done += netns.remove_bridge()
    if topology.runtime().exists():
        shutil.rmtree(topology.runtime())
        done.append(f"removed {topology.runtime()}")
    for line in done:
        say(line)
    if not done:
        say("nothing to do: the lab was not up")
    return done


def status() -> str:
    lab_hosts = saved_hosts()
    if lab_hosts is None:
        return "lab: down"
    follow_heartbeat(lab_hosts)
    recs = procs.records()
    held = holders()
    lines = [f"lab: inventory {topology.inventory_path()}",
             f"as {users.OPERATOR} with sudo on the proxies: {topology.sudo_inventory_path()}",
             f"VIP {topology.VIP}: {health.vip_owner(lab_hosts) or 'nobody'}"]
    for h in lab_hosts:
        mine = [r for r in recs if r.key.split(".")[0] == h.name]
        shown = " ".join(f"{r.key.split('.', 1)[1]}={r.pid}{'' if procs.alive(r) else '(dead)'}"
                         for r in mine)
        lines.append(f"{h.name:6} {h.role:3} {h.address:13} {shown}")
    for r in recs:
        if r.key == "traffic":
            state = "running" if procs.alive(r) else "done"
            lines.append(f"traffic generator pid {r.pid}: {state}")
    for h in lab_hosts:
        if h.role != "lb" or h.name not in held or not procs.alive(held[h.name]):
            continue
        out = []
        for args in (("hbstatus",), ("rscstatus",), ("listnodes",)):
            proc = daemons.nsenter(held[h.name], "cl_status", *args)
            text = proc.stdout.strip().replace("\n", ",") or "unreachable"
            out.append(text or "-")
        lines.append(f"{h.name} cl_status: {' | '.join(out)}")
    return "\n".join(lines)


def _lab_host(name: str) -> LabHost:
    lab_hosts = saved_hosts()
    host = next((h for h in lab_hosts or () if h.name == name), None)
    if host is None:
        raise LabError(f"no lab host named {name!r} (is the lab up? 'switchboard lab status')")
    return host


def _daemon(host: LabHost, service: str) -> Record:
    if service == "heartbeat":
        follow_heartbeat((host,))
    rec = next((r for r in procs.records() if r.key == f"{host.name}.{service}"), None)
    if rec is None:
        raise LabError(f"{host.name} has no recorded {service} "
                       f"(it runs {', '.join(daemons.services(host))})")
    return rec


def kill_daemon(host_name: str, service: str, sig: int = signal.SIGKILL, *,
                forked: bool = False) -> Record:
    """Send ``sig`` to one recorded daemon of a host, for fault tests; ``forked`` also
    signals the processes it forked (sshd's per-connection processes outlive their parent)."""
    host = _lab_host(host_name)
    rec = _daemon(host, service)
    if not procs.alive(rec):
        raise LabError(f"{rec.key} (pid {rec.pid}) is not running")
    pids = procs.children(rec.pid) if forked else []
    for pid in (rec.pid, *pids):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue
    deadline = time.monotonic() + 5
    while procs.alive(rec) and sig in (signal.SIGKILL, signal.SIGTERM):
        if time.monotonic() > deadline:
            raise LabError(f"{rec.key} (pid {rec.pid}) outlived signal {sig}")
        procs.reap(rec.pid)
        time.sleep(0.02)
    return rec


def restart_daemon(host_name: str, service: str) -> Record:
    """Start a host's daemon again the way `lab up` starts it (after a test stopped it)."""
    host = _lab_host(host_name)
    old = _daemon(host, service)
    if procs.alive(old):
        raise LabError(f"{old.key} (pid {old.pid}) is still running")
    holder = holders().get(host.name)
    if holder is None or not procs.alive(holder):
        raise LabError(f"{host.name}'s namespace holder is gone; run 'switchboard lab up'")
    if service == "heartbeat":
        # A killed Heartbeat leaves the VIP on the interface, and a new one does not take it
        # off (the init script only warns): release it as Heartbeat would have on the way out.
        daemons.nsenter(holder, "/etc/ha.d/resource.d/IPaddr2",
                        f"{topology.VIP}/{topology.PREFIX}/{topology.IFACE}", "stop")
    return daemons.start_service(host, holder, service)
