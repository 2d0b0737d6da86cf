"""Benchmark: headless actions on the lab under bounded traffic, beside their floors."""

from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence

from bench import common, labkit
from switchboard.inventory import Host, Inventory

NAME = "actions"
UPSTREAM_CONF = "/etc/nginx/conf.d/upstream.conf"
HA_CF = "/etc/ha.d/ha.cf"
RATE = 100.0  # client requests/s during each action
LEAD = 1.0  # seconds of traffic before the action starts
ACTION_TIMEOUT = 60.0
FULL = (
    ("weight web2 3", ("weight", "web2", "3")),
    ("weight web2 1", ("weight", "web2", "1")),
    ("reload", ("reload",)),
    ("drain web2", ("drain", "web2")),
    ("undrain web2", ("undrain", "web2")),
    ("failover", ("failover",)),
)
QUICK = FULL[2:3]
_TRAFFIC = re.compile(r"sent=(\d+) ok=(\d+) failed=(\d+).*?statuses: (.*)")
_OWN_TIME = re.compile(r" in (\d+(?:\.\d+)?) s")


def switchboard(inv: Inventory, *args: str, timeout: float = ACTION_TIMEOUT
                ) -> subprocess.CompletedProcess[str]:
    """One headless command; a run past ``timeout`` is stopped and reported as exit 124."""
    argv = [common.python(), "-m", "switchboard.cli", "-i", str(inv.path), *args]
    try:
        return subprocess.run(argv, capture_output=True, text=True, env=common.env(),
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        return subprocess.CompletedProcess(argv, 124, out or "",
                                           f"no result within {timeout:g} s")


def not_measurable(inv: Inventory | None) -> str | None:
    """Why actions cannot be timed on this tree and lab, None when they can."""
    if inv is None:
        return "the lab is not up"
    proc = switchboard(inv, "reload", "--dry-run", timeout=60.0)
    if proc.returncode != 0:
        tail = (proc.stderr.strip() or proc.stdout.strip()).splitlines()[-1:]
        return (f"`switchboard reload --dry-run` exited {proc.returncode}: "
                f"{tail[0] if tail else 'no output'}")
    return None


def under_traffic(seconds: float, run: object) -> tuple[float, int, int, str, object]:
    """(seconds the call took, requests sent, failed, statuses, what ``run`` returned) with
    traffic to the VIP around the call."""
    traffic = subprocess.Popen([common.python(), "-m", "lab", "traffic", "--rate", f"{RATE:g}",
                                "--seconds", f"{seconds:g}"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, env=common.env())
    try:
        time.sleep(LEAD)
        t = time.perf_counter()
        result = run()  # type: ignore[operator]
        took = time.perf_counter() - t
    finally:
        out, _ = traffic.communicate(timeout=seconds + 30)
    m = _TRAFFIC.search(out)
    if m is None:
        raise RuntimeError(f"no traffic summary in: {out[-300:]}")
    return took, int(m.group(1)), int(m.group(3)), m.group(4).strip(), result


def conf(inv: Inventory) -> dict[str, str]:
    return {h.name: labkit.ssh(h, "cat", UPSTREAM_CONF).stdout for h in inv.proxies}


def restore(inv: Inventory, original: dict[str, str]) -> str:
    """Put every proxy's upstream file back as it was; says how."""
    if conf(inv) == original:
        return "upstream files unchanged"
    for args in (("undrain", "web2", "--yes"), ("weight", "web2", "1", "--yes")):
        switchboard(inv, *args)
    if conf(inv) == original:
        return "restored with switchboard undrain/weight"
    for h in inv.proxies:
        # The last resort: the saved text back in place, then a reload.
        p = subprocess.run(labkit.ssh_argv(h, "sh", "-c", 'cat > "$1" && nginx -s reload',
                                           "sh", UPSTREAM_CONF),
                           input=original[h.name], text=True, capture_output=True, check=False)
        if p.returncode != 0:
            return f"RESTORE FAILED on {h.name}: {p.stderr.strip()}"
    return "restored by writing the saved files back and reloading nginx"


def deadtime(host: Host) -> float | None:
    text = labkit.host_path(host, HA_CF).read_text()
    m = re.search(r"^\s*deadtime\s+(\d+(?:\.\d+)?)(ms)?", text, re.M)
    if m is None:
        return None
    return float(m.group(1)) / (1000 if m.group(2) else 1)


def main(argv: Sequence[str] | None = None) -> int:
    opts = common.options(argv, __doc__ or "")
    inv = labkit.lab_inventory()
    why = not_measurable(inv)
    if why is not None or inv is None:
        common.say(f"{NAME}: not yet measurable: {why}")
        common.summary(NAME, status="not-measurable")
        return 0
    lb1 = inv.proxies[0]
    window = 6.0 if opts.quick else 12.0
    common.header(NAME, f"each action runs {LEAD:g} s into {window:g} s of traffic at {RATE:g} "
               "req/s to the VIP; failed = client requests that got no answer or >= 400")
    floor_runs = [common.timed(lambda: labkit.ssh(lb1, "nginx", "-s", "reload"))[0]
                  for _ in range(opts.reps)]
    common.row("floor: ssh lb1 nginx -s reload (new connection)", floor_runs, "s")
    took, sent, failed, statuses, _ = under_traffic(
        window, lambda: labkit.ssh(lb1, "nginx", "-s", "reload"))
    common.say(f"  floor under traffic: nginx -s reload {took:.2f} s, failed {failed}/{sent} "
               f"({statuses})")
    dead = deadtime(lb1)
    common.say(f"  floor: Heartbeat deadtime (lb1 {HA_CF}): {dead:g} s" if dead is not None
               else "  Heartbeat deadtime: not found")
    original = conf(inv)
    times: list[float] = []
    figures: dict[str, float | int | str] = {
        "floor_reload_s": common.median(floor_runs), "deadtime_s": dead or "nan"}
    try:
        for label, args in QUICK if opts.quick else FULL:
            took, sent, failed, statuses, proc = under_traffic(
                window, lambda a=args: switchboard(inv, *a, "--yes"))
            assert isinstance(proc, subprocess.CompletedProcess)
            own = _OWN_TIME.findall(proc.stdout)
            note = f"  (its own report: {own[-1]} s)" if own else ""
            if proc.returncode != 0:
                err = proc.stderr.strip().splitlines()[-1:]
                out = proc.stdout.strip().splitlines()[-1:]
                note += (f"  EXIT {proc.returncode}: {err[0][:160] if err else ''}"
                         f" / last output: {out[0][:100] if out else '-'}")
            if took > window - LEAD:
                note += "  (outlasted the traffic window)"
            common.say(f"  switchboard {label:<14} {took:6.2f} s  failed {failed}/{sent} "
                       f"({statuses}){note}")
            key = label.replace(" ", "_")
            figures[f"{key}_s"] = took
            times.append(took)
            figures[f"{key}_failed"] = failed
    finally:
        common.say(f"  lab: {restore(inv, original)}")
    if times:
        common.say(f"  median action time {statistics.median(times):.2f} s")
    common.summary(NAME, **figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
