"""Leak forensics for a Textual app: closed widgets still alive, who made them, what holds them."""

from __future__ import annotations

import gc
import tracemalloc
import types
import weakref
from collections import Counter
from collections.abc import Callable

from textual.app import App
from textual.dom import DOMNode

MAX_DEPTH = 10  # referrer steps searched between a closed widget and a live one


def nodes() -> list[DOMNode]:
    """Every DOM node alive, in the app's DOM or not."""
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, DOMNode)]


class Census:
    """The DOM nodes alive at one moment, to tell apart the ones made after it."""

    def __init__(self) -> None:
        self._before: weakref.WeakSet[DOMNode] = weakref.WeakSet(nodes())

    def detached_since(self) -> list[DOMNode]:
        """Nodes made since the census, alive, and no longer in the app's DOM."""
        return [o for o in nodes() if o not in self._before and not isinstance(o, App)
                and not o.is_attached]


def made_at(node: DOMNode, root: str, limit: int = 8) -> list[str]:
    """Where ``node`` was created (tracemalloc), innermost call first, paths shortened."""
    # Python 3.11 finds no trace for objects whose dict is inline: the containers that
    # DOMNode.__init__ makes are allocated in the same call and stand in for the node
    # (either may come from a free list, which tracemalloc does not see).
    parts: tuple[object, ...] = (node, node._classes, node._component_styles)
    trace = next((t for t in map(tracemalloc.get_object_traceback, parts) if t), None)
    if trace is None:
        return ["(no allocation trace found)"]
    return [f"{f.filename.replace(root, '').split('site-packages/')[-1]}:{f.lineno}"
            for f in list(reversed(trace))[:limit]]


def _step(holder: object, held: object) -> str:
    """How ``holder`` refers to ``held``, in a few words."""
    if isinstance(holder, dict):
        keys = [k for k, v in holder.items() if v is held][:1]
        return f"dict[{keys[0]!r}]" if keys else "dict (as a key)"
    if isinstance(holder, list | tuple):
        return f"{type(holder).__name__} of {len(holder)}"
    if isinstance(holder, types.CellType):
        return "closure cell"
    if isinstance(holder, types.FunctionType):
        return f"function {holder.__qualname__}"
    return repr(holder)[:80]


def _live(o: object) -> bool:
    """Whether ``o`` lives as long as the app: an attached DOM node, the app, a module."""
    if isinstance(o, DOMNode):
        return isinstance(o, App) or o.is_attached
    return isinstance(o, types.ModuleType | type)


def holders(node: DOMNode, *, ignore: tuple[object, ...] = ()) -> list[str]:
    """The shortest chain of references from a live DOM node (or a module) to ``node``,
    outermost first; empty when none is found within MAX_DEPTH steps."""
    objs: dict[int, object] = {id(node): node}
    parent: dict[int, int] = {}  # id(holder) -> id(what it holds)
    skip = {id(x) for x in ignore} | {id(objs)}
    frontier: list[object] = [node]
    for _ in range(MAX_DEPTH):
        found: list[object] = []
        skip.update((id(frontier), id(found)))
        for held in frontier:
            for holder in gc.get_referrers(held):
                key = id(holder)
                if key in objs or key in skip or isinstance(holder, types.FrameType):
                    continue
                objs[key], parent[key] = holder, id(held)
                if _live(holder):
                    return _chain(key, id(node), objs, parent)
                found.append(holder)
        frontier = found
    return []


def _chain(top: int, bottom: int, objs: dict[int, object], parent: dict[int, int]
           ) -> list[str]:
    out = []
    key = top
    while key != bottom:
        held = parent[key]
        out.append(_step(objs[key], objs[held]))
        key = held
    return [*out, type(objs[bottom]).__name__]


def report(census: Census, root: str, say: Callable[[str], None]) -> Counter[str]:
    """Say which widgets made since ``census`` were closed but are still alive, where one
    was made and what holds it; their counts by type."""
    closed = census.detached_since()
    counts = Counter(type(n).__name__ for n in closed)
    if not closed:
        say("  widgets made since tracing began, closed and still alive: none")
        return counts
    say("  widgets made since tracing began, closed and still alive: "
        + ", ".join(f"{name} {n:,}" for name, n in counts.most_common(6)))
    worst = counts.most_common(1)[0][0]
    sample = next(n for n in closed if type(n).__name__ == worst)
    say(f"    one {worst} was made at: " + " <- ".join(made_at(sample, root)))
    chain = holders(sample, ignore=(closed,))
    say(f"    and is held by: {' -> '.join(chain) if chain else 'no live owner found'}")
    return counts
