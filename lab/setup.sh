#!/bin/sh
# Installs what the Switchboard lab needs on Debian 12 (run as root; safe to run again):
# the Debian packages, without starting their services on this machine, then .venv with
# Switchboard installed editable. Usage: sudo lab/setup.sh   (PYTHON=python3.12 to choose)
set -eu

PACKAGES="nginx-light heartbeat resource-agents cluster-glue openssh-server openssh-client
php-cgi iproute2 procps psmisc logrotate util-linux python3 python3-venv python3-pip
goaccess wrk sudo"

if [ "$(id -u)" -ne 0 ]; then
    echo "lab/setup.sh: run as root (apt-get, and the lab itself, need it)" >&2
    exit 2
fi
repo=$(cd "$(dirname "$0")/.." && pwd)

# Keep the packages' own nginx/sshd/heartbeat from starting on the machine itself: the lab
# runs its own copies inside namespaces. Only a policy-rc.d we created is removed again.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# Written by switchboard lab/setup.sh for the install only.\nexit 101\n' \
        > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT INT TERM
fi

export DEBIAN_FRONTEND=noninteractive
# Only ask apt when something is missing: a second run (every test run) stays fast and offline.
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "lab/setup.sh: installing:$missing" >&2
    apt-get update
    # shellcheck disable=SC2086  # the list is meant to split into words
    apt-get install -y --no-install-recommends $missing
fi

cd "$repo"
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
# pip is asked only when pyproject.toml or the lock changed since the last install. The lock
# pins what the tests were written against (SVG snapshots depend on Textual's exact version).
stamp=.venv/.switchboard-installed
if [ ! -e "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ requirements.lock -nt "$stamp" ]; then
    .venv/bin/pip install -q -c requirements.lock -e '.[dev]'
    touch "$stamp"
fi
echo "lab/setup.sh: done; bring the lab up with: .venv/bin/switchboard lab up" >&2
