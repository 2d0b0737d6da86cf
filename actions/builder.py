"""Turns an intent and the proxies' configs into a Plan: edits, transaction steps, undo steps.

Why a broken config is never live
---------------------------------
nginx reads its files only when it starts or reloads, but a file at the live path can be read
at any moment by someone else's reload, a package upgrade or Heartbeat starting nginx on
takeover. So an untested file never goes to the live path, not even for a millisecond:

1. ``check``: the live file's sha256 is the one the plan was built from (nobody edited it).
2. ``stage``: the new text is written beside it as ``<file>.switchboard-new`` (``cp -p`` first
   so owner and mode match; the name is refused if an ``include`` glob would read it).
3. ``test``: ``nginx -t`` runs on the *whole* configuration with the staged file in place by
   running it in a private mount namespace (``unshare --mount``) in which the staged file is
   bind-mounted over the live path. Every include, absolute or relative, resolves as in the
   real run, and the bind mount vanishes with the namespace: nothing else ever sees it.
   Every proxy is staged and tested before any proxy is touched.
4. Then host by host, standby first: ``backup`` (``cp -p`` to ``<file>.switchboard-bak``),
   record the worker PIDs, ``swap`` (``mv`` = rename(2) in the same directory, atomic; the swap
   refuses if the live file changed since step 1), ``reload`` (``nginx -s reload``), ``verify``
   (master alive with a new worker generation; ``nginx -T`` shows the intended server lines).
5. On any failure the undo steps put each changed host's backup back with an atomic ``mv``
   and reload it; staged files are removed.

Symlinked files (Debian's ``sites-enabled/*``) are followed with ``readlink -f`` so the link
is kept and its target is what is staged, tested, backed up and swapped. The ``.switchboard-bak``
copy stays after success as a manual undo; the next plan overwrites it.

Who runs what: every step that writes, mounts, signals nginx or moves the VIP needs root
(``Step.root``, through ``sudo -n`` where the inventory asks for sudo): stage, test
(``unshare`` + ``mount``), backup, swap, reload, undo, ``nginx -t``/``-T`` (nginx opens its pid
and log files), ``hb_standby``/``hb_takeover``. The reads run as the SSH user: the sha256 check
(config files are world-readable), the worker PIDs (``ps``), the connection count (``ss``
without ``-p``) and Heartbeat's status (``cl_status``, setgid haclient on Debian).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from actions.edits import Change, edit_server, expected_args
from actions.intents import Drain, Failover, Intent, Reload
from actions.plan import (
    BACKUP_SUFFIX,
    STAGED_SUFFIX,
    FileEdit,
    Plan,
    Step,
    sha256,
    side_path,
)
from actions.rules import Refused, Target, change_for, check, resolve_backend
from state.nginxconf import glob_matches, split_host_port, upstream_drift
from state.upstreams import ProxyConfig, bracket_host
from switchboard.errors import SwitchboardError

DEFAULT_PID_FILE = "/run/nginx.pid"  # Debian's compiled-in default
HB_DIR = "/usr/share/heartbeat"
# Each script gets the live path as $1, the copy's suffix as $2 and name prefix as $3, and
# works on the symlink's target so a Debian sites-enabled link stays a link.
_REAL = 'f=$(readlink -f -- "$1") || exit 2; s="${f%/*}/$3${f##*/}$2"; '
STAGE_SH = _REAL + 'cp -p -- "$f" "$s" && cat > "$s"'
BACKUP_SH = _REAL + 'cp -p -- "$f" "$s"'
SWAP_SH = (_REAL + 'if [ "$(sha256sum < "$f" | cut -d " " -f 1)" != "$4" ]; then '
           'echo "$f changed since the plan was made; not swapping" >&2; exit 3; fi; '
           'mv -f -- "$s" "$f"')
RESTORE_SH = _REAL + 'mv -f -- "$s" "$f"'
REMOVE_SH = _REAL + 'rm -f -- "$s"'
# Pairs of (live path, prefix): bind each staged copy over its live file, then test.
TEST_SH = ('while [ "$#" -gt 1 ]; do f=$(readlink -f -- "$1") || exit 2; '
           f'mount --bind -- "${{f%/*}}/$2${{f##*/}}{STAGED_SUFFIX}" "$f" || exit 1; shift 2; '
           'done; exec nginx -t')
# Reads only (the pid file is world-readable), so it runs as the SSH user: `ps`, not `kill -0`,
# which a user may not send to root's nginx.
WORKERS_SH = ('p=$(cat -- "$1") && { ps -o pid= -p "$p" >/dev/null || { echo "no process $p '
              '(from $1) is running, or /proc hides it from this user (hidepid)" >&2; exit 1; '
              '}; } && ps -o pid=,args= --ppid "$p"')


class DriftError(SwitchboardError):
    """The proxies' configs differ where the plan must change them identically."""


def build_plan(intent: Intent, configs: Mapping[str, ProxyConfig],
               proxies_in_order: Sequence[str], names: Mapping[str, str],
               *, drain_timeout: float = 300.0) -> Plan:
    """The plan for ``intent`` over ``proxies_in_order`` (standby first, then active)."""
    hosts = tuple(proxies_in_order)
    missing = [h for h in hosts if h not in configs]
    if missing:
        raise Refused(f"no configuration read from {', '.join(missing)} yet; wait for the "
                      "config reader or check the connection")
    if isinstance(intent, Failover):
        return _failover(intent, configs, hosts)
    if isinstance(intent, Reload):
        steps = [_test_live(h) for h in hosts]
        for h in hosts:
            steps += _reload_and_verify(h, configs[h], [])
        return Plan(intent, intent.describe(), "normal", tuple(steps), (), hosts=hosts)

    per_host = {h: resolve_backend(intent.backend, configs[h].upstreams, names,
                                   upstream=intent.upstream) for h in hosts}
    _same_targets(per_host)
    warnings: list[str] = []
    for h in hosts:
        for t in per_host[h]:
            warnings += [w for w in check(intent, t, h) if w not in warnings]
    change = change_for(intent)
    edits: list[FileEdit] = []
    for h in hosts:
        edits += _edit_files(h, configs[h], per_host[h], change)
    first = per_host[hosts[0]]
    by_addr = {addr: name for name, addr in names.items()}
    changes = tuple(f"{t.upstream.name}: {_label(t.server.address, by_addr)} ({t.server.file}:"
                    f"{t.server.line}): {change.describe()}" for t in first)
    steps, rollback = _transaction(configs, hosts, edits, {h: per_host[h] for h in hosts},
                                   change)
    if isinstance(intent, Drain):
        steps += [_wait_drained(h, t, drain_timeout) for h in hosts for t in per_host[h]]
    risky = bool(warnings)
    return Plan(intent, intent.describe(), "risky" if risky else "normal", tuple(steps),
                tuple(edits), tuple(rollback), hosts, changes, tuple(warnings))


def _label(address: str, by_addr: Mapping[str, str]) -> str:
    name = by_addr.get(address)
    return f"{name} ({address})" if name else address


def _same_targets(per_host: Mapping[str, list[Target]]) -> None:
    def key(ts: list[Target]) -> list[tuple[str, str, str, int, tuple[str, ...]]]:
        return [(t.upstream.name, t.server.address, t.server.file, t.server.line, t.server.args)
                for t in ts]

    hosts = list(per_host)
    base = key(per_host[hosts[0]])
    for h in hosts[1:]:
        other = key(per_host[h])
        if other != base:
            def show(k: list[tuple[str, str, str, int, tuple[str, ...]]]) -> str:
                return "; ".join(f"{u} `server {' '.join((a, *args))}` at {f}:{ln}"
                                 for u, a, f, ln, args in k) or "nothing"
            raise DriftError(
                f"the proxies differ where this change goes: {hosts[0]} has {show(base)}, "
                f"{h} has {show(other)}. Make the files identical first (see `drift`)")


def _edit_files(host: str, config: ProxyConfig, targets: list[Target], change: Change
                ) -> list[FileEdit]:
    out: list[FileEdit] = []
    for path in dict.fromkeys(t.server.file for t in targets):
        prefix = _side_prefix(host, config, path)
        old = config.files[path]
        new = old
        # Bottom-up, so a removed line never shifts a server still to be edited.
        for t in sorted((t for t in targets if t.server.file == path),
                        key=lambda t: t.server.line, reverse=True):
            new = edit_server(new, path, t.server, change)
        out.append(FileEdit(host, path, old, new, sha256(old), prefix))
    return out


def _side_prefix(host: str, config: ProxyConfig, path: str) -> str:
    """"" for ``file.switchboard-new``; "." when an include glob would read that name."""
    hit = ""
    for prefix in ("", "."):
        copies = [side_path(path, prefix, sfx) for sfx in (STAGED_SUFFIX, BACKUP_SUFFIX)]
        hit = next((p for p in config.includes for c in copies if glob_matches(p, c)), "")
        if not hit:
            return prefix
    raise Refused(f"{host}: `include {hit}` would also read the staged or backup copy of "
                  f"{path}, so Switchboard cannot change it safely; move the upstream into a "
                  "file whose directory is included with a narrower glob (e.g. *.conf)")


def _transaction(configs: Mapping[str, ProxyConfig], hosts: tuple[str, ...],
                 edits: list[FileEdit], targets: Mapping[str, list[Target]], change: Change
                 ) -> tuple[list[Step], list[Step]]:
    steps: list[Step] = []
    for e in edits:
        steps.append(Step("check", e.host, f"{e.path} is still the file the plan was made from",
                          ("sha256sum", "--", e.path), expect={"sha256": e.old_sha256},
                          root=False))
        steps.append(Step("stage", e.host, f"write the new text to {e.staged_path}",
                          _sh(STAGE_SH, e, STAGED_SUFFIX), stdin=e.new_text))
    for h in hosts:
        mine = [e for e in edits if e.host == h]
        steps.append(Step(
            "test", h, "nginx -t on the whole config with " + ", ".join(
                e.staged_path for e in mine) + " bind-mounted in place (private mount namespace)",
            ("unshare", "--mount", "--propagation", "private", "--", "sh", "-c",
             TEST_SH, "sh", *(x for e in mine for x in (e.path, e.side_prefix)))))
    rollback: list[Step] = []
    for h in hosts:
        mine = [e for e in edits if e.host == h]
        for e in mine:
            steps.append(Step("backup", h, f"keep the live file as {e.backup_path}",
                              _sh(BACKUP_SH, e, BACKUP_SUFFIX)))
        swaps = [Step("swap", h, f"atomically move {e.staged_path} over {e.path}",
                      _sh(SWAP_SH, e, STAGED_SUFFIX, e.old_sha256))
                 for e in mine]
        expected = [{"upstream": t.upstream.name, "address": t.server.address,
                     "args": expected_args((t.server.address, *t.server.args), change)}
                    for t in targets[h]]
        steps += _reload_and_verify(h, configs[h], swaps, expected)
    for h in reversed(hosts):
        for e in (e for e in edits if e.host == h):
            rollback.append(Step("rollback", h, f"put {e.backup_path} back over {e.path}",
                                 _sh(RESTORE_SH, e, BACKUP_SUFFIX),
                                 needs="swap"))
        rollback.append(Step("reload", h, "reload nginx with the restored file",
                             ("nginx", "-s", "reload"), needs="reload"))
        for e in (e for e in edits if e.host == h):
            rollback.append(Step("rollback", h, f"remove {e.staged_path}",
                                 _sh(REMOVE_SH, e, STAGED_SUFFIX),
                                 needs="stage"))
    return steps, rollback


def _sh(script: str, edit: FileEdit, suffix: str, *extra: str) -> tuple[str, ...]:
    return ("sh", "-c", script, "sh", edit.path, suffix, edit.side_prefix, *extra)


def _test_live(host: str) -> Step:
    return Step("test", host, "nginx -t on the live configuration", ("nginx", "-t"))


def _reload_and_verify(host: str, config: ProxyConfig, swaps: list[Step],
                       servers: Sequence[Mapping[str, object]] = ()) -> list[Step]:
    pid = config.pid_file or DEFAULT_PID_FILE
    workers = ("sh", "-c", WORKERS_SH, "sh", pid)
    steps = [Step("check", host, "master alive; record its worker PIDs", workers,
                  expect={"record": f"workers:{host}"}, root=False),
             *swaps,
             Step("reload", host, "nginx -s reload", ("nginx", "-s", "reload")),
             Step("verify", host, "master alive with a new generation of workers", workers,
                  expect={"workers_changed_from": f"workers:{host}", "timeout": 10.0},
                  root=False)]
    if servers:
        steps.append(Step("verify", host, "nginx -T shows the intended server lines",
                          ("nginx", "-T"), expect={"servers": servers}))
    return steps


def _wait_drained(host: str, target: Target, timeout: float) -> Step:
    forms = target.server.resolved
    if not forms:
        return Step("wait_drained", host, f"cannot count connections to {target.server.address}"
                    " from the proxy; watch the backend's active connections instead", (),
                    expect={"stub_status": target.server.address, "timeout": timeout,
                            "undo_on_failure": False})
    ip, port = split_host_port(forms[0])
    return Step("wait_drained", host, f"no connection left from {host} to {forms[0]}",
                ("ss", "-Htn", "state", "established", "dst", bracket_host(ip), "dport", "=",
                 f":{port}"),
                expect={"empty": True, "interval": 1.0, "timeout": timeout,
                        "undo_on_failure": False}, root=False)


def _failover(intent: Failover, configs: Mapping[str, ProxyConfig], hosts: tuple[str, ...]
              ) -> Plan:
    if len(hosts) < 2:
        raise Refused("failover needs two proxies in the inventory")
    active, standby = hosts[-1], hosts[0]
    target = intent.to or standby
    if target == active:
        raise Refused(f"{target} is already the active proxy; nothing to fail over")
    if target not in hosts:
        raise Refused(f"unknown proxy {target!r} (proxies: {', '.join(hosts)})")
    warnings = upstream_drift(configs[active], configs[target])
    steps = [Step("check", h, "Heartbeat is running", ("cl_status", "hbstatus"), root=False)
             for h in hosts]
    steps += [_test_live(target),
              Step("hb_standby", active, f"give every resource (VIP) to {target}",
                   (f"{HB_DIR}/hb_standby", "all")),
              Step("verify", target, f"{target} holds every resource",
                   ("cl_status", "rscstatus"), expect={"stdout_in": ["all"], "timeout": 60.0},
                   root=False)]
    rollback = [Step("hb_takeover", active, f"take the resources back on {active}",
                     (f"{HB_DIR}/hb_takeover", "all"), needs="hb_standby")]
    return Plan(intent, f"{intent.describe()} ({active} → {target})", "risky", tuple(steps), (),
                tuple(rollback), (target, active), (f"VIP: {active} → {target}",),
                tuple(f"drift: {w}" for w in warnings))
