"""Runs one plan step and judges its output against the step's ``expect`` (see actions.plan)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass

from actions.plan import Step, verify_dump
from actions.runner import Completed, RemoteRunner
from switchboard.errors import RemoteError
from switchboard.remote import privileged

KNOWN_KEYS = frozenset({"exit", "sha256", "record", "workers_changed_from", "timeout",
                        "servers", "empty", "interval", "stdout_in", "stub_status",
                        "undo_on_failure"})
COMMAND_TIMEOUT = 30.0
WORKERS_TIMEOUT = 10.0
POLL_TIMEOUT = 30.0
POLL_INTERVAL = 0.25
WORKERS_INTERVAL = 0.1

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]
OnPoll = Callable[[int | None, float], None]  # what is still pending, seconds waited so far
# A backend's active connections from its stub_status (None: not known yet).
StubSource = Callable[[str], int | None]


@dataclass(frozen=True)
class Outcome:
    """How a step ended. ``unknown``: the command may or may not have run (connection lost,
    timeout); the executor then treats the step as done when deciding what to undo."""

    ok: bool
    detail: str
    exit_status: int | None = None
    stdout: str = ""
    stderr: str = ""
    unknown: bool = False
    refused: bool = False  # the live file changed behind our back: nothing may proceed
    timed_out: bool = False  # a polled expectation never came true


def unknown_keys(steps: Sequence[Step]) -> list[str]:
    """Expect keys no code here honours: a plan using them must not run."""
    return sorted({f"[{s.host}] {s.kind}: {k}" for s in steps for k in s.expect
                   if k not in KNOWN_KEYS})


def live_workers(stdout: str) -> set[str]:
    """PIDs of the workers of the current generation in ``ps -o pid=,args=`` output."""
    out: set[str] = set()
    for line in stdout.splitlines():
        if "worker process" in line and "shutting down" not in line:
            pid = line.split(None, 1)[0] if line.strip() else ""
            if pid.isdigit():
                out.add(pid)
    return out


def _lines(text: str) -> int:
    return len([ln for ln in text.splitlines() if ln.strip()])


def short(text: str, limit: int = 600) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + " …"


def said(done: Completed) -> str:
    """What a failed command said (stderr, else stdout), and what to do if it was refused."""
    text = short(done.stderr) or short(done.stdout) or "-"
    return f"{text}; {done.hint}" if done.hint else text


class StepRunner:
    """Runs steps through a runner, keeping the values steps ``record`` for later steps."""

    def __init__(self, runner: RemoteRunner, sudo: MutableMapping[str, bool] | None = None,
                 *, sleep: Sleep = asyncio.sleep, clock: Clock = time.monotonic,
                 stub_status: StubSource | None = None) -> None:
        self.runner = runner
        self.stub_status = stub_status
        self.sudo = sudo if sudo is not None else {}
        self.records: dict[str, str] = {}
        self.sleep = sleep
        self.clock = clock

    def argv(self, step: Step) -> list[str]:
        """The step's argv as sent: through ``sudo -n`` only when it needs root and the host
        asks for sudo."""
        return privileged(step.argv, sudo=step.root and self.sudo.get(step.host, False))

    async def once(self, step: Step,
                   timeout: float = COMMAND_TIMEOUT) -> Completed:  # noqa: ASYNC109
        return await self.runner.run(step.host, self.argv(step), input=step.stdin,
                                     timeout=timeout)

    async def run(self, step: Step, on_poll: OnPoll | None = None) -> Outcome:
        exp = step.expect
        try:
            if "stub_status" in exp:
                return await self._stub(step, on_poll)
            if "workers_changed_from" in exp:
                return await self._workers(step)
            if "empty" in exp or "stdout_in" in exp:
                return await self._poll(step, on_poll)
            done = await self.once(step, float(exp.get("timeout", COMMAND_TIMEOUT)))
        except RemoteError as e:
            return Outcome(False, f"connection: {e}; the command's outcome is unknown",
                           unknown=True)
        return self._judge(step, done)

    def _judge(self, step: Step, done: Completed) -> Outcome:
        exp = step.expect
        want = int(exp.get("exit", 0))
        if done.exit_status != want:
            why = f"exit {done.exit_status}" if done.exit_status is not None else \
                "killed (no exit status)"
            refused = step.kind == "swap" and done.exit_status == 3
            return Outcome(False, f"{why}: {said(done)}",
                           done.exit_status, done.stdout, done.stderr, refused=refused)
        if "sha256" in exp:
            words = done.stdout.split()
            got = words[0] if words else "(nothing)"
            if got != exp["sha256"]:
                path = step.argv[-1] if step.argv else "the file"
                return Outcome(False, f"{path} changed since the plan was made (sha256 {got[:12]}"
                               f"…, the plan was built from {str(exp['sha256'])[:12]}…); "
                               "nothing was changed: re-read the config and plan again",
                               done.exit_status, done.stdout, done.stderr, refused=True)
        if "servers" in exp:
            problems = verify_dump(step, done.stdout)
            if problems:
                return Outcome(False, "; ".join(problems), done.exit_status, done.stdout,
                               done.stderr)
        if "record" in exp:
            self.records[str(exp["record"])] = done.stdout
        return Outcome(True, "ok", done.exit_status, done.stdout, done.stderr)

    async def _workers(self, step: Step) -> Outcome:
        key = str(step.expect["workers_changed_from"])
        if key not in self.records:
            return Outcome(False, f"no worker PIDs were recorded under {key!r} before this step")
        old = live_workers(self.records[key])
        timeout = float(step.expect.get("timeout", WORKERS_TIMEOUT))
        start = self.clock()
        last = Completed(None, "", "")
        while True:
            last = await self.once(step, min(COMMAND_TIMEOUT, max(timeout, 1.0)))
            new = live_workers(last.stdout)
            if last.exit_status == 0 and new and not new & old:
                return Outcome(True, f"new workers {' '.join(sorted(new))}", 0, last.stdout,
                               last.stderr)
            waited = self.clock() - start
            if waited >= timeout:
                break
            await self.sleep(WORKERS_INTERVAL)
        if last.exit_status != 0:
            why = f"the nginx master is not running (exit {last.exit_status}: {said(last)})"
        elif not live_workers(last.stdout):
            why = "the nginx master has no live worker"
        else:
            why = (f"still the old workers ({' '.join(sorted(old))}) after {timeout:g} s: nginx "
                   "did not load the new configuration (see its error log)")
        return Outcome(False, why, last.exit_status, last.stdout, last.stderr, timed_out=True)

    async def _poll(self, step: Step, on_poll: OnPoll | None) -> Outcome:
        exp = step.expect
        timeout = float(exp.get("timeout", POLL_TIMEOUT))
        interval = float(exp.get("interval", POLL_INTERVAL))
        want_in = [str(s) for s in exp.get("stdout_in", ())]
        start = self.clock()
        while True:
            last = await self.once(step, min(COMMAND_TIMEOUT, max(timeout, 1.0)))
            out = last.stdout.strip()
            if last.exit_status == int(exp.get("exit", 0)):
                if "empty" in exp and not out:
                    return Outcome(True, "ok", last.exit_status, last.stdout, last.stderr)
                if want_in and out in want_in:
                    return Outcome(True, out, last.exit_status, last.stdout,
                                   last.stderr)
            waited = self.clock() - start
            if on_poll:
                on_poll(_lines(last.stdout), waited)
            if waited >= timeout:
                break
            await self.sleep(interval)
        if last.exit_status != int(exp.get("exit", 0)):
            why = f"exit {last.exit_status}: {said(last)}"
        elif "empty" in exp:
            rows = [" ".join(ln.split()) for ln in last.stdout.splitlines() if ln.strip()]
            more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
            why = (f"still {len(rows)} after {timeout:g} s: {'; '.join(rows[:3])}{more}")
        else:
            why = (f"got {short(out, 80)!r} after {timeout:g} s, expected one of "
                   f"{', '.join(want_in)}")
        return Outcome(False, why, last.exit_status, last.stdout, last.stderr, timed_out=True)

    async def _stub(self, step: Step, on_poll: OnPoll | None) -> Outcome:
        """Wait until the backend's stub_status counts only the poller's own connection."""
        backend = str(step.expect["stub_status"])
        if self.stub_status is None:
            return Outcome(False, f"no stub_status reading for {backend} is available here; "
                           "watch its active connections by hand")
        timeout = float(step.expect.get("timeout", POLL_TIMEOUT))
        interval = float(step.expect.get("interval", 1.0))
        start = self.clock()
        active: int | None = None
        while True:
            active = self.stub_status(backend)
            if active is not None and active <= 1:
                return Outcome(True, f"ok ({backend}: {active} active connection, the poller's)")
            waited = self.clock() - start
            if on_poll:
                on_poll(None if active is None else active - 1, waited)
            if waited >= timeout:
                break
            await self.sleep(interval)
        what = "no stub_status reading" if active is None else f"{active - 1} connection(s)"
        return Outcome(False, f"{backend}: still {what} after {timeout:g} s", timed_out=True)
