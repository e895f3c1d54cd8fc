#!/usr/bin/env bash
# The main job: set up if needed, then run `nav demo` (extra arguments are passed on).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$NAV_ROOT"
exec nav demo "$@"
