"""``colcon build`` of ros2_ws installs what a robot needs: node executables, the launch file, configs, models;
in this clone, and with the package copied alone into another workspace (issue 19 item 2).

colcon and ament_package come from PyPI (``colcon-common-extensions``, ``ros-ament-package``,
in the dev extras).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from nav.graph.declaration import load_graph

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[1]
COLCON = Path(sys.executable).parent / "colcon"


def colcon_build(workspace: Path, base: Path) -> Path:
    """``colcon build`` of ``workspace/ros2_ws/src`` (or ``workspace/src``) into ``base``; the nav package's prefix."""
    colcon = str(COLCON) if COLCON.exists() else shutil.which("colcon")
    if colcon is None:
        pytest.fail("colcon is not installed: pip install colcon-common-extensions ros-ament-package (dev extras)")
    sources = "ros2_ws/src" if (workspace / "ros2_ws" / "src").is_dir() else "src"
    result = subprocess.run(
        [
            colcon,
            "--log-base",
            str(base / "log"),
            "build",
            "--base-paths",
            sources,
            "--build-base",
            str(base / "build"),
            "--install-base",
            str(base / "install"),
        ],
        cwd=workspace,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, f"colcon build failed:\n{result.stdout}\n{result.stderr}"
    return base / "install" / "nav"  # colcon's default isolated layout: <install-base>/<package>


@pytest.fixture(scope="module", params=["in the clone", "copied alone"])
def install(request, tmp_path_factory) -> Path:
    """The package built in this clone, and copied alone into a new workspace (configs and models then come
    from the installed project: here, this environment's ``pip install -e .``)."""
    base = tmp_path_factory.mktemp("colcon")
    if request.param == "in the clone":
        return colcon_build(REPO, base)
    workspace = base / "ws"
    shutil.copytree(REPO / "ros2_ws" / "src" / "nav", workspace / "src" / "nav")
    return colcon_build(workspace, base)


def test_every_node_of_the_graph_is_an_executable_under_lib_nav(install):
    executables = {spec.executable for spec in load_graph().nodes}

    assert executables == {"sim_node", "agent_node", "resource_monitor_node", "mux_node", "joy_teleop_node"}
    for name in [*executables, "nav"]:
        path = install / "lib" / "nav" / name
        assert path.is_file() and os.access(path, os.X_OK), path


def test_launch_file_configs_and_package_index_are_installed(install):
    share = install / "share"

    assert (share / "nav" / "launch" / "bringup.launch.py").read_text() == (
        REPO / "launch" / "bringup.launch.py"
    ).read_text()
    for name in ("ros.yaml", "graph.yaml", "sim.yaml", "robots/turtlebot3.yaml"):
        assert (share / "nav" / "configs" / name).read_text() == (REPO / "configs" / name).read_text(), name
    for variant in ("small", "medium", "large"):
        for name in ("manifest.json", "model.safetensors"):
            installed, shipped = share / "nav" / "models" / variant / name, REPO / "models" / variant / name
            assert installed.read_bytes() == shipped.read_bytes(), installed
    assert (share / "nav" / "package.xml").is_file()
    assert (share / "ament_index" / "resource_index" / "packages" / "nav").is_file()


def test_installed_package_reads_its_configs_from_share_nav(install):
    site = next((install / "lib").glob("python3*/site-packages"))
    env = {**os.environ, "AMENT_PREFIX_PATH": str(install), "PYTHONPATH": str(site)}
    env.pop("NAV_CONFIG_DIR", None)
    code = (
        "import nav, nav.graph.paths as b; print(nav.__file__); print(b.resolve_config_path('ros.yaml')); "
        "print(b.resolve_config_path('graph.yaml'))"
    )

    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/", timeout=60)

    assert result.returncode == 0, result.stderr
    module, ros_yaml, graph_yaml = result.stdout.split()
    assert Path(module).is_relative_to(install), "the colcon-installed nav package is the one imported"
    assert Path(ros_yaml) == install / "share" / "nav" / "configs" / "ros.yaml"
    assert Path(graph_yaml) == install / "share" / "nav" / "configs" / "graph.yaml"


def test_an_installed_node_executable_runs(install):
    site = next((install / "lib").glob("python3*/site-packages"))
    domain = 150 + (os.getpid() % 16) * 3 + 2  # test_bringup's domain (see test_sim_node)
    env = {**os.environ, "AMENT_PREFIX_PATH": str(install), "PYTHONPATH": str(site), "ROS_DOMAIN_ID": str(domain)}
    node = install / "lib" / "nav" / "sim_node"

    # a bad parameter ends the node at once with a clear error: enough to show the entry point works
    result = subprocess.run(
        [str(node), "--ros-args", "-p", "world_seed:=-5"], capture_output=True, text=True, env=env, timeout=60
    )

    assert result.returncode == 2, result.stderr
    assert "world_seed must be >= 0" in result.stderr
