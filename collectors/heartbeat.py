"""Polls Heartbeat (cl_status) and VIP ownership on a proxy in one round trip; parses the answer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import asyncssh

from collectors.ssh import HostSession, describe_error
from state.events import Event, HaStatus
from state.ha import holds_address, nodes_and_links, one_word, sections
from switchboard.errors import RemoteError

# Every section starts with a line "@@ NAME ARGS"; cl_status never prints "@@".
# It runs as the SSH user, never through sudo: nothing here needs root. cl_status reaches
# Heartbeat's API through group haclient (Debian's is setgid haclient) and, refused, says
# "Heartbeat is stopped": the "denied" section tells that apart from a stopped Heartbeat.
# When Heartbeat is down every other cl_status call would only log sign-on errors, so skip.
SCRIPT = r"""
sec() { printf '@@ %s\n' "$*"; }
sec uname; uname -n
sec addr; ip -o addr show 2>&1
sec hbstatus; cl_status hbstatus 2>&1; rc=$?; sec rc "$rc"
if [ "$rc" != 0 ]; then
  c=$(command -v cl_status) && [ "$(id -u)" != 0 ] && ! [ -g "$c" ] && \
    ! id -Gn | grep -qw haclient && sec denied "$(id -un)"
  exit 0
fi
sec rscstatus; cl_status rscstatus 2>&1
for n in $(cl_status listnodes 2>/dev/null); do
  sec node "$n"; cl_status nodestatus "$n" 2>&1
  for l in $(cl_status listhblinks "$n" 2>/dev/null); do
    sec link "$n" "$l"; cl_status hblinkstatus "$n" "$l" 2>&1
  done
done
exit 0
"""


def parse(host: str, text: str, vip: str, at: float) -> HaStatus:
    """Turn one poll's output into an HaStatus (pure: tested on recorded output)."""
    local = ""
    running = False
    error: str | None = None
    resources = ""
    ip_lines: list[str] = []
    hb_text = ""
    parts = sections(text)
    for header, body in parts:
        kind, args = header[0], header[1:]
        if kind == "uname":
            local = one_word(body)
        elif kind == "addr":
            ip_lines = body
        elif kind == "hbstatus":
            hb_text = " ".join(ln.strip() for ln in body if ln.strip())
        elif kind == "rc":
            running = args == ["0"] and "is running" in hb_text
            if not running:
                error = hb_text or f"cl_status hbstatus exited with {args[0] if args else '?'}"
        elif kind == "rscstatus":
            resources = one_word(body)
        elif kind == "denied":
            who = args[0] if args else "the SSH user"
            error = (f"cl_status cannot reach Heartbeat as {who}, so it says \"stopped\": "
                     f"its API is for group haclient and this cl_status is not setgid "
                     f"haclient: add {who} to group haclient (`usermod -aG haclient {who}`), "
                     "then restart Switchboard (a new SSH login picks up the group)")
    if "rc" not in {h[0] for h, _ in parts}:
        error = error or "no answer from cl_status (is Heartbeat installed?)"
    nodes, links = nodes_and_links(parts)
    return HaStatus(host=host, at=at, heartbeat_running=running, local_node=local, nodes=nodes,
                    links=links, resources=resources,
                    holds_vip=holds_address(ip_lines, vip), error=error)


class HeartbeatPoller:
    """Every ``interval`` seconds, one script over the host's session; publishes HaStatus."""

    def __init__(self, session: HostSession, vip: str, publish: Callable[[Event], None], *,
                 interval: float = 1.5, clock: Callable[[], float] = time.time) -> None:
        self.session = session
        self.vip = vip
        self._publish = publish
        self._interval = interval
        self._clock = clock

    async def poll(self) -> HaStatus:
        try:
            result = await self.session.run_script(SCRIPT, check=False, privileged=False,
                                                   timeout=max(5.0, self._interval * 3))
        except (RemoteError, OSError, asyncssh.Error) as e:
            return HaStatus(self.session.name, self._clock(), heartbeat_running=False,
                            error=f"cannot poll: {describe_error(e)}")
        status = parse(self.session.name, result.stdout, self.vip, self._clock())
        if result.exit_status not in (0, None) and status.error is None:
            return HaStatus(status.host, status.at, False,
                            error=f"poll script failed ({result.exit_status}): "
                                  f"{result.stderr.strip()[-200:]}"
                                  + (f"; {result.hint}" if result.hint else ""))
        return status

    async def run(self) -> None:
        while True:
            await self.session.connection()
            self._publish(await self.poll())
            await asyncio.sleep(self._interval)
