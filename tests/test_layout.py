"""The architecture as the code shows it: the cores run without ROS, the command line stays light."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.unit

CORES = ("configs", "sim", "perception", "policy", "nav.runtime", "nav.bags")
"""Packages that make every decision without a ROS graph (nav.bags: bags are read with rosbags)."""

IMPORT_ALL = """
import importlib, pkgutil, sys
for name in {packages!r}:
    package = importlib.import_module(name)
    for info in pkgutil.walk_packages(package.__path__, name + "."):
        if not info.name.endswith(".__main__"):  # that one runs the program
            importlib.import_module(info.name)
print(sorted(m for m in sys.modules if m.split(".")[0] in {forbidden!r}))
"""


def imported(packages: tuple[str, ...], forbidden: tuple[str, ...]) -> str:
    code = IMPORT_ALL.format(packages=packages, forbidden=forbidden)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_every_module_of_the_pure_cores_imports_without_ros():
    assert imported(CORES, ("rclpy", "rosidl_runtime_py", "launch")) == "[]"


def test_the_command_line_loads_no_heavy_dependency_until_a_command_runs():
    assert imported(("nav.cli",), ("rclpy", "torch", "pybullet")) == "[]"
