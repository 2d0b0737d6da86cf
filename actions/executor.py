"""Runs a Plan as a transaction: lock, clean leftovers, steps, checks, undo on failure, audit.

Order of a run: audit the plan; lock every proxy the plan touches (refused if another
Switchboard holds one); find and remove ``*.switchboard-new`` leftovers; pre-checks (a failure
refuses the plan); the plan's steps in order, each judged by :mod:`actions.expect`;
post-checks. On the first failure (bad exit, expectation not met, connection lost, timeout,
interruption) nothing more runs forward and the plan's undo steps run: hosts last-changed
first, and on each host the undo steps whose ``needs`` completed there. A step whose outcome
is unknown (the connection dropped while it ran) counts as completed: every undo step is safe
to run when its forward step did not in fact happen (``mv`` of an identical backup, a reload
of an unchanged file). Waiting for a drain is not part of the transaction: the backend is
already marked down when it starts, so a drain that times out is reported, not undone.
Finally: release the locks, ask the collectors to re-read configs, audit the result and
leave a ``logger -t switchboard`` line on each proxy touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from typing import Literal

from actions import leftovers
from actions.audit import AuditLog, local_user
from actions.expect import StepRunner, StubSource, unknown_keys
from actions.intents import Drain
from actions.locks import STALE_AFTER, LockBusy, ProxyLocks
from actions.plan import Plan, Step
from actions.report import (
    CheckFailed,
    EndState,
    ExecutionResult,
    LocalCheck,
    Phase,
    Progress,
    StepRecord,
    group_rollback,
    reload_times,
    touched_hosts,
)
from actions.runner import RemoteRunner
from state.events import ActionNote
from switchboard.errors import RemoteError
from switchboard.inventory import Inventory

Level = Literal["info", "success", "warning", "error"]
ACTION_NAMES = {"SetWeight": "weight", "MarkDown": "down", "MarkUp": "up", "SetBackup": "backup",
                "Drain": "drain", "Undrain": "undrain", "Reload": "reload",
                "Failover": "failover"}
DRAIN_REPORT_EVERY = 5.0


def action_name(plan: Plan) -> str:
    return ACTION_NAMES.get(type(plan.intent).__name__, type(plan.intent).__name__.lower())


class Executor:
    """Runs plans over a :class:`RemoteRunner` for one inventory's cluster."""

    def __init__(self, runner: RemoteRunner, inventory: Inventory, *,
                 audit: AuditLog | None = None,
                 notify: Callable[[ActionNote], None] | None = None,
                 refresh: Callable[[], Awaitable[object] | object] | None = None,
                 stale_after: float = STALE_AFTER,
                 stub_status: StubSource | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.runner = runner
        self.inventory = inventory
        self.audit = audit
        self.notify = notify
        self.refresh = refresh
        self.stale_after = stale_after
        self.stub_status = stub_status
        self.clock = clock
        self.sleep = sleep
        self.sudo = {h.name: h.sudo for h in inventory.hosts}

    async def execute(self, plan: Plan, progress: Progress | None = None, *,
                      pre_checks: Sequence[LocalCheck] = (),
                      post_checks: Sequence[LocalCheck] = (),
                      config_files: Mapping[str, Sequence[str]] | None = None
                      ) -> ExecutionResult:
        """Run ``plan``; never raises for a remote failure (the result says what happened).

        ``config_files``: per proxy, the config files whose directories may hold leftovers
        (default: the files the plan edits).
        """
        run = _Run(self, plan, progress or (lambda _line: None), pre_checks, post_checks,
                   config_files)
        return await run.go()


class _Run:
    """The state of one execution: records, which step kinds completed on which host."""

    def __init__(self, ex: Executor, plan: Plan, progress: Progress,
                 pre: Sequence[LocalCheck], post: Sequence[LocalCheck],
                 config_files: Mapping[str, Sequence[str]] | None) -> None:
        self.ex = ex
        self.plan = plan
        self.progress = progress
        self.pre = pre
        self.post = post
        self.files = config_files if config_files is not None else {
            h: [e.path for e in plan.edits if e.host == h] for h in plan.hosts}
        self.steps = StepRunner(ex.runner, ex.sudo, sleep=ex.sleep, clock=ex.clock,
                                stub_status=ex.stub_status)
        self.records: list[StepRecord] = []
        self.done: dict[str, set[str]] = {}
        self.hosts = touched_hosts(plan)
        self.action = action_name(plan)
        self.start = ex.clock()
        self.leftovers: list[str] = []
        self.warnings: list[str] = []
        self.refused_step = False  # the failing step found a file changed behind our back
        self.current: Step | None = None  # the forward step running now
        self.interrupted: EndState | None = None  # the undo done after a cancellation

    # -- the run ------------------------------------------------------------------------------

    async def go(self) -> ExecutionResult:
        try:
            self._audit("plan", {**self.plan.to_json(), "ssh_users": self._ssh_users()})
        except OSError as e:
            # No action without its record: the audit log is how changes are accounted for.
            return self._refused(f"cannot write the audit log ({e}); fix its permissions or "
                                 "free some space, then try again")
        self._note(f"started: {self.plan.title}", "info")
        locks = ProxyLocks(self.ex.runner, self.ex.sudo, self.plan.title, self.ex.stale_after)
        result: ExecutionResult | None = None
        try:
            result = await self._locked(locks)
        except asyncio.CancelledError:
            end = self.interrupted
            state = end.describe() if end is not None else "nothing was changed"
            lead = "" if end is None or end.undo_failures else \
                "Rolled back: " if end.changed() else "Nothing was changed: "
            result = self._result(False, f"{self.plan.title}: interrupted. {lead}{state}", state,
                                  rollback_failed=bool(end and end.undo_failures))
            raise
        finally:
            self.warnings += await locks.release()
            if result is not None:
                result = await self._finish(result)
        return result

    async def _locked(self, locks: ProxyLocks) -> ExecutionResult:
        bad = unknown_keys([*self.plan.steps, *self.plan.rollback])
        if bad:
            return self._refused(f"this plan uses expectations the executor does not know "
                                 f"({'; '.join(bad)}); update Switchboard")
        try:
            await locks.acquire(self.hosts)
        except LockBusy as e:
            return self._refused(str(e))
        except RemoteError as e:
            return self._result(False, f"could not lock the proxies: {e}", "nothing was changed")
        for line in locks.removed:
            self.progress(line)
            self.warnings.append(line)
        self.progress(f"locked {', '.join(sorted(set(self.hosts)))}")
        await self._leftovers()
        for check in self.pre:
            rec = await self._local(check, "pre")
            if not rec.ok:
                return self._refused(f"pre-flight check failed: [{rec.host}] "
                                     f"{rec.description}: {rec.detail}", rec)
        try:
            failed = await self._forward()
        except asyncio.CancelledError:
            if self.current is not None:  # cut short mid-command: its outcome is unknown
                self.done.setdefault(self.current.host, set()).add(self.current.kind)
            self.progress("interrupted: undoing what was done")
            self.interrupted = await asyncio.shield(self._undo())
            raise
        if failed is None:
            return self._done()
        rec, undo = failed
        end = await self._undo() if undo else None
        return self._failure(rec, end)

    async def _forward(self) -> tuple[StepRecord, bool] | None:
        """Run steps then post-checks; the failing record and whether to undo, or None."""
        for number, step in enumerate(self.plan.steps, 1):
            self.current = step
            rec, outcome_unknown, refused = await self._remote(step, "step", number)
            self.current = None
            if rec.ok or outcome_unknown:
                self.done.setdefault(step.host, set()).add(step.kind)
            if not rec.ok:
                self.refused_step = refused
                return rec, bool(step.expect.get("undo_on_failure", True))
        for check in self.post:
            rec = await self._local(check, "post")
            if not rec.ok:
                self.refused_step = False
                return rec, check.undo_on_failure
        return None

    async def _undo(self) -> EndState:
        end = EndState(self.plan, self.done)
        todo = [s for s in group_rollback(self.plan)
                if s.needs is None or s.needs in self.done.get(s.host, set())]
        if todo:
            self.progress(f"undoing: {len(todo)} step(s) on "
                          f"{', '.join(dict.fromkeys(s.host for s in todo))}")
        for step in todo:
            # Every undo step runs even after another failed: each host is put back as far
            # as it can be, and every failure is named.
            rec, _unknown, _refused = await self._remote(step, "rollback", None)
            if not rec.ok:
                end.undo_failures.append((step, rec))
        return end

    # -- steps --------------------------------------------------------------------------------

    async def _remote(self, step: Step, phase: Phase, number: int | None
                      ) -> tuple[StepRecord, bool, bool]:
        t0 = self.ex.clock()
        outcome = await self.steps.run(step, self._drain_ticker(step))
        rec = StepRecord(phase, number, step.kind, step.host, step.description, outcome.ok,
                         self.ex.clock() - t0, outcome.detail, outcome.exit_status,
                         outcome.stderr)
        self._record(rec)
        return rec, outcome.unknown, outcome.refused

    async def _local(self, check: LocalCheck, phase: Phase) -> StepRecord:
        t0 = self.ex.clock()
        try:
            detail = await check.run(self.progress) or "ok"
            ok = True
        except CheckFailed as e:
            detail, ok = str(e), False
        except RemoteError as e:
            detail, ok = f"connection: {e}", False
        rec = StepRecord(phase, None, check.kind, check.host, check.description, ok,
                         self.ex.clock() - t0, detail)
        self._record(rec)
        return rec

    def _record(self, rec: StepRecord) -> None:
        self.records.append(rec)
        self.progress(rec.line())

    def _drain_ticker(self, step: Step) -> Callable[[int | None, float], None] | None:
        if step.kind != "wait_drained":
            return None
        label = getattr(self.plan.intent, "backend", "the backend")
        shown: dict[str, float | int | None] = {"n": -1, "at": -DRAIN_REPORT_EVERY}

        def tick(pending: int | None, waited: float) -> None:
            at = shown["at"] or 0.0
            if waited - at >= DRAIN_REPORT_EVERY or (pending == 0 and shown["n"] != 0):
                shown["n"], shown["at"] = pending, waited
                count = "?" if pending is None else str(pending)
                self.progress(f"draining {label}: {count} in flight from {step.host}, "
                              f"{waited:.0f} s")
        return tick

    async def _leftovers(self) -> None:
        found, problems = await leftovers.find(self.ex.runner, self.files)
        self.warnings += problems
        if not found:
            return
        for left in found:
            self.progress(f"leftover: {left.describe()}; removing it")
        self.leftovers = [left.describe() for left in found]
        self.warnings += await leftovers.clean(self.ex.runner, found, self.ex.sudo)
        self._note(f"removed {len(found)} leftover staged file(s) from an interrupted apply: "
                   + "; ".join(self.leftovers), "warning")

    # -- results ------------------------------------------------------------------------------

    def _done(self) -> ExecutionResult:
        secs = self.ex.clock() - self.start
        times = reload_times(self.records)
        hosts = ", ".join(self.plan.hosts) or ", ".join(self.hosts)
        msg = f"{self.plan.title}: done on {hosts} in {secs:.1f} s" + (f" ({times})" if times
                                                                       else "")
        return self._result(True, msg, "new config live" if self.plan.edits else "done")

    def _refused(self, why: str, rec: StepRecord | None = None) -> ExecutionResult:
        return self._result(False, f"refused: {why}", "nothing was changed", refused=True,
                            failed=rec)

    def _failure(self, rec: StepRecord, end: EndState | None) -> ExecutionResult:
        where = f"step {rec.number} " if rec.number is not None else ""
        what = f"{where}[{rec.host}] {rec.kind} ({rec.description}): {rec.detail}"
        if end is None:  # e.g. a drain wait: the change itself is in place
            state = "the change is in place (this step does not undo it)"
            if isinstance(self.plan.intent, Drain):
                state = ("the change is in place (marked down on every proxy) but the drain "
                         f"did not finish; undrain {self.plan.intent.backend} to put it back "
                         "in service")
            return self._result(False, f"FAILED: {self.plan.title}: {what}. "
                                f"{state[0].upper()}{state[1:]}", state, failed=rec)
        state = end.describe()
        refused = self.refused_step
        head = "refused" if refused else "FAILED"
        if end.undo_failures:
            lead = ""
        elif end.changed():
            lead = "Rolled back: "
        else:
            lead = "Nothing was changed: "
        msg = f"{head}: {self.plan.title}: {what}. {lead}{state}"
        return self._result(False, msg, state, refused=refused and not end.undo_failures,
                            failed=rec, rollback_failed=bool(end.undo_failures))

    def _result(self, ok: bool, message: str, end_state: str, *, refused: bool = False,
                failed: StepRecord | None = None, rollback_failed: bool = False
                ) -> ExecutionResult:
        return ExecutionResult(ok, message, self.plan.title, refused, end_state,
                               tuple(self.records), self.ex.clock() - self.start,
                               tuple(self.leftovers), tuple(self.warnings), failed,
                               rollback_failed)

    async def _finish(self, result: ExecutionResult) -> ExecutionResult:
        if self.warnings:
            result = replace(result, warnings=tuple(self.warnings))
        if self.ex.refresh is not None:
            try:
                pending = self.ex.refresh()
                if isinstance(pending, Awaitable):
                    await pending
            except Exception as e:  # a re-read failing must not hide the result
                self.progress(f"could not ask for a config re-read: {e}")
        try:
            self._audit("result", result.to_json())
        except OSError as e:
            line = f"could not write the result to the audit log: {e}"
            self.progress(line)
            result = replace(result, warnings=(*result.warnings, line))
        level: Level = "success" if result.ok else "error"
        self._note(result.message, level)
        await self._syslog(result)
        return result

    # -- side channels ------------------------------------------------------------------------

    def _audit(self, kind: str, data: Mapping[str, object]) -> None:
        if self.ex.audit is not None:
            self.ex.audit.record(kind, self.action, self.ex.inventory.name, data)

    def _note(self, message: str, level: Level) -> None:
        if self.ex.notify is None:
            return
        backend = getattr(self.plan.intent, "backend", None)
        action = self.action
        if action == "drain" and level == "error":
            action = "undrain"  # the backend is not draining any more: clear the console flag
        # The event log is a convenience: it never fails an action.
        with contextlib.suppress(Exception):
            self.ex.notify(ActionNote(time.time(), action, message, level, backend))

    def _ssh_users(self) -> dict[str, str]:
        out = {}
        for h in self.hosts:
            try:
                host = self.ex.inventory.host(h)
            except KeyError:
                continue
            out[h] = (host.ssh.user or "(ssh default)") + (" +sudo" if host.sudo else "")
        return out

    async def _syslog(self, result: ExecutionResult) -> None:
        who = f"{local_user()}@{socket.gethostname()}"
        outcome = "ok" if result.ok else "refused" if result.refused else "FAILED"
        line = f"{who}: {self.plan.title}: {outcome} ({result.duration_s:.1f} s)"
        for host in self.hosts:
            try:
                await self.ex.runner.run(host, ["logger", "-t", "switchboard", "--", line],
                                         timeout=5.0)
            except RemoteError:
                continue

