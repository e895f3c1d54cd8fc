"""The agent's last instruction survives a restart within one run of the graph, and only within it."""

from __future__ import annotations

from pathlib import Path

import pytest

from nav.runtime.instruction_store import InstructionStore

pytestmark = pytest.mark.unit


def test_an_instruction_is_kept_for_its_run_only(tmp_path: Path) -> None:
    store = InstructionStore("run-1", tmp_path)
    assert store.load() is None
    store.save("go to the red cube")
    assert InstructionStore("run-1", tmp_path).load() == "go to the red cube"  # the restarted agent's view
    assert InstructionStore("run-2", tmp_path).load() is None  # a new bringup resumes nothing
    store.save("go to the blue ball")
    assert store.load() == "go to the blue ball"
    store.clear()  # a refused instruction: stopped, and stopped after a restart
    assert store.load() is None
    store.clear()
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


@pytest.mark.parametrize("run_id", ["", "../etc", "a b", "x" * 65])
def test_a_run_id_that_is_no_file_name_is_refused(run_id: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="run_id"):
        InstructionStore(run_id, tmp_path)
