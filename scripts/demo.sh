#!/usr/bin/env bash
# Main job: collect two-paths demos, train policies, evaluate, write a report with plots.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/genpolicy demo "$@"
