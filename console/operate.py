"""From a key and the selected backend to an intent; how hard confirming it is: actions.confirm."""

from __future__ import annotations

from actions import intents
from actions.confirm import confirm_word as confirm_word
from actions.confirm import target
from state.snapshot import BackendView


def toggle_down(b: BackendView) -> intents.MarkDown | intents.MarkUp:
    if b.state == "down" or (b.config is not None and b.config.down):
        return intents.MarkUp(target(b), upstream=b.upstream)
    return intents.MarkDown(target(b), upstream=b.upstream)


def toggle_backup(b: BackendView) -> intents.SetBackup:
    on = not (b.state == "backup" or (b.config is not None and b.config.backup))
    return intents.SetBackup(target(b), on=on, upstream=b.upstream)


def toggle_drain(b: BackendView) -> intents.Drain | intents.Undrain:
    down = b.state in ("draining", "down") or (b.config is not None and b.config.down)
    if down:
        return intents.Undrain(target(b), upstream=b.upstream)
    return intents.Drain(target(b), upstream=b.upstream)


def set_weight(b: BackendView, weight: int) -> intents.SetWeight:
    return intents.SetWeight(target(b), weight, upstream=b.upstream)


def describe(intent: object) -> str:
    text = getattr(intent, "describe", None)
    return str(text()) if callable(text) else repr(intent)
