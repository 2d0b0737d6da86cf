"""The lab's non-root operator account (sbops) and, on the proxies, the sudo rule it logs in with.

Each lab host has private copies of /etc/passwd, /etc/group, /etc/shadow, /etc/sudoers.d and
/home (see :data:`lab.render.BIND_TARGETS`), so the account and its rule exist only inside the
lab hosts: nothing is added to this machine's own files, and `lab down` removes them with the
runtime directory.
"""

from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from pathlib import Path

from lab import render
from lab.errors import LabError
from lab.topology import LabHost

OPERATOR = "sbops"
# adm reads Debian's nginx logs (www-data:adm 0640); Debian's cl_status is setgid haclient,
# haclient is there for systems whose cl_status is not.
OPERATOR_GROUPS = ("adm", "haclient")
SUDOERS = "/etc/sudoers.d/switchboard"
FIRST_ID = 2000  # clear of Debian's system accounts; the uid is only seen inside the lab


def sudoers_rule(user: str = OPERATOR) -> str:
    """The sudoers rule Switchboard needs, for ``user`` (the README shows it for ``ops``)."""
    return render.template("sudoers.tmpl", user=user)


def free_id(passwd: Path = Path("/etc/passwd"), group: Path = Path("/etc/group")) -> int:
    """The lowest id from FIRST_ID that is neither a uid nor a gid on this machine."""
    used = {int(line.split(":")[2]) for path in (passwd, group)
            for line in path.read_text().splitlines()
            if line.count(":") >= 3 and line.split(":")[2].isdigit()}
    uid = FIRST_ID
    while uid in used:
        uid += 1
    return uid


def _append(path: Path, line: str) -> None:
    text = path.read_text()
    path.write_text(text + ("" if text.endswith("\n") or not text else "\n") + line + "\n")


def _join_groups(path: Path, user: str, groups: tuple[str, ...]) -> None:
    lines = path.read_text().splitlines()
    missing = set(groups)
    for i, line in enumerate(lines):
        fields = line.split(":")
        if len(fields) == 4 and fields[0] in missing:
            members = [m for m in fields[3].split(",") if m]
            fields[3] = ",".join([*members, user])
            lines[i] = ":".join(fields)
            missing.discard(fields[0])
    if missing:
        raise LabError(f"no group {', '.join(sorted(missing))} on this machine; install the "
                       "lab's packages with 'sudo lab/setup.sh'")
    path.write_text("\n".join(lines) + "\n")


def add_operator(host: LabHost, client_pubkey: str, uid: int, user: str = OPERATOR) -> None:
    """``user`` in the host's private account files, in OPERATOR_GROUPS, with a home whose
    authorized_keys holds the lab's client key. No password: it logs in with the key only."""
    etc = host.dir / "etc"
    _append(etc / "passwd", f"{user}:x:{uid}:{uid}:Switchboard lab operator:/home/{user}:"
                            "/bin/bash")
    _append(etc / "group", f"{user}:x:{uid}:")
    days = (datetime.date.today() - datetime.date(1970, 1, 1)).days
    _append(etc / "shadow", f"{user}:*:{days}:0:99999:7:::")  # '*': no password, not locked
    _join_groups(etc / "group", user, OPERATOR_GROUPS)
    home = host.dir / "home" / user
    ssh = home / ".ssh"
    ssh.mkdir(parents=True, exist_ok=True)
    (ssh / "authorized_keys").write_text(client_pubkey.strip() + "\n")
    for path, mode in ((home, 0o750), (ssh, 0o700), (ssh / "authorized_keys", 0o600)):
        os.chown(path, uid, uid)
        path.chmod(mode)


def install_sudoers(host: LabHost, text: str) -> Path:
    """Put ``text`` at SUDOERS inside the host (0440 root), refusing what visudo refuses."""
    path = host.dir / SUDOERS.lstrip("/")
    staged = path.with_name(".switchboard.tmp")
    staged.write_text(text)
    staged.chmod(0o440)
    proc = subprocess.run(["visudo", "-cf", str(staged)], capture_output=True, text=True,
                          check=False)
    if proc.returncode != 0:
        staged.unlink()
        raise LabError(f"{host.name}: visudo refused the sudoers rule: "
                       f"{(proc.stderr or proc.stdout).strip()}")
    staged.rename(path)
    return path


def remove_sudoers(host: LabHost) -> None:
    (host.dir / SUDOERS.lstrip("/")).unlink(missing_ok=True)


def has_includedir(sudoers: Path = Path("/etc/sudoers")) -> bool:
    """Whether this machine's sudo reads /etc/sudoers.d (Debian's /etc/sudoers does)."""
    try:
        text = sudoers.read_text()
    except OSError:
        return False
    return any(line.split()[:2] in (["@includedir", "/etc/sudoers.d"],
                                    ["#includedir", "/etc/sudoers.d"])
               for line in text.splitlines() if line.strip())


def tools_missing() -> list[str]:
    return [t for t in ("sudo", "visudo") if shutil.which(t) is None]
