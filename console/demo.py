"""A feed of synthetic, moving snapshots for trying the console without a cluster."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from state.events import ActionNote
from state.snapshot import WINDOW_SECONDS, BackendView, HaView, ProxyView, Snapshot, WindowStats
from state.upstreams import UpstreamServer

UPSTREAM_FILE = "/etc/nginx/conf.d/upstream.conf"


class DemoFeed:
    """Three backends under two proxies; web3 turns slow and sheds traffic now and then."""

    def __init__(self, backends: int = 3, clock: Callable[[], float] = time.time) -> None:
        self.count = backends
        self.clock = clock
        self.started_at = clock()

    async def start(self) -> None:
        self.started_at = self.clock()

    async def stop(self) -> None:
        return None

    def snapshot(self) -> Snapshot:
        now = self.clock()
        t = now - self.started_at
        weights = [3 if i == 1 else 1 for i in range(1, self.count + 1)]
        total_w = sum(weights)
        slow = math.sin(t / 20) > 0.3  # web3 has a bad spell every couple of minutes
        backends = []
        for i, w in enumerate(weights, start=1):
            trouble = slow and i == 3
            share = w / total_w * (0.4 if trouble else 1.0)
            rate = 300 * share * (1 + 0.2 * math.sin(t / 3 + i))
            p95 = (120.0 if trouble else 14.0) * (1 + 0.1 * math.sin(t + i))
            stats = {
                name: WindowStats(
                    attempts=int(rate * s), rate=rate,
                    status={"2xx": int(rate * s * 0.97), "4xx": int(rate * s * 0.02),
                            "5xx": int(rate * s * (0.05 if trouble else 0.001))},
                    hidden_errors=int(rate * s * 0.01) if trouble else 0, share=share,
                    p50_ms=p95 / 4, p95_ms=p95, p99_ms=p95 * 2.1)
                for name, s in WINDOW_SECONDS.items()
            }
            address = f"198.18.0.{20 + i}:8001"
            spark = tuple(max(0.0, rate * (1 + 0.3 * math.sin((t - 60 + k) / 3 + i)))
                          for k in range(60))
            backends.append(BackendView(
                address=address, name=f"web{i}", upstream="web_servers", state="up",
                config=UpstreamServer(address, weight=w, max_fails=2, fail_timeout="30s",
                                      args=(f"weight={w}", "max_fails=2", "fail_timeout=30s"),
                                      file=UPSTREAM_FILE, line=1 + i, resolved=(address,)),
                configured_share=w / total_w, windows=stats, sparkline=spark,
                recent_errors=("504 GET /report.php upstream timed out",) if trouble else (),
                active_connections=int(rate / 8),
            ))
        proxies = (
            ProxyView("lb1", "connected", None, None, 300.0, int(300 * t), 0, None, 40, True,
                      "active", 0, now),
            ProxyView("lb2", "connected", None, None, 0.0, 0, 0, None, 1, False, "active", 0,
                      now),
        )
        ha = HaView("heartbeat", "198.18.0.100", ("lb1",), "lb1", "lb2", False, False, False,
                    "lb1 active, lb2 standby")
        events = (ActionNote(self.started_at, "demo", "synthetic data: nothing is real",
                             "warning"),)
        return Snapshot(at=now, cluster="demo", requests=int(300 * t), malformed=0,
                        backends=tuple(backends), proxies=proxies, ha=ha, events=events,
                        last_event_at=now - 0.2)


def main() -> None:
    from console.app import SwitchboardApp

    SwitchboardApp(DemoFeed()).run()


if __name__ == "__main__":
    main()
