"""A fake two-proxy cluster for executor tests: the plan's shell scripts run for real with
``sh`` under a temporary root per proxy; nginx, ss, Heartbeat and ip are simulated."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from actions.runner import Completed
from state.upstreams import ProxyConfig
from switchboard import inventory
from switchboard.errors import RemoteError
from tests.unit.nginx_fixtures import dump

INVENTORY = """
[cluster]
name = "lab"
vip = "198.18.0.100"
upstreams = ["web_servers"]
[ssh]
user = "ops"
[[hosts]]
name = "lb1"
role = "lb"
address = "198.18.0.11"
[[hosts]]
name = "lb2"
role = "lb"
address = "198.18.0.12"
sudo = true
[[hosts]]
name = "web1"
role = "web"
address = "198.18.0.21"
port = 8001
[[hosts]]
name = "web2"
role = "web"
address = "198.18.0.22"
port = 8001
"""
INV = inventory.parse(INVENTORY, "test.toml")
VIP = "198.18.0.100"
NGINX_PID_MISSING = 'nginx: [error] open() "/run/nginx.pid" failed (2: No such file or directory)'


@dataclass
class Rule:
    """Make matching calls misbehave: from the ``first``-th match on (1-based)."""

    host: str
    argv: tuple[str, ...]
    first: int = 1
    result: Completed | None = None  # returned instead of running the command
    drop: str | None = None  # "before" | "after": raise RemoteError before/after running it
    seen: int = 0


@dataclass
class FakeProxy:
    name: str
    root: Path
    paths: list[str]
    running: dict[str, str] = field(default_factory=dict)
    generation: int = 1
    pid_ok: bool = True
    in_flight: list[str] = field(default_factory=list)
    holds_vip: bool = False
    resources: str = "local"
    syslog: list[str] = field(default_factory=list)

    def live(self) -> dict[str, str]:
        return {p: (self.root / p.lstrip("/")).read_text() for p in self.paths}

    def file(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def strays(self) -> list[str]:
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*")
                      if p.name.endswith(".switchboard-new"))

    def workers(self) -> str:
        base = 1000 + self.generation * 10
        old = f"{base - 9} nginx: worker process is shutting down\n" if self.generation > 1 \
            else ""
        return f"{old}{base + 1} nginx: worker process\n{base + 2} nginx: worker process\n"


def valid(files: dict[str, str]) -> str | None:
    """The fake nginx's verdict: a file containing BROKEN does not parse."""
    for path, text in files.items():
        if "BROKEN" in text:
            line = text[: text.index("BROKEN")].count("\n") + 1
            return f'nginx: [emerg] unknown directive "BROKEN" in {path}:{line}'
    return None


class FakeCluster:
    """A RemoteRunner over fake proxies."""

    def __init__(self, tmp: Path, configs: dict[str, ProxyConfig]) -> None:
        self.proxies: dict[str, FakeProxy] = {}
        for host, config in configs.items():
            root = tmp / host
            for path, text in config.files.items():
                target = root / path.lstrip("/")
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
            (root / "run").mkdir(parents=True, exist_ok=True)
            self.proxies[host] = FakeProxy(host, root, list(config.files), dict(config.files))
        self.rules: list[Rule] = []
        self.calls: list[tuple[str, tuple[str, ...]]] = []
        self.hooks: list[Callable[[str, tuple[str, ...]], None]] = []

    async def run(self, host: str, argv: Sequence[str], *, input: str | None = None,
                  timeout: float = 30.0) -> Completed:  # noqa: ASYNC109
        await asyncio.sleep(0)  # a real runner yields here; concurrency tests rely on it
        args = tuple(argv)
        if args[:3] == ("sudo", "-n", "--"):
            args = args[3:]
        self.calls.append((host, args))
        for hook in self.hooks:
            hook(host, args)
        for rule in self.rules:
            if rule.host == host and rule.argv == args:
                rule.seen += 1
                if rule.seen >= rule.first:
                    if rule.drop == "before":
                        raise RemoteError(host, "connection lost")
                    if rule.result is not None:
                        return rule.result
                    if rule.drop == "after":
                        self._do(self.proxies[host], args, input)
                        raise RemoteError(host, "connection lost")
        return self._do(self.proxies[host], args, input)

    def fail(self, host: str, argv: Sequence[str], first: int = 1, *, exit_status: int = 1,
             stderr: str = "injected failure", drop: str | None = None) -> Rule:
        rule = Rule(host, tuple(argv), first,
                    None if drop else Completed(exit_status, "", stderr), drop)
        self.rules.append(rule)
        return rule

    # -- simulated commands -------------------------------------------------------------------

    def _do(self, p: FakeProxy, args: tuple[str, ...], stdin: str | None) -> Completed:
        if args == ("nginx", "-t"):
            return self._verdict(p.live())
        if args[0] == "unshare":
            return self._staged_test(p, args)
        if args == ("nginx", "-s", "reload"):
            if not p.pid_ok:
                return Completed(1, "", NGINX_PID_MISSING)
            problem = valid(p.live())
            if problem:
                return Completed(1, "", problem)
            p.running, p.generation = p.live(), p.generation + 1
            return Completed(0, "", "")
        if args == ("nginx", "-T"):
            problem = valid(p.live())
            if problem:
                return Completed(1, "", problem)
            return Completed(0, dump(p.live()), "nginx: configuration file syntax is ok\n")
        if args[:2] == ("sh", "-c") and "--ppid" in args[2]:
            if not p.pid_ok:
                return Completed(1, "", "cat: /run/nginx.pid: No such file or directory")
            return Completed(0, p.workers(), "")
        if args[0] == "ss":
            out = "".join(f"ESTAB 0 0 {p.name}:4{i:04d} {line}\n"
                          for i, line in enumerate(p.in_flight))
            if p.in_flight:
                p.in_flight.pop()
            return Completed(0, out, "")
        if args[0] == "logger":
            p.syslog.append(args[-1])
            return Completed(0, "", "")
        if args == ("cl_status", "hbstatus"):
            return Completed(0, "Heartbeat is running on this machine.\n", "")
        if args == ("cl_status", "rscstatus"):
            return Completed(0, p.resources + "\n", "")
        if args[0].endswith(("/hb_standby", "/hb_takeover")):
            giving = args[0].endswith("hb_standby")
            for other in self.proxies.values():
                mine = (other is p) != giving
                other.holds_vip, other.resources = mine, "all" if mine else "none"
            return Completed(0, "", "")
        if args[:2] == ("ip", "-o"):
            vip = f"2: eth0    inet {VIP}/24 scope global secondary eth0\n" if p.holds_vip \
                else ""
            return Completed(0, f"1: lo    inet 127.0.0.1/8 scope host lo\n{vip}", "")
        if args[0] in ("sh", "sha256sum"):
            return self._real(p, args, stdin)
        return Completed(127, "", f"fake: unknown command {args!r}")

    def _staged_test(self, p: FakeProxy, args: tuple[str, ...]) -> Completed:
        """Run the plan's own test script with ``mount --bind`` recorded instead of done."""
        script = args.index("-c") + 1
        body = ('mount() { printf "%s\\t%s\\n" "$3" "$4"; }; '
                + args[script].replace("exec nginx -t", "true"))
        done = self._real(p, ("sh", "-c", body, *args[script + 1:]), None)
        if done.exit_status != 0:
            return done
        files = p.live()
        for line in done.stdout.splitlines():
            src, dst = line.split("\t")
            if not p.file(src).exists():
                return Completed(32, "", f"mount: {src}: no such file")
            files[dst] = p.file(src).read_text()
        return self._verdict(files)

    def _verdict(self, files: dict[str, str]) -> Completed:
        problem = valid(files)
        if problem:
            return Completed(1, "", problem + "\nnginx: configuration file test failed\n")
        return Completed(0, "", "nginx: configuration file syntax is ok\n")

    def _real(self, p: FakeProxy, args: tuple[str, ...], stdin: str | None) -> Completed:
        """Run the command here, its path arguments moved under the proxy's root."""
        root = str(p.root)
        keep = 3 if args[:2] == ("sh", "-c") else 1
        mapped = [a if not a.startswith("/") or a.startswith(root) else root + a
                  for a in args[keep:]]
        proc = subprocess.run([*args[:keep], *mapped], input=stdin or "",
                              capture_output=True, text=True, timeout=10, check=False)
        return Completed(proc.returncode, proc.stdout.replace(root, ""),
                         proc.stderr.replace(root, ""))


class Recorder:
    """A RemoteRunner that records what the executor sends, then lets the fake cluster run it."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.sent: list[tuple[str, tuple[str, ...]]] = []

    async def run(self, host: str, argv: Sequence[str], *, input: str | None = None,
                  timeout: float = 30.0) -> Completed:  # noqa: ASYNC109
        self.sent.append((host, tuple(argv)))
        return await self.cluster.run(host, argv, input=input, timeout=timeout)
