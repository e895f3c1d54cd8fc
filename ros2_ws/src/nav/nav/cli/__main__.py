"""``python -m nav.cli``: the ``nav`` command."""

import sys

from nav.cli import main

sys.exit(main())
