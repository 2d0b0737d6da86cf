"""Starts one lab host: its namespace holder, then sshd, nginx and php-cgi or Heartbeat in it."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from lab import procs, render
from lab.errors import LabError
from lab.procs import Record
from lab.topology import LabHost

HEARTBEAT = "/usr/libexec/heartbeat/heartbeat"
PHP_CHILDREN = "2"


def wait_for(path: Path, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise LabError(f"timed out waiting for {what} ({path} never appeared)")
        time.sleep(0.02)


def start_holder(host: LabHost) -> Record:
    """A sleeper owning the host's mount + UTS namespaces, inside its network namespace."""
    ready = host.dir / "run/.lab-holder-ready"
    ready.unlink(missing_ok=True)
    argv = ["ip", "netns", "exec", host.netns,
            "unshare", "--mount", "--uts", "--propagation", "private",
            "sh", str(render.holder_script()), host.name, str(host.dir), *render.BIND_TARGETS]
    rec = procs.spawn(f"{host.name}.holder", argv, log=host.dir / "holder.log")
    wait_for(ready, f"{host.name}'s namespaces (see {host.dir / 'holder.log'})")
    return rec


def services(host: LabHost) -> list[str]:
    """The daemons a host runs, in the order they start."""
    return ["sshd", *(["php-cgi"] if host.role == "web" else []), "nginx",
            *(["heartbeat"] if host.role == "lb" else [])]


def start_services(host: LabHost, holder: Record) -> list[Record]:
    return [start_service(host, holder, name) for name in services(host)]


def start_service(host: LabHost, holder: Record, name: str) -> Record:
    """Start one daemon of a host in its namespaces and record its PID."""
    logs = host.dir / "logs"
    if name == "sshd":
        return procs.spawn(f"{host.name}.sshd", ["/usr/sbin/sshd", "-D", "-e"],
                           log=logs / "sshd.log", holder=holder.pid)
    if name == "php-cgi" and host.role == "web":
        return procs.spawn(
            f"{host.name}.php-cgi",
            ["setpriv", "--reuid=www-data", "--regid=www-data", "--init-groups",
             "/usr/bin/php-cgi", "-b", "127.0.0.1:9000"],
            log=logs / "php-cgi.log", holder=holder.pid,
            env={"PHP_FCGI_CHILDREN": PHP_CHILDREN, "PHP_FCGI_MAX_REQUESTS": "0"})
    if name == "nginx":
        check_nginx(host, holder)
        # nginx stays in the foreground so its PID is ours; `nginx -s reload` still finds it
        # through /run/nginx.pid inside the host.
        return procs.spawn(f"{host.name}.nginx", ["/usr/sbin/nginx", "-g", "daemon off;"],
                           log=logs / "nginx.log", holder=holder.pid)
    if name == "heartbeat" and host.role == "lb":
        return start_heartbeat(host, holder)
    raise LabError(f"{host.name} runs no daemon named {name!r} (it runs "
                   f"{', '.join(services(host))})")


def nsenter(holder: Record, *argv: str, timeout: float = 10.0) -> subprocess.CompletedProcess[str]:
    """Run a command inside a lab host's namespaces and wait for it."""
    return subprocess.run(
        ["nsenter", f"--target={holder.pid}", "--mount", "--uts", "--net", "--", *argv],
        capture_output=True, text=True, check=False, timeout=timeout, env=procs.CLEAN_ENV)


def check_nginx(host: LabHost, holder: Record) -> None:
    proc = nsenter(holder, "/usr/sbin/nginx", "-t", "-q")
    if proc.returncode != 0:
        raise LabError(f"{host.name}: nginx -t refused the lab config: {proc.stderr.strip()}")


def start_heartbeat(host: LabHost, holder: Record) -> Record:
    """Heartbeat daemonizes itself; the PID to record is the one in its pid file."""
    pidfile = host.dir / "run/heartbeat.pid"
    pidfile.unlink(missing_ok=True)
    proc = nsenter(holder, HEARTBEAT)
    if proc.returncode != 0:
        raise LabError(f"{host.name}: heartbeat failed to start: {proc.stderr.strip()} "
                       f"(see {host.dir / 'var/log/ha-log'})")
    wait_for(pidfile, f"{host.name}'s heartbeat pid file")
    deadline = time.monotonic() + 5
    while (pid := heartbeat_pid(host)) is None:
        if time.monotonic() > deadline:
            raise LabError(f"{host.name}: unreadable heartbeat pid file {pidfile}")
        time.sleep(0.02)
    return procs.record(f"{host.name}.heartbeat", pid)


def heartbeat_pid(host: LabHost) -> int | None:
    try:
        text = (host.dir / "run/heartbeat.pid").read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
