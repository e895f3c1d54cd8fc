"""The one place that imports PyBullet.

PyBullet prints a build banner on the C-level stdout when imported; with stdout piped that line
lands after everything Python printed, which would break "the last line is JSON". The import
here sends the banner to /dev/null.
"""

from __future__ import annotations

import ctypes
import os
import sys
from types import ModuleType


def _import_quietly() -> ModuleType:
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    try:
        import pybullet

        ctypes.CDLL(None).fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)
    return pybullet


p = _import_quietly()

__all__ = ["p"]
