"""One supervised SSH connection per host, shared by every collector and action on that host."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncssh

from collectors.known_hosts import KnownHosts
from collectors.supervisor import Backoff
from state.events import ConnectionState, Event, HostHealth
from switchboard import remote
from switchboard.errors import RemoteError
from switchboard.inventory import Host, SshSettings

log = logging.getLogger(__name__)

# Three unanswered keepalives drop the connection: a cut link shows within ~6 s, not 20.
KEEPALIVE_SECONDS = 2.0
CLOSE_WAIT = 5.0  # seconds to wait for a closing connection to say goodbye
RETRY_CAP_SECONDS = 15.0

# Writes the file beside its target and renames it over, so that readers never see half.
_UPLOAD_SCRIPT = (
    'set -e; dir=$(dirname -- "$1"); tmp=$(mktemp "$dir/.switchboard.XXXXXX"); '
    'trap \'rm -f -- "$tmp"\' EXIT; cat > "$tmp"; '
    'if [ -e "$1" ]; then chmod --reference="$1" -- "$tmp"; '
    'chown --reference="$1" -- "$tmp" 2>/dev/null || :; else chmod "$2" -- "$tmp"; fi; '
    'mv -f -- "$tmp" "$1"; trap - EXIT'
)


@dataclass(frozen=True)
class Result:
    """What one remote command did."""

    exit_status: int | None  # None: killed by a signal or the channel closed without status
    stdout: str
    stderr: str
    hint: str = ""  # what to do when the host refused it (sudo without a rule, no access)

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


class _Client(asyncssh.SSHClient):
    """Remembers why a host key was refused and why the connection ended."""

    def __init__(self, known: KnownHosts) -> None:
        self.known = known
        self.refusal: str | None = None
        self.lost: Exception | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int,
                                 key: asyncssh.SSHKey) -> bool:
        ok, why = self.known.check(host, addr, port, key)
        if ok:
            log.warning("%s", why)
        else:
            self.refusal = why
        return ok

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc


class _Permanent(Exception):
    """A failure that retrying soon will not fix (refused host key, refused login)."""


def _parse_jump(spec: str) -> tuple[str | None, str, int | None]:
    user, _, rest = spec.rpartition("@")
    host, port = rest, None
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = int(tail[1:]) if tail.startswith(":") else None
    elif rest.count(":") == 1:
        host, p = rest.split(":")
        port = int(p)
    return user or None, host, port


def _load_key(key: str) -> list[asyncssh.SSHKeyPair]:
    """The inventory's key, loaded here so a bad one is a clear, permanent error naming it.

    Messages name the file and never quote it: asyncssh's own say only "Invalid private key"
    or "No such file", without saying which file.
    """
    try:
        return list(asyncssh.load_keypairs([os.path.expanduser(key)]))
    except asyncssh.KeyImportError as e:
        hint = ("it is encrypted: add it to the SSH agent (ssh-add) and remove `key` from "
                "the inventory" if "assphrase" in str(e) else "it is not a private key")
        raise _Permanent(f"cannot use the SSH key {key}: {hint} ({e})") from None
    except (OSError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise _Permanent(f"cannot read the SSH key {key}: {why}") from None


def describe_error(e: BaseException) -> str:
    if isinstance(e, asyncio.TimeoutError | TimeoutError):
        return "no answer (timed out)"
    if isinstance(e, asyncssh.DisconnectError | asyncssh.ChannelOpenError):
        return e.reason or type(e).__name__
    if isinstance(e, OSError) and e.errno:
        return os.strerror(e.errno)  # asyncio's own strerror says only "Connect call failed"
    return str(e) or type(e).__name__


class HostSession:
    """The one SSH connection to one host: kept up by :meth:`maintain`, used through :meth:`run`.

    Health changes are published as :class:`HostHealth` events. Callers that need the
    connection wait for it; when the host is down they get a :class:`RemoteError` at their
    timeout, never a hang.
    """

    def __init__(self, host: Host, publish: Callable[[Event], None], *,
                 accept_new_host_keys: bool = False, clock: Callable[[], float] = time.time,
                 backoff: Backoff | None = None, keepalive: float = KEEPALIVE_SECONDS) -> None:
        self.host = host
        self.name = host.name
        self.known = KnownHosts(host.ssh.known_hosts, accept_new=accept_new_host_keys)
        self._publish = publish
        self._clock = clock
        self._backoff = backoff or Backoff(0.5, RETRY_CAP_SECONDS)
        self._keepalive = keepalive
        self._conn: asyncssh.SSHClientConnection | None = None
        self._jump: asyncssh.SSHClientConnection | None = None
        self._up = asyncio.Event()
        self.state: ConnectionState = "connecting"
        self.last_error: str | None = None
        self.generation = 0  # +1 per established connection, so users can tell a reconnect

    # -- supervision ---------------------------------------------------------------------------

    def _health(self, state: ConnectionState, *, retry_in: float | None = None,
                error: str | None = None) -> None:
        self.state = state
        if error is not None:
            self.last_error = error
        self._publish(HostHealth(self.name, state, self._clock(), retry_in=retry_in, error=error))

    async def maintain(self) -> None:
        """Connect, wait for the connection to end, reconnect with backoff; forever."""
        try:
            while True:
                self._health("connecting")
                client = _Client(self.known)
                try:
                    conn = await self._connect(client)
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    permanent, message = self._classify(e, client)
                    delay = self._backoff.cap if permanent else self._backoff.next()
                    self._health("failed" if permanent else "retrying", retry_in=delay,
                                 error=message)
                    await self._close_jump()
                    await asyncio.sleep(delay)
                    continue
                self._backoff.reset()
                self._conn = conn
                self.generation += 1
                self.last_error = None
                self._up.set()
                self._health("connected")
                await conn.wait_closed()
                self._up.clear()
                self._conn = None
                await self._close_jump()
                reason = describe_error(client.lost) if client.lost else "connection closed"
                delay = self._backoff.next()
                self._health("retrying", retry_in=delay, error=f"connection lost: {reason}")
                await asyncio.sleep(delay)
        finally:
            await self.close()

    def _classify(self, e: Exception, client: _Client) -> tuple[bool, str]:
        if isinstance(e, asyncssh.HostKeyNotVerifiable):
            return True, client.refusal or f"host key refused: {e.reason}"
        if isinstance(e, _Permanent):
            return True, str(e)
        if isinstance(e, asyncssh.PermissionDenied):
            ssh = self.host.ssh
            who = ssh.user or "the default user"
            key = f"the key {ssh.key}" if ssh.key else "the agent's and ~/.ssh's keys"
            return True, (f"login refused for {who} at {self.host.address}:{ssh.port} with {key}: "
                          "check the user, the key and the host's authorized_keys")
        return False, describe_error(e)

    def _options(self, ssh: SshSettings, client: _Client) -> dict[str, Any]:
        kw: dict[str, Any] = {
            "known_hosts": self.known.asyncssh_arg(),
            "client_factory": lambda: client,
            "keepalive_interval": self._keepalive,
            "keepalive_count_max": 3,
            "connect_timeout": ssh.connect_timeout,
            "login_timeout": ssh.connect_timeout * 3,
            "config": () if ssh.use_ssh_config else [],
        }
        if ssh.user:
            kw["username"] = ssh.user
        if ssh.key:
            kw["client_keys"] = _load_key(ssh.key)
        return kw

    async def _connect(self, client: _Client) -> asyncssh.SSHClientConnection:
        ssh = self.host.ssh
        kw = self._options(ssh, client)
        if ssh.jump_host:
            user, jhost, jport = _parse_jump(ssh.jump_host)
            jclient = _Client(self.known)
            jkw = self._options(ssh, jclient)
            if user:
                jkw["username"] = user
            try:
                self._jump = await asyncssh.connect(jhost, jport or 22, **jkw)
            except asyncssh.HostKeyNotVerifiable as e:
                raise _Permanent(f"jump host {ssh.jump_host}: "
                                 f"{jclient.refusal or e.reason}") from None
            except (OSError, asyncssh.Error) as e:
                raise RemoteError(self.name, f"jump host {ssh.jump_host}: "
                                  f"{describe_error(e)}") from None
            kw["tunnel"] = self._jump
        return await asyncssh.connect(self.host.address, ssh.port, **kw)

    async def _close_jump(self) -> None:
        jump, self._jump = self._jump, None
        if jump is not None:
            jump.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(jump.wait_closed(), CLOSE_WAIT)

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        self._up.clear()
        if conn is not None:
            conn.close()
            # A peer that vanished (cut link) never answers the close: don't wait forever.
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.wait_closed(), CLOSE_WAIT)
        await self._close_jump()

    def drop(self) -> None:
        """Abort the current connection (tests, and actions that know it is broken)."""
        if self._conn is not None:
            self._up.clear()  # callers wait for the next connection, not this dying one
            self._conn.abort()

    # -- use -----------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._conn is not None and self._up.is_set()

    async def connection(self, timeout: float | None = None  # noqa: ASYNC109
                         ) -> asyncssh.SSHClientConnection:
        """The live connection, waiting for one up to ``timeout`` seconds (None: forever)."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self._up.wait()
                    conn = self._conn
                    # A connection just lost stays here until maintain() notices: a channel
                    # opened on it fails at once, so wait for the next one instead.
                    if conn is not None and not conn.is_closed():
                        return conn
                    await asyncio.sleep(0.05)
        except TimeoutError:
            why = f": {self.last_error}" if self.last_error else ""
            raise RemoteError(self.name, f"not connected ({self.state}{why})") from None

    def as_sent(self, argv: Sequence[str], *, privileged: bool = True) -> list[str]:
        """The argv as sent: ``privileged`` (the command needs root) adds ``sudo -n --`` on a
        host whose inventory says ``sudo = true``; a read the user can do goes as it is."""
        return remote.privileged(argv, sudo=self.host.sudo) if privileged else list(argv)

    def shell_command(self, argv: Sequence[str], *, privileged: bool = True) -> str:
        args = self.as_sent(argv, privileged=privileged)
        return remote.command(*args)

    async def run(self, argv: Sequence[str], *, check: bool = True,
                  timeout: float | None = 30.0,  # noqa: ASYNC109
                  input: str | None = None, privileged: bool = True) -> Result:
        """Run one command (quoted, with sudo when it needs root and the host asks for sudo)
        and collect its output; a refusal's ``hint`` says what to do about it.

        Raises :class:`RemoteError` when ``check`` and it exits non-zero, ``TimeoutError`` when
        it outlives ``timeout``, and asyncssh/OS errors when the connection breaks meanwhile.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        conn = await self.connection(timeout)
        left = None if deadline is None else max(0.1, deadline - loop.time())
        args = self.as_sent(argv, privileged=privileged)
        command = remote.command(*args)
        try:
            done = await conn.run(command, check=False, timeout=left, input=input,
                                  encoding="utf-8", errors="replace")
        except asyncssh.TimeoutError:
            raise TimeoutError(f"{self.name}: {command} gave no answer within "
                               f"{timeout:g} s") from None
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            # asyncssh waits with asyncio.wait_for, which before Python 3.12 drops a cancel that
            # arrives as the command ends (a feed stopping while its connection closes): the
            # caller would carry on, and wait forever on a connection that is gone.
            raise asyncio.CancelledError
        stderr = _text(done.stderr)
        hint = "" if done.exit_status == 0 else remote.refusal_hint(
            args, stderr, user=self.host.ssh.user, sudo=self.host.sudo)
        result = Result(done.exit_status, _text(done.stdout), stderr, hint)
        if check and not result.ok:
            detail = " / ".join(result.stderr.strip().splitlines()[-3:]) or result.stdout[-200:]
            raise RemoteError(self.name, f"`{command}` exited with status "
                              f"{result.exit_status}: {detail.strip() or 'no output'}"
                              + (f"; {hint}" if hint else ""))
        return result

    async def run_script(self, script: str, *args: str, **kw: Any) -> Result:
        """Run a fixed shell script whose variable parts arrive as quoted positional args."""
        return await self.run(["sh", "-c", script, "sh", *args], **kw)

    async def start_process(self, argv: Sequence[str], *, privileged: bool = True
                            ) -> asyncssh.SSHClientProcess[bytes]:
        """A streaming process (bytes), for long-running readers such as the log tailer."""
        conn = await self.connection()
        proc: asyncssh.SSHClientProcess[bytes] = await conn.create_process(
            self.shell_command(argv, privileged=privileged), encoding=None)
        return proc

    async def read_file(self, path: str, *, timeout: float = 30.0) -> str:  # noqa: ASYNC109
        return (await self.run(["cat", "--", path], timeout=timeout)).stdout

    async def upload(self, path: str, text: str, *, mode: str = "0644",
                     timeout: float = 30.0) -> None:  # noqa: ASYNC109
        """Replace ``path`` with ``text`` atomically (temp file beside it, then rename).

        An existing file keeps its mode and owner; a new one gets ``mode``.
        """
        await self.run_script(_UPLOAD_SCRIPT, path, mode, input=text, timeout=timeout)

    async def forward_local_port(self, dest_host: str, dest_port: int) -> asyncssh.SSHListener:
        """Listen on an ephemeral loopback port that tunnels to ``dest_host:dest_port`` there."""
        conn = await self.connection()
        return await conn.forward_local_port("127.0.0.1", 0, dest_host, dest_port)


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)
