"""The agent's last instruction, kept across a restart of the agent within one run of the graph. Pure Python.

A crashed agent is restarted by its supervisor (``nav bringup``, or ``ros2 launch``'s respawn) and would wait
for someone to publish the instruction again: an instruction published once (``ros2 topic pub --once``) is
gone. So the agent keeps the last instruction it accepted in a file named for the graph's run (the
``run_id`` parameter both launchers set, new on every start of the graph) and takes it back when it starts
in the same run. A new run never resumes an old instruction: the robot does not drive off on a goal from
before it was brought up. A refused instruction clears the file (the robot stopped for it, and stays
stopped after a restart). Without a run id nothing is kept.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

__all__ = ["InstructionStore", "state_dir"]


def state_dir() -> Path:
    """``$NAV_STATE_DIR``, else ``nav-state`` in the system's temporary folder (a run's state outlives no boot)."""
    return Path(os.environ.get("NAV_STATE_DIR") or Path(tempfile.gettempdir()) / "nav-state")


class InstructionStore:
    """The last accepted instruction of run ``run_id`` (see the module docstring)."""

    def __init__(self, run_id: str, directory: Path | None = None) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", run_id):
            raise ValueError(f"run_id must be 1-64 letters, digits, '_', '.' or '-', got {run_id!r}")
        self.path = (directory or state_dir()) / f"agent-{run_id}.instruction"

    def load(self) -> str | None:
        """The instruction kept for this run, or None."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            return None
        return text or None

    def save(self, text: str) -> None:
        """Keep ``text`` (atomically: a kill mid-write leaves the old file or the new one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            Path(tmp).replace(self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
