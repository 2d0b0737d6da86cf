"""Headless actions: a proxy that never answers is a clear error, never a traceback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from switchboard.commands.actions import wait_ready
from switchboard.errors import RemoteError
from switchboard.inventory import parse
from tests.unit import console_fixtures as fx

INVENTORY = parse("""
[cluster]
name = "lab"
vip = "198.18.0.100"
[[hosts]]
name = "lb1"
role = "lb"
address = "198.18.0.11"
[[hosts]]
name = "lb2"
role = "lb"
address = "198.18.0.12"
""")


class _Hanging:
    async def read_configs(self) -> None:
        await asyncio.Event().wait()


async def test_an_unanswered_config_read_names_the_proxies() -> None:
    feed: Any = fx.FakeFeed(fx.disconnected())
    with pytest.raises(RemoteError) as info:
        await wait_ready(feed, _Hanging(), INVENTORY, need_ha=True,  # type: ignore[arg-type]
                         within=0.2)
    message = str(info.value)
    assert message.startswith("lb2: no answer (nginx -T) within 0.2 s")
    assert "Connection refused" in message and "check SSH" in message
