"""Intents become plans (diffs and remote steps); an executor runs them as transactions."""

from actions.builder import DriftError, build_plan
from actions.edits import Change, EditError, edit_server
from actions.intents import (
    Drain,
    Failover,
    Intent,
    MarkDown,
    MarkUp,
    Reload,
    SetBackup,
    SetWeight,
    Undrain,
)
from actions.plan import FileEdit, Plan, Step, verify_dump
from actions.rules import Refused, resolve_backend

__all__ = [
    "Change",
    "Drain",
    "DriftError",
    "EditError",
    "Failover",
    "FileEdit",
    "Intent",
    "MarkDown",
    "MarkUp",
    "Plan",
    "Refused",
    "Reload",
    "SetBackup",
    "SetWeight",
    "Step",
    "Undrain",
    "build_plan",
    "edit_server",
    "resolve_backend",
    "verify_dump",
]
