"""The short soak on the lab (the long one: `switchboard lab soak`, 30 minutes by default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab import soak
from tests.lab.conftest import Lab

pytestmark = [pytest.mark.lab, pytest.mark.slow]


async def test_short_soak_loses_no_line_and_does_not_grow(lab: Lab, tmp_path: Path) -> None:
    report = await soak.soak(lab.inventory, seconds=75, rate=5000, traffic_rate=40,
                             sample_every=5, audit_path=tmp_path / "audit.jsonl")
    print(report.render())
    assert report.problems() == []
    # It really ran: lines were written and seen, the actions ran, the app kept refreshing.
    assert report.synthetic > 0
    assert sum(report.seen.values()) >= report.synthetic
    assert [a.split(":")[0] for a in report.actions] == [
        "drain web1", "undrain web1", "fail over to the standby"]
    assert report.samples[-1].ticks > report.samples[0].ticks
