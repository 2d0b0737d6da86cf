"""The inventory loader: typed results, and errors that name the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard import inventory
from switchboard.cli import main
from switchboard.errors import InventoryError

GOOD = """\
[cluster]
name = "prod-eu"
vip = "198.18.0.100"
ha = "heartbeat"
upstreams = ["web_servers"]
protected = true
accent = "red"

[ssh]
user = "ops"
key = "~/.ssh/id_ed25519"
jump_host = "bastion"

[[hosts]]
name = "lb1"
role = "lb"
address = "198.18.0.11"
sudo = true

[[hosts]]
name = "lb2"
role = "lb"
address = "198.18.0.12"
ssh = { port = 2222, user = "root" }

[[hosts]]
name = "web1"
role = "web"
address = "198.18.0.21"
port = 8001
"""


def test_good_inventory_is_typed_and_inherits_ssh_defaults() -> None:
    inv = inventory.parse(GOOD, "prod.toml")
    assert inv.name == "prod-eu" and inv.vip == "198.18.0.100" and inv.protected
    assert [h.name for h in inv.proxies] == ["lb1", "lb2"]
    assert [h.name for h in inv.backends] == ["web1"]
    lb1, lb2, web1 = inv.hosts
    assert lb1.sudo and not lb2.sudo
    assert lb1.ssh.user == "ops" and lb1.ssh.port == 22 and lb1.ssh.jump_host == "bastion"
    assert lb2.ssh.user == "root" and lb2.ssh.port == 2222 and lb2.ssh.key == "~/.ssh/id_ed25519"
    assert web1.port == 8001 and web1.node == "web1"
    assert lb1.access_log == "/var/log/nginx/access.log"


def _error(text: str) -> InventoryError:
    with pytest.raises(InventoryError) as info:
        inventory.parse(text, "bad.toml")
    return info.value


def test_unknown_role_names_line_and_key() -> None:
    err = _error(GOOD.replace('role = "web"', 'role = "database"'))
    assert err.key == "hosts[2].role"
    assert err.line == GOOD.splitlines().index('role = "web"') + 1
    assert "unknown role 'database'" in str(err) and str(err).startswith(f"bad.toml:{err.line}:")


def test_wrong_type_names_the_key() -> None:
    err = _error(GOOD.replace("port = 8001", 'port = "8001"'))
    assert err.key == "hosts[2].port" and "must be an integer" in str(err)
    assert err.line == GOOD.splitlines().index("port = 8001") + 1


def test_missing_key() -> None:
    err = _error(GOOD.replace('vip = "198.18.0.100"\n', ""))
    assert err.key == "cluster.vip" and "missing" in str(err)


def test_duplicate_host() -> None:
    err = _error(GOOD.replace('name = "lb2"', 'name = "lb1"'))
    assert err.key == "hosts[1].name" and "duplicate" in str(err)
    assert err.line == GOOD.splitlines().index('name = "lb2"') + 1


def test_bad_toml_gives_line() -> None:
    err = _error(GOOD.replace('vip = "198.18.0.100"', "vip = 198.18.0.100"))
    assert err.line == 3 and "not valid TOML" in str(err)


def test_unknown_key_and_boolean_for_int() -> None:
    assert "unknown key" in str(_error(GOOD.replace("sudo = true", "sudo = true\ncolour = 1")))
    err = _error(GOOD.replace("port = 8001", "port = true"))
    assert "not a boolean" in str(err)


def test_host_name_with_shell_metacharacters_is_refused() -> None:
    err = _error(GOOD.replace('name = "web1"', 'name = "web1;touch /tmp/pwned"'))
    assert err.key == "hosts[2].name" and "not a valid host name" in str(err)


def test_missing_file_is_exit_2_with_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.toml"
    code = main(["--inventory", str(missing), "watch", "--json", "--once"])
    err = capsys.readouterr().err
    assert code == 2 and str(missing) in err and "no such file" in err


def test_resolve_path_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SWITCHBOARD_INVENTORY", str(tmp_path / "env.toml"))
    assert inventory.resolve_path("x.toml") == Path("x.toml")
    assert inventory.resolve_path(None) == tmp_path / "env.toml"


def test_vip_must_be_a_bare_address() -> None:
    err = _error(GOOD.replace('vip = "198.18.0.100"', 'vip = "198.18.0.100/24"'))
    assert err.key == "cluster.vip" and "without the /prefix" in str(err) and err.line == 3
    assert "not an IP address" in str(_error(GOOD.replace('"198.18.0.100"', '"lb-vip"')))
