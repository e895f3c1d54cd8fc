"""The one place that imports PyBullet.

PyBullet prints a build banner from C when imported, which lands in the middle of a command's
output (and, with stdout piped, after the last line, breaking "the last line is JSON"). The import
here sends the C-level stdout and stderr to /dev/null while it runs.
"""

from __future__ import annotations

import ctypes
import os
import sys
from types import ModuleType


def _import_quietly() -> ModuleType:
    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    devnull = os.open(os.devnull, os.O_WRONLY)
    for fd in saved:
        os.dup2(devnull, fd)
    try:
        import pybullet

        ctypes.CDLL(None).fflush(None)
    finally:
        for fd, copy in saved.items():
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)
    return pybullet


p = _import_quietly()

__all__ = ["p"]
