"""`switchboard lab up|down|status|traffic`: the real cluster in network namespaces."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any) -> None:
    lab = subparsers.add_parser("lab", help="run the lab cluster (root, Linux namespaces)")
    sub = lab.add_subparsers(dest="lab_command", metavar="ACTION", required=True)

    up = sub.add_parser("up", help="bring the lab up; prints the inventory path last")
    up.add_argument("--backends", type=int, default=2, metavar="N",
                    help="number of web backends (default 2)")
    up.add_argument("--traffic", action="store_true",
                    help="also start a background traffic generator against the VIP")
    up.add_argument("--traffic-rate", type=float, default=20.0, metavar="R",
                    help="requests per second for --traffic (default 20)")
    up.add_argument("--traffic-seconds", type=float, default=3600.0, metavar="S",
                    help="how long --traffic runs (default 3600)")
    up.set_defaults(run=run_up)

    down = sub.add_parser("down", help="stop every lab process and remove its namespaces")
    down.set_defaults(run=run_down)

    status = sub.add_parser("status", help="hosts, their processes, VIP owner, cl_status")
    status.set_defaults(run=run_status)

    traffic = sub.add_parser("traffic", help="send bounded HTTP traffic to the VIP")
    traffic.add_argument("--rate", type=float, default=50.0, metavar="R",
                         help="requests per second (default 50, at most 5000)")
    traffic.add_argument("--seconds", type=float, default=10.0, metavar="S",
                         help="duration (default 10, at most 3600)")
    traffic.add_argument("--url", action="append", metavar="URL",
                         help="URL to hit (repeatable); default the VIP's / and /index.php")
    traffic.set_defaults(run=run_traffic)

    soak = sub.add_parser(
        "soak", help="run the dashboard on the lab under load for a long while, with a drain "
        "and a failover in the middle; report lost lines and growth")
    soak.add_argument("--seconds", type=float, default=1800.0, metavar="S",
                      help="how long (default 1800)")
    soak.add_argument("--rate", type=float, default=5000.0, metavar="R",
                      help="synthetic log lines per second, split between the proxies "
                      "(default 5000, at most 20000)")
    soak.add_argument("--traffic-rate", type=float, default=50.0, metavar="R",
                      help="client requests per second through the VIP (default 50)")
    soak.add_argument("--no-actions", action="store_true", help="no drain and no failover")
    soak.set_defaults(run=run_soak)


def run_up(args: argparse.Namespace) -> int:
    from lab import cluster, traffic

    path = cluster.up(args.backends)
    if args.traffic:
        traffic.start_background(args.traffic_rate, args.traffic_seconds)
    print(path.resolve())
    return 0


def run_down(args: argparse.Namespace) -> int:
    from lab import cluster

    cluster.down()
    return 0


def run_status(args: argparse.Namespace) -> int:
    from lab import cluster

    print(cluster.status())
    return 0


def run_traffic(args: argparse.Namespace) -> int:
    from lab import traffic

    result = traffic.run(args.rate, args.seconds, urls=args.url)
    print(result.summary(), file=sys.stdout)
    return 0 if result.clean else 1


def run_soak(args: argparse.Namespace) -> int:
    import asyncio

    from lab import soak, topology
    from switchboard import inventory
    from switchboard.errors import UsageError

    if not 0 < args.rate <= 20000 or not 0 < args.seconds <= 4 * 3600:
        raise UsageError("--rate must be in (0, 20000] and --seconds in (0, 14400]")
    inv = inventory.load(topology.inventory_path())
    report = asyncio.run(soak.soak(
        inv, seconds=args.seconds, rate=args.rate, traffic_rate=args.traffic_rate,
        with_actions=not args.no_actions, say=lambda line: print(line, file=sys.stderr)))
    print(report.render())
    return 0 if not report.problems() else 1
