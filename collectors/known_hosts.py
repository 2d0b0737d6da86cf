"""Strict host-key checking against one known_hosts file, with opt-in trust of new hosts."""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh

DEFAULT_PORT = 22


def default_path() -> Path:
    return Path("~/.ssh/known_hosts").expanduser()


def host_pattern(host: str, port: int) -> str:
    """How OpenSSH names a host in known_hosts: ``host`` on port 22, ``[host]:port`` elsewhere."""
    return host if port == DEFAULT_PORT else f"[{host}]:{port}"


def describe(key: asyncssh.SSHKey) -> str:
    return f"{key.get_algorithm()} {key.get_fingerprint()}"


class KnownHosts:
    """Decides on host keys that the known_hosts file does not already trust.

    asyncssh itself accepts a key found in the file; it asks :meth:`check` only about the
    others. A key for a host the file already knows under another key is a CHANGED key and
    is always refused; a host the file does not know is refused unless ``accept_new``, in
    which case its key is appended to the file (OpenSSH's ``accept-new``).
    """

    def __init__(self, path: str | os.PathLike[str] | None, *, accept_new: bool = False) -> None:
        self.path = Path(path).expanduser() if path else default_path()
        self.accept_new = accept_new

    def asyncssh_arg(self) -> str | bytes:
        """What to give asyncssh's ``known_hosts=``: the file, or no entries while it is absent."""
        return str(self.path) if self.path.is_file() else b""

    def known_keys(self, host: str, addr: str, port: int) -> list[asyncssh.SSHKey]:
        if not self.path.is_file():
            return []
        matched = asyncssh.match_known_hosts(str(self.path), host, addr,
                                             None if port == DEFAULT_PORT else port)
        trusted, cas = matched[0], matched[1]
        return [*trusted, *cas]

    def revoked_keys(self, host: str, addr: str, port: int) -> list[asyncssh.SSHKey]:
        """Keys marked ``@revoked`` for this host.

        Asked per ``[host]:port`` name: for a port other than 22, asyncssh drops the revoked
        entries of ``[host]:port`` when no trusted key matches that name too.
        """
        if not self.path.is_file():
            return []
        out: list[asyncssh.SSHKey] = []
        for name in dict.fromkeys(h for h in (host, addr) if h):
            out += asyncssh.match_known_hosts(str(self.path), host_pattern(name, port), "",
                                              None)[2]
        return out

    def check(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> tuple[bool, str]:
        """(trusted?, why) for a key the file does not list for this host."""
        where = f"{host}:{port}" if addr in ("", host) else f"{host}:{port} ({addr})"
        if key in self.revoked_keys(host, addr, port):
            return False, (f"host key of {where} is REVOKED: {self.path} marks "
                           f"{describe(key)} @revoked. Ask the host's administrator for its "
                           "new key; never remove the @revoked line to connect")
        known = self.known_keys(host, addr, port)
        if known:
            old = ", ".join(describe(k) for k in known)
            return False, (
                f"host key of {where} has CHANGED: the server offers {describe(key)} but "
                f"{self.path} lists {old}. This can be a man-in-the-middle attack. If the host "
                f"was reinstalled, remove the old entry with "
                f"`ssh-keygen -R '{host_pattern(host, port)}' -f {self.path}` and reconnect")
        if not self.accept_new:
            return False, (
                f"host key of {where} is not known ({describe(key)} is not in {self.path}). "
                "Check that fingerprint on the host (ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub), "
                "then add it with ssh-keyscan, or connect once with --accept-new-host-keys")
        self.append(host, port, key)
        return True, f"trusted new host key of {where}: {describe(key)} (added to {self.path})"

    def append(self, host: str, port: int, key: asyncssh.SSHKey) -> None:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        alg, blob = key.export_public_key("openssh").decode("ascii").split()[:2]
        line = f"{host_pattern(host, port)} {alg} {blob}\n"
        prefix = ""
        if self.path.is_file() and self.path.stat().st_size:
            with self.path.open("rb") as f:
                f.seek(-1, os.SEEK_END)
                prefix = "" if f.read(1) == b"\n" else "\n"
        with self.path.open("a", encoding="ascii") as f:
            f.write(prefix + line)
