"""A command issued right after the connection dropped waits for the next connection."""

from __future__ import annotations

import asyncio

from collectors.ssh import HostSession
from collectors.supervisor import Backoff

from .collectors_sshd import Events, Sshd, sshd  # noqa: F401


async def test_run_right_after_drop_uses_the_next_connection(sshd: Sshd) -> None:  # noqa: F811
    sshd.trust()
    events = Events()
    session = HostSession(sshd.host(), events, backoff=Backoff(0.05, 0.4))
    task = asyncio.create_task(session.maintain())
    try:
        await events.until(lambda: session.connected)
        session.drop()
        # No await between: the dying connection must not be handed out.
        result = await session.run(["echo", "after"], timeout=10)
        assert result.stdout == "after\n" and session.generation == 2
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
