#!/usr/bin/env bash
# The tests: set up if needed, then run pytest (extra arguments are passed on).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$NAV_ROOT"
exec python -m pytest tests "$@"
