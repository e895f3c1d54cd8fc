"""A plain install, as a robot owner makes it: a wheel of the project (not editable) in a new virtual
environment, and ``nav demo`` run from a folder outside the clone (issue 19).

The new environment holds only the wheel; its dependencies (torch, rclpy, ... several GB) are read
from this test's own environment through a ``.pth`` line, the way ``--system-site-packages`` would
read a base interpreter's, so nothing is downloaded. What is checked is the wheel: its packages and
its package data (the configs and the shipped models) are all the demo needs.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]


def tracked_tree(destination: Path) -> Path:
    """The repository's tracked files (``git ls-files``), copied: the source a wheel is built from."""
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in files.splitlines():
        source = REPO / name
        if source.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return destination


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the project's wheel installed; its ``bin`` folder."""
    root = tmp_path_factory.mktemp("install")
    source = tracked_tree(root / "source")
    dist = root / "dist"
    build = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(source)]
    subprocess.run(build, capture_output=True, text=True, check=True, timeout=600)
    wheel = next(dist.glob("nav_stack-*.whl"))
    env = root / "env"
    subprocess.run([sys.executable, "-m", "venv", str(env)], check=True, timeout=300)
    python = env / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # The dependencies from this environment; the ROS wheels' start-up hook as they install it.
    (Path(site) / "nav_test_dependencies.pth").write_text(
        f"{sysconfig.get_paths()['purelib']}\nimport ros_wheels_bootstrapper\n"
    )
    install = [str(python), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)]
    subprocess.run(install, capture_output=True, text=True, check=True, timeout=300)
    return env / "bin"


def test_the_wheel_carries_the_configs_and_the_shipped_models(installed: Path):
    probe = (
        "import json, configs, nav; from configs import models_dir; "
        "print(json.dumps({'configs': configs.__file__, 'nav': nav.__file__, 'models': str(models_dir())}))"
    )
    where = json.loads(
        subprocess.run(
            [str(installed / "python"), "-c", probe],
            capture_output=True,
            text=True,
            check=True,
            cwd=installed.parent.parent,
        ).stdout
    )
    env = installed.parent
    assert all(Path(path).is_relative_to(env) for path in where.values()), where
    for variant in ("small", "medium", "large"):
        shipped = REPO / "models" / variant / "manifest.json"
        assert (Path(where["models"]) / variant / "manifest.json").read_bytes() == shipped.read_bytes(), variant


def test_nav_demo_succeeds_from_a_folder_outside_the_clone_with_the_learned_policy(installed: Path, tmp_path: Path):
    work = tmp_path / "elsewhere"
    work.mkdir()
    result = subprocess.run(
        [str(installed / "nav"), "demo", "--json", "--out", "demo"],
        capture_output=True,
        text=True,
        cwd=work,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["success"] is True and metrics["driver"] == "learned policy via the ROS graph", metrics
    assert (work / "demo" / "metrics.json").exists() and (work / "demo" / "camera.mp4").exists()
