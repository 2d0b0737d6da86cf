"""The `lab` fixture: one real lab per test session, reused if it is already up."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from switchboard import inventory
from switchboard.inventory import Inventory

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Lab:
    inventory_path: Path
    inventory: Inventory
    started_here: bool


def lab_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `python -m lab ...` (the same code as `switchboard lab ...`)."""
    return subprocess.run([sys.executable, "-m", "lab", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, check=False)


def lab_is_up() -> bool:
    """Up and whole: a lab whose processes died (a reboot, a stopped session) is not up."""
    out = lab_cli("status").stdout
    return out.startswith("lab: inventory") and "(dead)" not in out and ": nobody" not in out


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.fail("lab tests need root on Linux (run them as root, or deselect -m 'not lab')")
    was_up = lab_is_up()
    proc = lab_cli("up")
    assert proc.returncode == 0, proc.stderr
    path = Path(proc.stdout.strip().splitlines()[-1])
    assert path.suffix == ".toml" and path.is_absolute()
    yield Lab(path, inventory.load(path), started_here=not was_up)
    if not was_up:
        lab_cli("down")
