"""Helpers shared by the nginx config tests: synthetic `nginx -T` dumps and a real `nginx -t`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from state.upstreams import ProxyConfig
from switchboard.nginx_parse import parse_dump

DATA = Path(__file__).resolve().parent.parent / "data" / "nginx"
CORPUS = DATA / "corpus"
MAIN = "/etc/nginx/nginx.conf"


def dump(files: dict[str, str]) -> str:
    """Text shaped exactly as `nginx -T` prints these files (header, text, one newline)."""
    return "".join(f"# configuration file {path}:\n{text}\n" for path, text in files.items())


def corpus_config(name: str, host: str = "lb1") -> ProxyConfig:
    """A ProxyConfig for a corpus file included from a minimal http block."""
    text = (CORPUS / name).read_text()
    main = "events {}\nhttp {\n    include /etc/nginx/conf.d/*.conf;\n}\n"
    return parse_dump(dump({MAIN: main, f"/etc/nginx/conf.d/{name}": text}), host)


def nginx_t(upstream_text: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    """Run the real `nginx -t` on a throwaway config that includes ``upstream_text``."""
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    (tmp / "upstream.conf").write_text(upstream_text)
    conf = tmp / "nginx.conf"
    conf.write_text(f"events {{}}\nhttp {{\n    include {tmp}/upstream.conf;\n}}\n")
    return subprocess.run(
        [binary, "-t", "-q", "-c", str(conf), "-p", str(tmp),
         "-g", f"pid {tmp}/nginx.pid; error_log {tmp}/error.log;"],
        capture_output=True, text=True, check=False, timeout=30)
