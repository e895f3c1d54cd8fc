"""Test tiers: every test carries exactly one of the markers below, so a tier can run on its own.

    pytest -m unit        the quick loop: pure Python, no DDS, no training (well under a minute)
    pytest -m dds         real rclpy nodes over DDS, each in its own ROS domain
    pytest -m e2e         whole programs: the demo, the node graph, colcon, the CLI end to end
    pytest -m training    training runs and what needs a trained shard
    pytest                all of them (what CI runs)

A test file marks its tier with ``pytestmark``; a file that mixes tiers marks each test. A test
with no tier, or with two, stops the collection naming it.
"""

from __future__ import annotations

import pytest

TIERS = ("unit", "dds", "e2e", "training")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wrong = []
    for item in items:
        tiers = {mark.name for mark in item.iter_markers() if mark.name in TIERS}
        if len(tiers) != 1:
            wrong.append(f"{item.nodeid}: {sorted(tiers) or 'no tier'}")
    if wrong:
        raise pytest.UsageError(f"every test needs exactly one tier marker of {TIERS}:\n  " + "\n  ".join(wrong))
