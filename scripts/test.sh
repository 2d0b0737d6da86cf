#!/usr/bin/env bash
# Installs what is missing, then runs the whole suite: lint, types, unit tests, lab tests.
# Usage: bash scripts/test.sh [--fast]
#   --fast: lint, types and the fast unit set (seconds); root only for the first install
set -euo pipefail
cd "$(dirname "$0")/.."

fast=0
[[ "${1:-}" == "--fast" ]] && fast=1

if [[ $fast -eq 0 || ! -x .venv/bin/python ]]; then
  bash lab/setup.sh
fi
py=.venv/bin

echo "== ruff"
"$py/ruff" check .
echo "== mypy --strict"
"$py/mypy"
if [[ $fast -eq 1 ]]; then
  echo "== fast unit tests"
  exec "$py/pytest" -q -m "not lab and not slow" tests
fi
echo "== unit tests"
"$py/pytest" -q -m "not lab" tests
echo "== lab tests (real cluster in network namespaces)"
"$py/pytest" -q -m lab tests
