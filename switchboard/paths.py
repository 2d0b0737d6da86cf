"""Where Switchboard keeps its files: config, state (audit log) and the lab's runtime dir."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "switchboard"

# The lab writes its inventory here while it is up; `switchboard` alone then opens on it.
LAB_RUNTIME = Path(os.environ.get("SWITCHBOARD_LAB_DIR", "/run/switchboard-lab"))
LAB_INVENTORY = LAB_RUNTIME / "inventory.toml"


def config_dir() -> Path:
    return Path(platformdirs.user_config_dir(APP))


def state_dir() -> Path:
    return Path(platformdirs.user_state_dir(APP))


def default_inventory() -> Path:
    return config_dir() / "inventory.toml"


def audit_log() -> Path:
    return state_dir() / "audit.jsonl"
