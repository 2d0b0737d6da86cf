"""What a run of a plan did: one record per step, the result, and the words for its end state."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from actions.plan import Plan, Step

Phase = Literal["pre", "step", "post", "rollback"]
Progress = Callable[[str], None]


class CheckFailed(Exception):
    """A local check (pre-flight or post-check) found a problem; the message says which."""


@dataclass(frozen=True)
class LocalCheck:
    """A check run from this machine with Python (HA view, HTTP through the VIP...), beside
    the plan's remote steps. A failing pre-check refuses the plan before anything changes;
    a failing post-check rolls the plan back unless ``undo_on_failure`` is off."""

    kind: str
    host: str
    description: str
    run: Callable[[Progress], Awaitable[str | None]]  # raises CheckFailed; returns a detail
    undo_on_failure: bool = True


@dataclass(frozen=True)
class StepRecord:
    """One step as it ran: where, how long, how it ended."""

    phase: Phase
    number: int | None
    kind: str
    host: str
    description: str
    ok: bool
    seconds: float
    detail: str
    exit_status: int | None = None
    stderr: str = ""
    skipped: bool = False

    def line(self) -> str:
        """"[lb2] reload: ok (0.3 s)"; undo steps and checks also say what they are."""
        lead = "undo " if self.phase == "rollback" else ""
        what = {"step": self.kind, "rollback": self.description}.get(
            self.phase, f"{self.kind} {self.description}")
        state = "ok" if self.ok else "FAILED"
        tail = "" if self.ok and self.detail in ("", "ok") else f": {self.detail}"
        return f"{lead}[{self.host}] {what}: {state} ({self.seconds:.1f} s){tail}"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"phase": self.phase, "kind": self.kind, "host": self.host,
                               "description": self.description, "ok": self.ok,
                               "seconds": round(self.seconds, 3), "detail": self.detail}
        if self.number is not None:
            out["number"] = self.number
        if self.exit_status is not None:
            out["exit_status"] = self.exit_status
        if self.stderr and not self.ok:
            out["stderr"] = self.stderr[-2000:]
        return out


@dataclass(frozen=True)
class ExecutionResult:
    """The end of an action: the console's ``ActionResult`` (``ok``, ``message``) and more."""

    ok: bool
    message: str
    title: str = ""
    refused: bool = False  # nothing was attempted: lock held, file changed, pre-check failed
    end_state: str = ""
    records: tuple[StepRecord, ...] = ()
    duration_s: float = 0.0
    leftovers: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    failed: StepRecord | None = None
    rollback_failed: bool = False

    @property
    def exit_code(self) -> int:
        """What the CLI exits with: 0 done, 2 refused, 1 failed."""
        return 0 if self.ok else 2 if self.refused else 1

    def to_json(self) -> dict[str, Any]:
        return {"title": self.title, "ok": self.ok, "refused": self.refused,
                "message": self.message, "end_state": self.end_state,
                "duration_s": round(self.duration_s, 3),
                "steps": [r.to_json() for r in self.records if r.phase != "rollback"],
                "rollback": [r.to_json() for r in self.records if r.phase == "rollback"],
                "rollback_failed": self.rollback_failed,
                "leftovers": list(self.leftovers), "warnings": list(self.warnings)}


@dataclass
class EndState:
    """Per host: what was changed and what the undo managed, to say where things stand."""

    plan: Plan
    done: Mapping[str, set[str]]
    undo_failures: list[tuple[Step, StepRecord]] = field(default_factory=list)

    def changed(self) -> bool:
        """Whether any host was changed before the failure (else there was nothing to undo
        but staged copies)."""
        kinds = {"swap", "reload", "hb_standby", "hb_takeover"}
        return any(done & kinds for done in self.done.values())

    def describe(self) -> str:
        loud = " ".join(self._loud(step, rec) for step, rec in self.undo_failures)
        if any(step.needs != "stage" for step, _rec in self.undo_failures):
            return loud
        # Only staged copies are left: which config runs is still known, so say it first.
        state = self._live()
        return f"{state}. {loud}" if loud else state

    def _live(self) -> str:
        if any(s.kind in ("hb_standby", "hb_takeover") for s in self.plan.steps):
            return self._failover()
        if not self.plan.edits:
            return "no file was changed"
        hosts = list(self.plan.hosts)
        restored = [h for h in hosts if "swap" in self.done.get(h, set())]
        where = "both proxies" if len(hosts) == 2 else \
            f"{hosts[0]}" if len(hosts) == 1 else f"all {len(hosts)} proxies"
        if not restored:
            return f"old config on {where}"
        return f"old config on {where} ({', '.join(restored)} restored from the backup)"

    def _failover(self) -> str:
        active = self.plan.hosts[-1] if self.plan.hosts else "the active proxy"
        standby = self.plan.hosts[0] if self.plan.hosts else "the standby"
        if not any("hb_standby" in kinds for kinds in self.done.values()):
            return f"the VIP stays on {active} (no resource was moved)"
        return f"{active} took the resources back (hb_takeover ran; {standby} is standby again)"

    def _loud(self, step: Step, rec: StepRecord) -> str:
        host = step.host
        edits = [e for e in self.plan.edits if e.host == host]
        files = ", ".join(e.path for e in edits)
        backups = ", ".join(e.backup_path for e in edits)
        if step.kind == "rollback" and step.needs == "swap":
            state = (f"{host} is LEFT WITH THE NEW FILE {files} (tested, but not the config "
                     f"you had); the old one is {backups}: move it back and reload by hand")
        elif step.kind == "reload":
            state = (f"{host} has the old file back but nginx still RUNS THE NEW CONFIG: "
                     "run `nginx -t && nginx -s reload` there by hand")
        elif step.kind == "hb_takeover":
            state = (f"the VIP may still be on the other proxy: check `cl_status rscstatus` on "
                     f"both and run hb_takeover on {host} by hand if needed")
        elif step.kind == "rollback" and step.needs == "stage":
            state = f"a staged copy is left beside {files} on {host} (the next run removes it)"
        else:
            state = f"{host} is in an unknown state: check it by hand"
        return (f"ROLLBACK FAILED on {host}: {step.description}: {rec.detail}. {state}.")


def group_rollback(plan: Plan) -> list[Step]:
    """Undo steps ordered hosts last-changed first, each host's steps in listed order."""
    order = list(dict.fromkeys([*reversed(plan.hosts), *(s.host for s in plan.rollback)]))
    return [s for host in order for s in plan.rollback if s.host == host]


def touched_hosts(plan: Plan) -> list[str]:
    return list(dict.fromkeys([*plan.hosts, *(s.host for s in plan.steps),
                               *(s.host for s in plan.rollback)]))


def reload_times(records: Sequence[StepRecord]) -> str:
    """"reload lb2 0.3 s, lb1 0.3 s": from the reload command until new workers were seen."""
    parts: list[str] = []
    for i, r in enumerate(records):
        if r.phase == "step" and r.kind == "reload" and r.ok:
            secs = r.seconds
            after = records[i + 1] if i + 1 < len(records) else None
            if after is not None and after.host == r.host and after.kind == "verify":
                secs += after.seconds
            parts.append(f"{r.host} {secs:.1f} s")
    return f"reload {', '.join(parts)}" if parts else ""
