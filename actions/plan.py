"""Plans as data: steps with exact argv, per-host file diffs, text/rich rendering, audit JSON.

An executor runs ``plan.steps`` in order, each on ``step.host`` (wrapping ``step.argv`` with
``switchboard.remote.privileged`` when the step needs root (``step.root``) and the host's
inventory asks for sudo; reads the SSH user can do run without sudo; ``step.stdin`` is fed)
and checks the step's ``expect``. When a step fails it stops and runs ``plan.rollback``:
hosts in reverse order of ``plan.hosts``, and for each host, in listed order, every undo step
whose ``needs`` (a forward step kind) completed on that host. See :mod:`actions.builder` for
why these steps keep a broken config from ever being live.

``expect`` keys an executor must honour:

- ``exit``: required exit status (default 0).
- ``sha256``: stdout's first word must equal it (the file is unchanged since it was read).
- ``record``: store stdout under this name (worker PIDs before the reload).
- ``workers_changed_from``: stdout lists live workers (lines with ``worker process`` and not
  ``shutting down``), there is at least one, and none was in the recorded set; poll up to
  ``timeout`` seconds, the master is alive when the command succeeds at all.
- ``servers``: ``nginx -T`` output; pass it to :func:`verify_dump`, which must return no problem.
- ``empty``: stdout must become empty; poll every ``interval`` s for up to ``timeout`` s.
- ``stdout_in``: stdout (stripped) must be one of these strings; poll up to ``timeout`` s.
- ``stub_status``: no argv; wait until that backend's stub_status shows only the poller's
  own connection, up to ``timeout`` s.
- ``undo_on_failure: False``: a failure is reported but does not roll the plan back (a drain
  that outlasts its timeout leaves the server down, which is what was asked).
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rich.console import Group
from rich.text import Text

from actions.intents import Intent, intent_json
from state.nginxconf import NginxConfigError
from switchboard.nginx_parse import parse_dump
from switchboard.remote import command

StepKind = Literal["stage", "test", "backup", "swap", "reload", "verify", "rollback",
                   "hb_standby", "hb_takeover", "wait_drained", "check"]
Risk = Literal["normal", "risky"]

STAGED_SUFFIX = ".switchboard-new"
BACKUP_SUFFIX = ".switchboard-bak"


def side_path(path: str, prefix: str, suffix: str) -> str:
    """``/d/f`` -> ``/d/<prefix>f<suffix>``: a copy in the same directory (same filesystem)."""
    head, _, name = path.rpartition("/")
    return f"{head}/{prefix}{name}{suffix}"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Step:
    """One remote command of a plan."""

    kind: StepKind
    host: str
    description: str
    argv: tuple[str, ...]
    stdin: str | None = None
    expect: Mapping[str, Any] = field(default_factory=dict)
    needs: StepKind | None = None  # rollback steps only: run if this kind completed on host
    root: bool = True  # needs root: through `sudo -n` where the inventory asks for sudo

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "host": self.host,
                               "description": self.description, "argv": list(self.argv),
                               "root": self.root}
        if self.stdin is not None:
            out["stdin_sha256"] = sha256(self.stdin)
        if self.expect:
            out["expect"] = dict(self.expect)
        if self.needs:
            out["needs"] = self.needs
        return out


@dataclass(frozen=True)
class FileEdit:
    """The whole new text of one file on one host, and the text it replaces."""

    host: str
    path: str
    old_text: str
    new_text: str
    old_sha256: str
    side_prefix: str = ""  # "." hides the staged/backup copies from an `include dir/*` glob

    @property
    def new_sha256(self) -> str:
        return sha256(self.new_text)

    @property
    def staged_path(self) -> str:
        return side_path(self.path, self.side_prefix, STAGED_SUFFIX)

    @property
    def backup_path(self) -> str:
        return side_path(self.path, self.side_prefix, BACKUP_SUFFIX)

    def diff(self) -> str:
        lines = difflib.unified_diff(
            self.old_text.splitlines(keepends=True), self.new_text.splitlines(keepends=True),
            fromfile=f"a{self.path}", tofile=f"b{self.path}",
            fromfiledate=self.host, tofiledate=self.host)
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                       for line in lines)

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "path": self.path, "old_sha256": self.old_sha256,
                "new_sha256": self.new_sha256, "diff": self.diff()}


@dataclass(frozen=True)
class Plan:
    """Everything an intent will do, printable before anything runs."""

    intent: Intent
    title: str
    risk: Risk
    steps: tuple[Step, ...]
    edits: tuple[FileEdit, ...]
    rollback: tuple[Step, ...] = ()
    hosts: tuple[str, ...] = ()  # in the order they are changed (standby first)
    changes: tuple[str, ...] = ()  # one human line per server line changed
    warnings: tuple[str, ...] = ()

    def render(self) -> str:
        """Plain text for ``--dry-run`` and the confirm screen."""
        out = [f"Plan: {self.title}" + ("   [RISKY]" if self.risk == "risky" else "")]
        out += _section("Changes", self.changes)
        out += _section("Warnings", self.warnings)
        if self.edits:
            out.append("Diffs:")
            out += [e.diff().rstrip("\n") for e in self.edits]
        out += _section("Steps (commands marked (root) go through sudo -n on a host with "
                        "sudo = true)",
                        [_step_line(i, s) for i, s in enumerate(self.steps, 1)])
        out += _section("On failure, undo (each host, last changed first)",
                        [_step_line(None, s) for s in self.rollback])
        return "\n".join(out) + "\n"

    def __rich__(self) -> Group:
        parts: list[Text] = []
        title = Text(f"Plan: {self.title}", style="bold")
        if self.risk == "risky":
            title.append("  RISKY", style="bold reverse red")
        parts.append(title)
        for head, lines, style in (("Changes", self.changes, ""),
                                   ("Warnings", self.warnings, "yellow")):
            if lines:
                parts.append(Text(f"{head}:", style="bold"))
                parts += [Text(f"  {line}", style=style) for line in lines]
        for edit in self.edits:
            parts.append(_rich_diff(edit.diff()))
        parts.append(Text("Steps:", style="bold"))
        for i, step in enumerate(self.steps, 1):
            parts.append(Text(_step_line(i, step), style="dim" if step.kind == "check" else ""))
        if self.rollback:
            parts.append(Text("On failure, undo:", style="bold"))
            parts += [Text(_step_line(None, s), style="dim") for s in self.rollback]
        return Group(*parts)

    def to_json(self) -> dict[str, Any]:
        """The plan for the audit log (texts as diffs and hashes, not whole files)."""
        return {"intent": intent_json(self.intent), "title": self.title, "risk": self.risk,
                "hosts": list(self.hosts), "changes": list(self.changes),
                "warnings": list(self.warnings), "edits": [e.to_json() for e in self.edits],
                "steps": [s.to_json() for s in self.steps],
                "rollback": [s.to_json() for s in self.rollback]}


def _section(head: str, lines: Sequence[str]) -> list[str]:
    return [f"{head}:", *(f"  {line}" for line in lines)] if lines else []


def _step_line(number: int | None, step: Step) -> str:
    lead = f"{number:>2}. " if number is not None else "  - "
    root = "   (root)" if step.root else ""
    cmd = f"\n        $ {command(*step.argv)}{root}" if step.argv else ""
    return f"{lead}[{step.host}] {step.kind}: {step.description}{cmd}"


def _rich_diff(diff: str) -> Text:
    text = Text()
    for line in diff.splitlines(keepends=True):
        if line.startswith(("---", "+++")):
            style = "bold"
        elif line.startswith("@@"):
            style = "cyan"
        elif line.startswith("+"):
            style = "green"
        elif line.startswith("-"):
            style = "red"
        else:
            style = ""
        text.append(line, style=style)
    return text


def verify_dump(step: Step, dump: str) -> list[str]:
    """Problems found when the re-read ``nginx -T`` lacks the server lines a plan wrote."""
    try:
        config = parse_dump(dump, step.host)
    except NginxConfigError as exc:
        return [str(exc)]
    problems: list[str] = []
    for want in step.expect.get("servers", ()):
        ups = next((u for u in config.upstreams if u.name == want["upstream"]), None)
        srv = ups.server(want["address"]) if ups else None
        if srv is None:
            problems.append(f"{step.host}: {want['upstream']}: {want['address']} not found")
        elif [srv.address, *srv.args] != list(want["args"]):
            problems.append(f"{step.host}: {want['upstream']}: nginx -T shows `server "
                            f"{' '.join([srv.address, *srv.args])}`, expected `server "
                            f"{' '.join(want['args'])}`")
    return problems
