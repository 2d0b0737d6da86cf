"""The console's ActionDispatcher: plans from the feed's live configs, runs them with checks.

``ClusterActions(feed, inventory, audit)`` reads everything it needs from the feed the
console already has open: the latest snapshot (HA view: which proxy is active, so changes go
standby first, active last), every proxy's parsed ``nginx -T`` (``feed.configs()``), and the
supervised SSH sessions (``feed.session(host)``). After an action it asks the feed to re-read
the configs (``feed.refresh_config()``) and posts ActionNotes (``feed.publish``) so the
console's event log and drain state follow. A feed without ``configs()`` is served by
:meth:`ClusterActions.read_configs`, which runs ``nginx -T`` itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol, TypeGuard

from actions import checks
from actions.audit import AuditLog
from actions.builder import DEFAULT_PID_FILE, WORKERS_SH, build_plan
from actions.executor import Executor
from actions.intents import (
    Drain,
    Failover,
    Intent,
    MarkDown,
    MarkUp,
    Reload,
    SetBackup,
    SetWeight,
    Undrain,
)
from actions.locks import STALE_AFTER
from actions.plan import Plan, Step
from actions.report import CheckFailed, ExecutionResult, LocalCheck
from actions.rules import Refused, resolve_backend
from actions.runner import FeedRunner, RemoteRunner
from state.nginxconf import NginxConfigError
from state.reducer import backend_names_from
from state.snapshot import Snapshot
from state.upstreams import ProxyConfig
from switchboard.errors import RemoteError
from switchboard.inventory import Inventory
from switchboard.nginx_parse import parse_dump
from switchboard.remote import privileged

REREAD_WAIT = 10.0  # seconds to wait for the configs read again after an action


class ActionFeed(Protocol):
    """What the dispatcher uses of the collectors' feed (``configs``, ``refresh_config`` and
    ``publish`` are used when the feed has them)."""

    def snapshot(self) -> Snapshot: ...

    def session(self, host_name: str) -> Any: ...


def proxy_order(snap: Snapshot | None, inv: Inventory) -> tuple[list[str], str | None]:
    """Proxies standby first, active last (by the HA view), and a warning if unknown."""
    names = [h.name for h in inv.proxies]
    active = snap.ha.active if snap is not None else None
    if active not in names:
        return names, ("the HA view names no active proxy, so the proxies are changed in "
                       "inventory order" if len(names) > 1 else None)
    standby = snap.ha.standby if snap is not None else None
    first = [standby] if standby in names and standby != active else []
    return [*first, *(n for n in names if n not in (active, *first)), active], None


class ClusterActions:
    """Implements the console's ``ActionDispatcher``: ``plan(intent)``, ``apply(...)``."""

    def __init__(self, feed: ActionFeed, inventory: Inventory, audit: AuditLog | None = None,
                 *, runner: RemoteRunner | None = None, read_only: bool = False,
                 drain_timeout: float = 300.0, stale_after: float = STALE_AFTER) -> None:
        self.feed = feed
        self.inventory = inventory
        self.audit = audit
        self.runner = runner or FeedRunner(feed)
        self.read_only = read_only
        self.drain_timeout = drain_timeout
        self.names = {name: addr for addr, name in backend_names_from(inventory.backends).items()}
        self._configs: dict[str, ProxyConfig] = {}
        self._busy = asyncio.Lock()
        publish = getattr(feed, "publish", None)
        self.executor = Executor(self.runner, inventory, audit=audit,
                                 notify=publish if callable(publish) else None,
                                 refresh=self._refresh, stale_after=stale_after,
                                 stub_status=self._stub_status)

    # -- inputs -------------------------------------------------------------------------------

    def _snapshot(self) -> Snapshot | None:
        try:
            return self.feed.snapshot()
        except Exception:  # a feed still starting up may have nothing to give yet
            return None

    def _stub_status(self, address: str) -> int | None:
        """A backend's active connections from its stub_status, via the snapshot."""
        snap = self._snapshot()
        for b in snap.backends if snap is not None else ():
            if address in (b.address, b.config.address if b.config else None):
                return b.active_connections
        return None

    def configs(self) -> dict[str, ProxyConfig]:
        """The latest parsed config of every proxy: the feed's (``feed.configs()``, or its
        config readers' ``latest``), over what :meth:`read_configs` got."""
        out = dict(self._configs)
        source = getattr(self.feed, "configs", None)
        got = source() if callable(source) else source
        if isinstance(got, Mapping):
            for host, value in got.items():
                config = value if isinstance(value, ProxyConfig) else getattr(value, "latest",
                                                                             None)
                if isinstance(config, ProxyConfig):
                    out[host] = config
        return out

    async def read_configs(self) -> dict[str, ProxyConfig]:
        """Read every proxy's config now: through the feed's ``read_config(host)`` when it
        has one (its readers then hold the result too), else with ``nginx -T`` here."""
        read_config = getattr(self.feed, "read_config", None)
        for h in self.inventory.proxies:
            if callable(read_config):
                event = await read_config(h.name)
                config = getattr(event, "config", None)
                if not isinstance(config, ProxyConfig):
                    raise RemoteError(h.name, f"cannot read the config: "
                                      f"{getattr(event, 'error', None) or 'no config'}")
                self._configs[h.name] = config
                continue
            argv = privileged(["nginx", "-T"], sudo=h.sudo)  # nginx -T needs root
            done = await self.runner.run(h.name, argv, timeout=30.0)
            if done.exit_status != 0:
                raise RemoteError(h.name, f"nginx -T failed: {done.failure}")
            try:
                self._configs[h.name] = parse_dump(done.stdout, h.name)
            except NginxConfigError as e:
                raise RemoteError(h.name, f"cannot read nginx -T: {e}") from e
        return dict(self._configs)

    async def _refresh(self) -> None:
        """Read the configs again and wait for them (bounded), so the next plan is built from
        what is now on disk, not from before this action."""
        if callable(getattr(self.feed, "read_config", None)) or self._configs:
            try:
                async with asyncio.timeout(REREAD_WAIT):
                    await self.read_configs()
            except (RemoteError, TimeoutError):
                pass  # a proxy left broken is in the result already; the readers retry
            return
        refresh = getattr(self.feed, "refresh_config", None)
        if not callable(refresh):
            return
        before = {h: id(c) for h, c in self.configs().items()}
        pending = refresh()
        if asyncio.iscoroutine(pending) or isinstance(pending, asyncio.Future):
            await pending
        deadline = asyncio.get_running_loop().time() + REREAD_WAIT
        while asyncio.get_running_loop().time() < deadline:
            now = self.configs()
            if all(id(now.get(h)) != old for h, old in before.items()):
                return
            await asyncio.sleep(0.1)

    # -- ActionDispatcher ---------------------------------------------------------------------

    def plan(self, intent: object, *, wait_drained: bool = True) -> Plan:
        """The plan for ``intent`` on the live configs; raises Refused (a UsageError)."""
        if self.read_only:
            raise Refused("Switchboard runs read-only (--read-only): no action is carried out")
        if not _is_intent(intent):
            raise Refused(f"not an action Switchboard knows: {intent!r}")
        snap = self._snapshot()
        order, warning = proxy_order(snap, self.inventory)
        if isinstance(intent, Failover) and (snap is None or snap.ha.active is None):
            raise Refused("failover needs to know the active proxy, and the HA view names "
                          "none yet; wait for the HA poller or check Heartbeat on the proxies")
        plan = build_plan(intent, self.configs(), order, self.names,
                          drain_timeout=self.drain_timeout)
        if warning:
            plan = replace(plan, warnings=(*plan.warnings, warning))
        if isinstance(intent, Failover):
            problems = checks.failover_problems(snap, plan.hosts[-1], plan.hosts[0])
            if problems:
                raise Refused("failover pre-flight: " + "; ".join(problems))
            plan = replace(plan, steps=(self._nginx_running(plan.hosts[0]), *plan.steps))
        if isinstance(intent, Drain) and not wait_drained:
            plan = replace(plan, steps=tuple(s for s in plan.steps if s.kind != "wait_drained"))
        return plan

    async def apply(self, intent: object, plan: object,
                    progress: Callable[[str], None]) -> ExecutionResult:
        """Run a confirmed plan; the result's ``ok`` and ``message`` are for the operator."""
        if not isinstance(plan, Plan) or plan.intent != intent:
            raise Refused("this plan was not made for this action; plan it again")
        if self.read_only:
            return ExecutionResult(False, "refused: Switchboard runs read-only", plan.title,
                                   refused=True, end_state="nothing was changed")
        if self._busy.locked():
            return ExecutionResult(False, "refused: another action is still running in this "
                                   "Switchboard; wait for it to finish", plan.title,
                                   refused=True, end_state="nothing was changed")
        async with self._busy:
            configs = self.configs()
            files = {h: list(configs[h].files) if h in configs else [] for h in plan.hosts}
            pre, post = self._checks(plan, configs)
            return await self.executor.execute(plan, progress, pre_checks=pre,
                                               post_checks=post, config_files=files)

    # -- checks around plans ------------------------------------------------------------------

    def _checks(self, plan: Plan, configs: Mapping[str, ProxyConfig]
                ) -> tuple[list[LocalCheck], list[LocalCheck]]:
        intent = plan.intent
        if isinstance(intent, Failover):
            active, target = plan.hosts[-1], plan.hosts[0]
            pre = [self._failover_preflight(active, target)]
            for host, peer in ((active, target), (target, active)):
                pre.append(checks.peer_links(self.runner, host, peer,
                                             self.inventory.host(peer).node or peer))
            return pre, [
                checks.vip_moved(self.runner, self.inventory.vip, active, target),
                checks.requests_through_vip(self.inventory.vip, target, self._snapshot)]
        if isinstance(intent, Drain) and any(s.kind == "wait_drained" for s in plan.steps):
            addresses = self._addresses(intent, configs)
            return [], [checks.drain_quiet(intent.backend, addresses, self._snapshot,
                                           timeout=min(60.0, self.drain_timeout))]
        return [], []

    def _failover_preflight(self, active: str, target: str) -> LocalCheck:
        async def run(progress: Callable[[str], None]) -> str:
            problems = checks.failover_problems(self._snapshot(), active, target)
            if problems:
                raise CheckFailed("; ".join(problems))
            return f"HA view: {active} active, {target} ready; no drift"

        return LocalCheck("check", target, "HA view: one active proxy, peer connected, no drift",
                          run)

    def _addresses(self, intent: Drain, configs: Mapping[str, ProxyConfig]) -> list[str]:
        out: list[str] = []
        for h in self.inventory.proxies:
            if h.name not in configs:
                continue
            for t in resolve_backend(intent.backend, configs[h.name].upstreams, self.names,
                                     upstream=intent.upstream):
                out += [*t.server.resolved, t.server.address]
        return list(dict.fromkeys(out))

    def _nginx_running(self, host: str) -> Step:
        config = self.configs().get(host)
        pid = (config.pid_file if config else None) or DEFAULT_PID_FILE
        return Step("check", host, f"nginx is running on {host} (master alive, workers)",
                    ("sh", "-c", WORKERS_SH, "sh", pid), root=False)


def _is_intent(intent: object) -> TypeGuard[Intent]:
    return isinstance(intent, SetWeight | MarkDown | MarkUp | SetBackup | Drain | Undrain
                      | Reload | Failover)

