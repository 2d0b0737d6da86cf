"""The key footer: Textual's Footer, minus the keys it leaks each time it is rebuilt."""

from __future__ import annotations

from textual.dom import DOMNode
from textual.widgets import Footer as TextualFooter


def forget_closed_watchers(node: DOMNode) -> int:
    """Drop the watchers that closed (removed) nodes left on ``node``; how many went.

    ``watch()`` and ``data_bind()`` store the watching node on the watched one, and Textual
    drops it only when the watched value next changes (textual#6666). A value that never
    changes keeps every node that ever watched it, with all its styles and caches.
    """
    watchers: dict[str, list[tuple[DOMNode, object]]] = getattr(node, "__watchers", {})
    dropped = 0
    for entries in watchers.values():
        alive = [(watcher, callback) for watcher, callback in entries
                 if not watcher._closing]
        dropped += len(entries) - len(alive)
        entries[:] = alive
    return dropped


class Footer(TextualFooter):
    """Rebuilt on every change of the bindings (a screen pushed or popped, focus moved).

    Each rebuild makes new keys that watch this footer's ``compact``; the old keys are
    removed, but their watchers stayed behind, and with them the keys (some 25 KiB each
    with their styles and caches): nine keys per rebuild, two rebuilds each time help
    opens and closes.
    """

    async def recompose(self) -> None:
        await super().recompose()
        forget_closed_watchers(self)
