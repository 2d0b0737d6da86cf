"""Loads the inventory TOML into typed, immutable objects; errors name the file, line and key."""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from switchboard import paths
from switchboard.errors import InventoryError

Role = Literal["lb", "web"]
ROLES: tuple[Role, ...] = ("lb", "web")
HA_DRIVERS = ("heartbeat",)


@dataclass(frozen=True)
class SshSettings:
    user: str | None = None
    port: int = 22
    key: str | None = None
    known_hosts: str | None = None  # None: asyncssh's default (~/.ssh/known_hosts)
    jump_host: str | None = None
    use_ssh_config: bool = True
    connect_timeout: float = 10.0


@dataclass(frozen=True)
class Host:
    name: str
    role: Role
    address: str
    ssh: SshSettings
    sudo: bool = False
    access_log: str = "/var/log/nginx/access.log"
    error_log: str = "/var/log/nginx/error.log"
    stub_status: str | None = None  # URL as seen from the host itself
    node: str = ""  # Heartbeat node name (uname -n); defaults to the host's name
    port: int | None = None  # web hosts: the port nginx serves the upstream on


@dataclass(frozen=True)
class Inventory:
    path: Path
    name: str
    vip: str
    ha: str
    hosts: tuple[Host, ...]
    upstreams: tuple[str, ...] = ()  # upstream block names to manage; () means all
    protected: bool = False
    accent: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def proxies(self) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.role == "lb")

    @property
    def backends(self) -> tuple[Host, ...]:
        return tuple(h for h in self.hosts if h.role == "web")

    def host(self, name: str) -> Host:
        for h in self.hosts:
            if h.name == name:
                return h
        raise KeyError(name)


def resolve_path(explicit: str | os.PathLike[str] | None) -> Path:
    """Which inventory to use: --inventory, then $SWITCHBOARD_INVENTORY, then the lab's
    (while the lab is up), then the user's config directory."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("SWITCHBOARD_INVENTORY")
    if env:
        return Path(env)
    if paths.LAB_INVENTORY.exists():
        return paths.LAB_INVENTORY
    return paths.default_inventory()


def load(path: str | os.PathLike[str]) -> Inventory:
    p = Path(path)
    shown = _one_line(str(p))
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise InventoryError(
            shown, "no such file (give --inventory FILE, set SWITCHBOARD_INVENTORY, "
            "or run 'switchboard lab up')"
        ) from None
    except OSError as e:
        raise InventoryError(shown, _one_line(f"cannot read: {e.strerror or e}")) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise InventoryError(shown, f"not UTF-8 (byte {raw[e.start]:#04x}); TOML files are "
                             "UTF-8 text", line=line,
                             key=_key_on_line(raw.decode("utf-8", "replace"), line)) from None
    return parse(text, str(p))


def parse(text: str, path: str = "<inventory>") -> Inventory:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        line = _toml_error_line(str(e))
        raise InventoryError(_one_line(path), f"not valid TOML: {e}", line=line,
                             key=_key_on_line(text, line)) from None
    return _Validator(text, path).inventory(doc)


def _toml_error_line(message: str) -> int | None:
    m = re.search(r"line (\d+)", message)
    return int(m.group(1)) if m else None


def _key_on_line(text: str, line: int | None) -> str | None:
    """The table or key a broken line declares, so a syntax error names it too."""
    lines = text.splitlines()
    if line is None or not 0 < line <= len(lines):
        return None
    m = re.match(r"\s*\[*\s*([\w.\-\"']+)", lines[line - 1])
    return _one_line(m.group(1).strip("\"'")) if m else None


def _one_line(text: str) -> str:
    """Control characters (a newline in a value) escaped, so an error stays on one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


class _Validator:
    """Turns the TOML document into an Inventory, pointing errors at the offending line."""

    def __init__(self, text: str, path: str):
        self.lines = text.splitlines()
        self.path = path

    def fail(self, key: str, message: str) -> InventoryError:
        return InventoryError(_one_line(self.path), _one_line(message), line=self.locate(key),
                              key=_one_line(key))

    def locate(self, key: str) -> int | None:
        """Best line for a dotted key such as ``hosts[2].role`` or ``cluster.vip``."""
        parts = re.findall(r"[^.\[\]]+|\[\d+\]", key)
        start, table = 0, ""
        for part in parts:
            if part.startswith("["):
                index = int(part[1:-1])
                headers = [
                    i for i, ln in enumerate(self.lines)
                    if re.match(rf"\s*\[\[\s*{re.escape(table)}\s*\]\]", ln)
                ]
                if index < len(headers):
                    start = headers[index]
                continue
            table = part if not table else f"{table}.{part}"
            header = next(
                (i for i, ln in enumerate(self.lines[start:], start)
                 if re.match(rf"\s*\[\[?\s*{re.escape(table)}\s*\]", ln)), None)
            if header is not None:
                start = header
                continue
            found = next(
                (i for i, ln in enumerate(self.lines[start:], start)
                 if re.match(rf"\s*\"?{re.escape(part)}\"?\s*=", ln)), None)
            if found is not None:
                start = found
        return start + 1 if self.lines else None

    def table(self, doc: Mapping[str, Any], key: str, *, required: bool = True) -> dict[str, Any]:
        value = doc.get(key.rsplit(".", 1)[-1])
        if value is None:
            if required:
                raise self.fail(key, "missing table")
            return {}
        if not isinstance(value, dict):
            raise self.fail(key, f"must be a table, not {type(value).__name__}")
        return value

    def value(self, table: Mapping[str, Any], key: str, kind: type | tuple[type, ...],
              default: Any = ..., *, prefix: str = "") -> Any:
        full = f"{prefix}.{key}" if prefix else key
        if key not in table:
            if default is ...:
                raise self.fail(full, "missing")
            return default
        v = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if isinstance(v, bool) and bool not in kinds:
            raise self.fail(full, f"must be {_kind_name(kinds)}, not a boolean")
        if not isinstance(v, kinds):
            raise self.fail(full, f"must be {_kind_name(kinds)}, not {type(v).__name__}")
        if isinstance(v, str) and str in kinds and not v.strip() and default is ...:
            raise self.fail(full, "must not be empty")
        return v

    def vip(self, cluster: Mapping[str, Any]) -> str:
        vip: str = self.value(cluster, "vip", str, prefix="cluster")
        try:
            return str(ipaddress.ip_address(vip.strip()))
        except ValueError:
            hint = " (without the /prefix)" if "/" in vip else ""
            raise self.fail("cluster.vip", f"'{vip}' is not an IP address{hint}: write the "
                            "virtual IP as Heartbeat's IPaddr2 resource assigns it, e.g. "
                            "203.0.113.10") from None

    def ssh(self, table: Mapping[str, Any], prefix: str, base: SshSettings) -> SshSettings:
        known = {"user", "port", "key", "known_hosts", "jump_host", "use_ssh_config",
                 "connect_timeout"}
        self.no_unknown(table, known, prefix)
        port = self.value(table, "port", int, base.port, prefix=prefix)
        if not 0 < port < 65536:
            raise self.fail(f"{prefix}.port", f"must be a TCP port (1-65535), not {port}")
        return SshSettings(
            user=self.value(table, "user", str, base.user, prefix=prefix),
            port=port,
            key=self.value(table, "key", str, base.key, prefix=prefix),
            known_hosts=self.value(table, "known_hosts", str, base.known_hosts, prefix=prefix),
            jump_host=self.value(table, "jump_host", str, base.jump_host, prefix=prefix) or None,
            use_ssh_config=self.value(table, "use_ssh_config", bool, base.use_ssh_config,
                                      prefix=prefix),
            connect_timeout=self.seconds(table, "connect_timeout", base.connect_timeout,
                                         prefix),
        )

    def seconds(self, table: Mapping[str, Any], key: str, default: float, prefix: str) -> float:
        value = float(self.value(table, key, (int, float), default, prefix=prefix))
        if not 0 < value <= 3600:  # also refuses nan and inf, which TOML allows
            raise self.fail(f"{prefix}.{key}", f"must be a number of seconds (0-3600], "
                            f"not {value}")
        return value

    def no_unknown(self, table: Mapping[str, Any], known: set[str], prefix: str) -> None:
        for k in table:
            if k not in known:
                where = f"{prefix}.{k}" if prefix else k
                raise self.fail(where, f"unknown key (expected one of: {', '.join(sorted(known))})")

    def inventory(self, doc: dict[str, Any]) -> Inventory:
        self.no_unknown(doc, {"cluster", "ssh", "hosts"}, "")
        cluster = self.table(doc, "cluster")
        self.no_unknown(cluster, {"name", "vip", "ha", "upstreams", "protected", "accent"},
                        "cluster")
        ha = self.value(cluster, "ha", str, "heartbeat", prefix="cluster")
        if ha not in HA_DRIVERS:
            raise self.fail("cluster.ha", f"unknown HA driver '{ha}' (known: "
                            f"{', '.join(HA_DRIVERS)})")
        upstreams = self.value(cluster, "upstreams", list, [], prefix="cluster")
        if not all(isinstance(u, str) for u in upstreams):
            raise self.fail("cluster.upstreams", "must be a list of upstream block names")
        ssh = self.ssh(self.table(doc, "ssh", required=False), "ssh", SshSettings())
        raw_hosts = doc.get("hosts")
        if not isinstance(raw_hosts, list) or not raw_hosts:
            raise self.fail("hosts", "missing: declare each host in a [[hosts]] table")
        hosts: list[Host] = []
        seen: set[str] = set()
        for i, raw in enumerate(raw_hosts):
            host = self.host(raw, f"hosts[{i}]", ssh)
            if host.name in seen:
                raise self.fail(f"hosts[{i}].name", f"duplicate host name '{host.name}'")
            seen.add(host.name)
            hosts.append(host)
        if not any(h.role == "lb" for h in hosts):
            raise self.fail("hosts", "no host with role 'lb': Switchboard needs the proxies")
        return Inventory(
            path=Path(self.path),
            name=self.value(cluster, "name", str, prefix="cluster"),
            vip=self.vip(cluster),
            ha=ha,
            hosts=tuple(hosts),
            upstreams=tuple(upstreams),
            protected=self.value(cluster, "protected", bool, False, prefix="cluster"),
            accent=self.accent(cluster),
        )

    def accent(self, cluster: Mapping[str, Any]) -> str | None:
        from rich.color import Color, ColorParseError

        value: str | None = self.value(cluster, "accent", str, None, prefix="cluster")
        if value is not None:
            try:
                Color.parse(value)
            except ColorParseError:
                raise self.fail("cluster.accent", f"{value!r} is not a colour (use a name such "
                                "as 'red' or '#rrggbb')") from None
        return value

    def host(self, raw: Any, prefix: str, ssh: SshSettings) -> Host:
        if not isinstance(raw, dict):
            raise self.fail(prefix, "must be a table")
        self.no_unknown(raw, {"name", "role", "address", "ssh", "sudo", "access_log",
                              "error_log", "stub_status", "node", "port"}, prefix)
        name = self.value(raw, "name", str, prefix=prefix)
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
            raise self.fail(f"{prefix}.name", f"'{name}' is not a valid host name "
                            "(letters, digits, '.', '_', '-')")
        role = self.value(raw, "role", str, prefix=prefix)
        if role not in ROLES:
            raise self.fail(f"{prefix}.role", f"unknown role '{role}' (expected 'lb' or 'web')")
        port = self.value(raw, "port", int, None, prefix=prefix)
        if port is not None and not 0 < port < 65536:
            raise self.fail(f"{prefix}.port", f"must be a TCP port (1-65535), not {port}")
        return Host(
            name=name,
            role=role,
            address=self.value(raw, "address", str, prefix=prefix),
            ssh=self.ssh(self.table(raw, f"{prefix}.ssh", required=False), f"{prefix}.ssh", ssh),
            sudo=self.value(raw, "sudo", bool, False, prefix=prefix),
            access_log=self.value(raw, "access_log", str, Host.access_log, prefix=prefix),
            error_log=self.value(raw, "error_log", str, Host.error_log, prefix=prefix),
            stub_status=self.value(raw, "stub_status", str, None, prefix=prefix),
            node=self.value(raw, "node", str, name, prefix=prefix),
            port=port,
        )


def _kind_name(kinds: tuple[type, ...]) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a table"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)
