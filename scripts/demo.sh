#!/usr/bin/env bash
# Installs what is missing, brings the lab cluster up with bounded traffic, opens the console.
set -euo pipefail
cd "$(dirname "$0")/.."
bash lab/setup.sh
inventory=$(.venv/bin/switchboard lab up --traffic | tail -n 1)
echo "lab inventory: $inventory" >&2
exec .venv/bin/switchboard --inventory "$inventory" "$@"
