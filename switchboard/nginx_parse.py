"""Runs crossplane on ``nginx -T`` output; crossplane reads only files, so they go to a temp dir.

Everything else about reading a dump is pure and lives in :mod:`state.nginxconf`; this module
is the one place that writes the printed files to a private temporary directory, which never
outlives the call and is never the host's configuration.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence

import crossplane

from state.nginxconf import Payload, Stmt, proxy_config, split_dump, statements
from state.upstreams import ProxyConfig


def crossplane_payloads(files: Mapping[str, str]) -> dict[str, Payload]:
    """crossplane's payload for each file parsed alone, keyed by the file's real path."""
    payloads: dict[str, Payload] = {}
    with tempfile.TemporaryDirectory(prefix="switchboard-conf-") as tmp:
        for i, (path, text) in enumerate(files.items()):
            fname = os.path.join(tmp, f"{i}.conf")
            with open(fname, "w", encoding="utf-8") as fh:
                fh.write(text)
            payloads[path] = crossplane.parse(fname, single=True, comments=False,
                                              check_ctx=False, check_args=False)
    return payloads


def parse_files(files: Mapping[str, str], host: str = "") -> dict[str, list[Stmt]]:
    """Each file's statements as crossplane parses it alone (raises NginxConfigError)."""
    return statements(crossplane_payloads(files), host)


def parse_dump(text: str, host: str, *, hosts: Mapping[str, Sequence[str]] | None = None
               ) -> ProxyConfig:
    """Read one proxy's ``nginx -T`` output (see :func:`state.nginxconf.proxy_config`)."""
    files = split_dump(text, host)
    return proxy_config(host, files, parse_files(files, host), hosts=hosts)
