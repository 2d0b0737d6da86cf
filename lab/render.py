"""Renders a lab host's private file tree (/etc/nginx, /etc/ha.d, /etc/ssh, logs, web root)."""

from __future__ import annotations

import os
import re
import shutil
from importlib import resources
from pathlib import Path

from lab import topology
from lab.errors import LabError
from lab.topology import LabHost

# Paths bound from the host's own directory over the real ones inside its mount namespace.
# The account files, sudoers.d and /home are private too, so the lab's operator account and
# its sudo rule exist only inside the lab hosts (nothing is added to this machine's files).
# /run comes last: binding it hides the lab runtime dir, which the earlier binds come from.
BIND_TARGETS = (
    "/etc/nginx", "/etc/ha.d", "/etc/ssh", "/etc/hostname", "/etc/hosts",
    "/etc/passwd", "/etc/group", "/etc/shadow", "/etc/sudoers.d",
    "/var/log", "/var/lib/nginx", "/var/lib/heartbeat", "/var/www", "/root", "/home", "/tmp",
    "/usr/local/sbin", "/run",
)
# Copied from the machine so nginx, Heartbeat, ssh and sudo find their stock files.
SEEDED = ("/etc/nginx", "/etc/ha.d", "/etc/ssh", "/var/lib/heartbeat", "/etc/passwd",
          "/etc/group", "/etc/shadow", "/etc/sudoers.d")
HEARTBEAT_TOOLS = ("hb_standby", "hb_takeover")


def template(name: str, **values: str) -> str:
    """A template from lab/templates with every {{key}} filled in."""
    text = resources.files("lab").joinpath("templates", name).read_text(encoding="utf-8")

    def fill(m: re.Match[str]) -> str:
        key = m.group(1)
        if key not in values:
            raise LabError(f"template {name}: no value for '{key}'")
        return values[key]

    return re.sub(r"\{\{\s*(\w+)\s*\}\}", fill, text)


def holder_script() -> Path:
    return Path(str(resources.files("lab").joinpath("templates", "holder.sh")))


def write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)


def seed(host: LabHost) -> None:
    """Fresh private copies of the stock trees, and empty dirs for the rest."""
    for target in BIND_TARGETS:
        src, dst = Path(target), host.dir / target.lstrip("/")
        if not src.exists():
            raise LabError(f"{target} is missing on this machine; run lab/setup.sh first")
        if target in SEEDED and src.is_dir():
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst, symlinks=True)
        elif target in SEEDED:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)  # mode and times; the owner (root:shadow) below
            info = src.stat()
            os.chown(dst, info.st_uid, info.st_gid)
        elif src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
            shutil.copystat(src, dst)
        else:
            write(dst, "")
    # The machine's own sshd keys stay the machine's; each lab host gets its own.
    for key in (host.dir / "etc/ssh").glob("ssh_host_*"):
        key.unlink()
    (host.dir / "etc/nginx/sites-enabled/default").unlink(missing_ok=True)
    for tool in HEARTBEAT_TOOLS:
        link = host.dir / "usr/local/sbin" / tool
        link.unlink(missing_ok=True)
        link.symlink_to(f"/usr/share/heartbeat/{tool}")


def common(host: LabHost, lab_hosts: tuple[LabHost, ...], client_pubkey: str) -> None:
    d = host.dir
    write(d / "etc/hostname", f"{host.name}\n")
    entries = "\n".join(f"{h.address}\t{h.name}" for h in lab_hosts)
    write(d / "etc/hosts", template("hosts.tmpl", entries=entries))
    write(d / "etc/ssh/sshd_config", template("sshd_config.tmpl", host=host.name))
    write(d / "etc/ssh/lab_authorized_keys", client_pubkey, 0o600)
    (d / "etc/ssh").chmod(0o755)
    run = d / "run"
    (run / "sshd").mkdir(parents=True, exist_ok=True)
    (run / "sshd").chmod(0o755)
    (d / "tmp").chmod(0o1777)
    (d / "root").chmod(0o700)
    write(d / "etc/nginx/nginx.conf", template("nginx.conf.tmpl", host=host.name, role=host.role))
    logs = d / "var/log/nginx"
    logs.mkdir(parents=True, exist_ok=True)
    shutil.chown(logs, "www-data", "adm")
    for name in ("access.log", "error.log"):
        write(logs / name, "", 0o640)
        shutil.chown(logs / name, "www-data", "adm")


def proxy(host: LabHost, lab_hosts: tuple[LabHost, ...], secret: str) -> None:
    d = host.dir
    backends = [h for h in lab_hosts if h.role == "web"]
    lbs = [h for h in lab_hosts if h.role == "lb"]
    servers = "\n".join(
        f"    server {h.address}:{topology.BACKEND_PORT} max_fails=2 fail_timeout=30s;"
        for h in backends)
    write(d / "etc/nginx/conf.d/upstream.conf", template("upstream.conf.tmpl", servers=servers))
    write(d / "etc/nginx/sites-enabled/switchboard",
          template("proxy-site.conf.tmpl", host=host.name))
    ucast = "\n".join(f"ucast {topology.IFACE} {h.address}" for h in lbs if h != host)
    nodes = "\n".join(f"node {h.name}" for h in lbs)
    write(d / "etc/ha.d/ha.cf", template("ha.cf.tmpl", ucast=ucast, nodes=nodes))
    write(d / "etc/ha.d/haresources", template(
        "haresources.tmpl", primary=lbs[0].name, vip=topology.VIP,
        prefix=str(topology.PREFIX), iface=topology.IFACE))
    write(d / "etc/ha.d/authkeys", template("authkeys.tmpl", secret=secret), 0o600)
    hb_run = d / "run/heartbeat"
    for sub in ("", "ccm", "crm", "dopd"):
        (hb_run / sub).mkdir(parents=True, exist_ok=True)
        shutil.chown(hb_run / sub, "hacluster", "haclient")
        (hb_run / sub).chmod(0o750)
    (d / "run/resource-agents").mkdir(parents=True, exist_ok=True)


def backend(host: LabHost) -> None:
    d = host.dir
    site = template("backend-site.conf.tmpl", host=host.name, port=str(topology.BACKEND_PORT))
    write(d / "etc/nginx/sites-enabled/switchboard", site)
    html = d / "var/www/html"
    write(html / "index.html", template("index.html.tmpl", host=host.name))
    write(html / "index.php", template("index.php"))
