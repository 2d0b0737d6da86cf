"""A broken inventory stops every command with one line naming file, line and key; exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from switchboard import cli, inventory
from switchboard.commands import actions as commands
from switchboard.errors import InventoryError
from tests.unit.executor_fakes import INVENTORY

# Real processes (sshd, nginx -t, a Textual pilot) or many examples: seconds, not ms.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = [[], ["console"], ["watch"], ["watch", "--once", "--json"], ["weight", "web1", "2"],
            ["down", "web1"], ["up", "web1"], ["backup", "web1"], ["backup", "web1", "--off"],
            ["drain", "web1"], ["drain", "web1", "--wait"], ["undrain", "web1"], ["reload"],
            ["failover"], ["failover", "--to", "lb2"]]

# name -> (file text, the line and key the error must name; None: the file has no line)
BAD: dict[str, tuple[bytes | None, int | None, str | None]] = {
    "syntax": (b'[cluster\nname = "lab"\n', 1, "cluster"),
    "syntax-value": (b'[cluster]\nname = "lab"\nvip = \n', 3, "vip"),
    "wrong-type": (INVENTORY.replace('name = "lab"', "name = 3").encode(), 3, "cluster.name"),
    "unknown-role": (INVENTORY.replace('role = "web"', 'role = "database"', 1).encode(), 19,
                     "hosts[2].role"),
    "port-string": (INVENTORY.replace("port = 8001", 'port = "8001"', 1).encode(), 21,
                    "hosts[2].port"),
    "port-range": (INVENTORY.replace("port = 8001", "port = 0", 1).encode(), 21,
                   "hosts[2].port"),
    "sudo-string": (INVENTORY.replace("sudo = true", 'sudo = "yes"').encode(), 16,
                    "hosts[1].sudo"),
    "unknown-key": (INVENTORY.replace('user = "ops"', 'user = "ops"\npasword = "x"').encode(),
                    8, "ssh.pasword"),
    "no-proxy": (INVENTORY.replace('role = "lb"', 'role = "web"').encode(), 8, "hosts"),
    "newline-in-value": (INVENTORY.replace('role = "web"', 'role = "data\\nbase"', 1).encode(),
                         19, "hosts[2].role"),
    "nan-timeout": (INVENTORY.replace('user = "ops"', 'user = "ops"\nconnect_timeout = nan')
                    .encode(), 8, "ssh.connect_timeout"),
    "bad-accent": (INVENTORY.replace('name = "lab"', 'name = "lab"\naccent = "blurple"')
                   .encode(), 4, "cluster.accent"),
    "not-utf8": (INVENTORY.replace('name = "lab"', 'name = "l\udcffb"').encode(
        "utf-8", "surrogateescape"), 3, "name"),
    "missing": (None, None, None),
    "directory": (b"", None, None),
}


def _write(tmp_path: Path, case: str) -> Path:
    text = BAD[case][0]
    path = tmp_path / f"{case}.toml"
    if case == "directory":
        path.mkdir()
    elif text is not None:
        path.write_bytes(text)
    return path


def _expected_head(path: Path, case: str) -> str:
    _text, line, key = BAD[case]
    if line is None:
        return f"switchboard: error: {path}: "
    return f"switchboard: error: {path}:{line}: key '{key}': "


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing may try to reach a cluster: the inventory is refused first."""
    def refuse(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("a command went on to connect with a broken inventory")

    monkeypatch.setattr(commands, "open_feed", refuse)
    import collectors.runtime

    monkeypatch.setattr(collectors.runtime, "ClusterFeed", refuse)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("SWITCHBOARD_INVENTORY", raising=False)


@pytest.mark.parametrize("case", list(BAD))
def test_every_command_names_file_line_and_key(case: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, case)
    for command in COMMANDS:
        for extra in ([], ["--yes"]):
            if extra and command[:1] in ([], ["console"], ["watch"]):
                continue
            assert cli.main(["-i", str(path), *command, *extra]) == 2, command
            out, err = capsys.readouterr()
            assert out == ""
            assert err.count("\n") == 1 and err.startswith(_expected_head(path, case)), \
                (command, err)
            assert "Traceback" not in err


def test_the_inventory_from_the_environment_is_named_too(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    path = _write(tmp_path, "unknown-role")
    monkeypatch.setenv("SWITCHBOARD_INVENTORY", str(path))
    for command in COMMANDS:
        assert cli.main(command) == 2
        assert capsys.readouterr().err.startswith(_expected_head(path, "unknown-role"))


def test_messages_say_what_is_wrong(tmp_path: Path) -> None:
    def message(case: str) -> str:
        with pytest.raises(InventoryError) as e:
            inventory.load(_write(tmp_path, case))
        return str(e.value)

    assert "unknown role 'database' (expected 'lb' or 'web')" in message("unknown-role")
    assert "must be an integer, not str" in message("port-string")
    assert "must be a TCP port (1-65535), not 0" in message("port-range")
    assert "unknown key (expected one of:" in message("unknown-key")
    assert "unknown role 'data\\nbase'" in message("newline-in-value")
    assert "must be a number of seconds" in message("nan-timeout")
    assert "'blurple' is not a colour" in message("bad-accent")
    assert "not UTF-8 (byte 0xff)" in message("not-utf8")
    assert "no such file (give --inventory FILE" in message("missing")
    assert "cannot read: Is a directory" in message("directory")


@pytest.mark.parametrize("command", [[], ["weight", "web1", "2"], ["failover"]])
def test_the_installed_command(command: list[str], tmp_path: Path) -> None:
    path = _write(tmp_path, "unknown-role")
    exe = ROOT / ".venv" / "bin" / "switchboard"
    binary = [str(exe)] if exe.exists() else [sys.executable, "-m", "switchboard.cli"]
    env = {k: v for k, v in os.environ.items() if k != "SWITCHBOARD_INVENTORY"}
    done = subprocess.run([*binary, "-i", str(path), *command], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60, check=False, env=env)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr == (f"switchboard: error: {path}:19: key 'hosts[2].role': unknown role "
                           "'database' (expected 'lb' or 'web')\n")
