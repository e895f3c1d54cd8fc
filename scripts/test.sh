#!/usr/bin/env bash
# The tests: set up if needed, then run pytest (extra arguments are passed on).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$NAV_ROOT"
# The tests cover the optional cluster extra (nav eval --ray on a local Ray cluster); the demo does not need it.
if ! python -c 'import ray' 2>/dev/null; then
  say "installing the cluster extra (Ray) for its tests"
  extra="$(python -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["cluster"]))')"
  # shellcheck disable=SC2086
  python -m pip install -q $extra || die "pip could not install the cluster extra ($extra)"
fi
exec python -m pytest tests "$@"
