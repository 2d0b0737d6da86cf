"""SimFeed: ClusterFeed's events without SSH, on a simulated clock, for console benchmarks."""

from __future__ import annotations

from collections import deque

from bench import genlog
from state.events import (
    ActionNote,
    ConfigRead,
    Event,
    HaStatus,
    HostHealth,
    LogBatch,
    LogGap,
    StubStatus,
)
from state.logformat import ParseResult, compile_format
from state.reducer import ClusterState
from state.snapshot import Snapshot
from state.upstreams import ProxyConfig, Upstream, UpstreamServer

UPSTREAM_FILE = "/etc/nginx/conf.d/upstream.conf"
ACCESS_LOG = "/var/log/nginx/access.log"
PROXIES = ("lb1", "lb2")
WEBS = {"198.18.0.21:8001": "web1", "198.18.0.22:8001": "web2"}
STUB_HOSTS = ("lb1", "lb2", "web1", "web2")
HA_EVERY, STUB_EVERY, CONFIG_EVERY = 1.5, 2.0, 30.0  # ClusterFeed's default intervals
GAP_EVERY = 300.0
NOTE_EVERY = 60.0


class SimFeed:
    """Synthetic collector events folded into a real ClusterState, as ClusterFeed does.

    Each :meth:`advance` moves the clock ``frame_s`` on and publishes what the collectors
    would have meanwhile: each proxy's new log lines (generated in the lab's format and
    parsed by the real parser), Heartbeat and stub_status readings at their pollers'
    intervals, an ``nginx -T`` re-read every 30 s, a log gap and a collector note now and
    then. The log lines name four backends, two of them absent from the config.
    """

    def __init__(self, rate: float, *, frame_s: float, start: float = genlog.START) -> None:
        self.now = start
        self.started_at = start
        self.frame_s = frame_s
        self.state = ClusterState(cluster="soak", vip="198.18.0.100", proxies=PROXIES,
                                  backend_names=WEBS, upstreams=("web_servers",))
        self._parser = compile_format(genlog.FORMAT, name="upstreamlog")
        per_frame = max(1, round(rate / len(PROXIES) * frame_s))
        self._logs = {p: genlog.chunks(1 << 40, seed=i + 1, rate=rate / len(PROXIES),
                                       start=start, chunk_lines=per_frame)
                      for i, p in enumerate(PROXIES)}
        self._due: dict[str, float] = {}
        self._ready: deque[list[tuple[str, ParseResult]]] = deque()  # parsed ahead, per frame
        self._connected = False
        self.active = "lb1"
        self.lines = 0

    # -- the Feed protocol ---------------------------------------------------------------------

    async def start(self) -> None:
        if not self._connected:
            self._connected = True
            for p in PROXIES:
                self.state.apply(HostHealth(p, "connected", self.now))

    async def stop(self) -> None:
        return None

    def snapshot(self) -> Snapshot:
        # As ClusterFeed.snapshot: a new snapshot on every call, its windows ending now.
        return self.state.snapshot(self.now)

    def clock(self) -> float:
        return self.now

    # -- the collectors' part ------------------------------------------------------------------

    def _apply(self, event: Event) -> None:
        self.state.apply(event)

    def _due_now(self, what: str, every: float) -> bool:
        due = self._due.get(what, self.started_at)
        if self.now < due:
            return False
        self._due[what] = due + every
        return True

    def advance(self) -> None:
        """Move the clock one frame on and publish what the collectors saw meanwhile."""
        self.now += self.frame_s
        for host, (reqs, bad, sample) in (self._ready.popleft() if self._ready
                                           else self._parse()):
            self.lines += len(reqs) + bad
            self._apply(LogBatch(host, tuple(reqs), bad, self.now, sample))
        if self._due_now("ha", HA_EVERY):
            for host in PROXIES:
                self._apply(self._ha(host))
        if self._due_now("stub", STUB_EVERY):
            for n, host in enumerate(STUB_HOSTS):
                self._apply(StubStatus(host, self.now, 20 + n, 1, 2, 17 + n, 9000, 9000,
                                       int(self.now) % 100_000))
        if self._due_now("config", CONFIG_EVERY):
            for host in PROXIES:
                self._apply(ConfigRead(host, self.now, lab_config(host)))
        if self._due_now("gap", GAP_EVERY):
            self._apply(LogGap("lb2", f"{ACCESS_LOG} was rotated", None, self.now))
        if self._due_now("note", NOTE_EVERY):
            self._apply(ActionNote(self.now, "tail", f"lb1: read stalled at "
                                   f"{self.now:.0f}, resumed", "warning"))

    def _parse(self) -> list[tuple[str, ParseResult]]:
        """One frame's new lines of each proxy's log, parsed as the tailer parses them."""
        return [(host, self._parser.parse_chunk(next(blocks)))
                for host, blocks in self._logs.items()]

    def parse_ahead(self, frames: int) -> None:
        """Parse the next frames' lines now: parsing under tracemalloc would take most of
        its time, and what it allocates is handed over to the state anyway."""
        self._ready.extend(self._parse() for _ in range(frames))

    def _ha(self, host: str) -> HaStatus:
        mine = host == self.active
        return HaStatus(host, self.now, True, host, dict.fromkeys(PROXIES, "active"),
                        {p: {"eth0": "up"} for p in PROXIES}, "all" if mine else "none",
                        holds_vip=mine)

    def act(self, action: str, backend: str | None, steps: int) -> None:
        """An action's notes as the executor posts them; a failover moves the VIP."""
        self._apply(ActionNote(self.now, action, f"started: {action}", "info", backend))
        for k in range(steps):
            self._apply(ActionNote(self.now, action, f"{action}: step {k + 1} of {steps}",
                                   "info", backend))
        if action == "failover":
            self.active = "lb2" if self.active == "lb1" else "lb1"
        self._apply(ActionNote(self.now, action, f"{action} done", "success", backend))


def lab_config(host: str) -> ProxyConfig:
    """A fresh copy of what ``nginx -T`` says on a lab proxy (each re-read is new objects)."""
    servers = tuple(
        UpstreamServer(address, max_fails=2, fail_timeout="30s",
                       args=("max_fails=2", "fail_timeout=30s"), file=UPSTREAM_FILE,
                       line=3 + n, resolved=(address,))
        for n, address in enumerate(WEBS))
    text = "upstream web_servers {\n" + "".join(
        f"    server {s.address} {' '.join(s.args)};\n" for s in servers) + "}\n"
    return ProxyConfig(host, (Upstream("web_servers", "round_robin", servers, UPSTREAM_FILE, 2),),
                       log_formats={"upstreamlog": (genlog.FORMAT, False)},
                       access_logs={ACCESS_LOG: "upstreamlog"}, files={UPSTREAM_FILE: text})
