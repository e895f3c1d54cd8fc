"""colcon / ament_python build of the ROS 2 package ``nav``.

The pure cores (sim, perception, policy, configs) are installed from the repository root with
``pip install .``; this package holds the ROS layer. It installs:

- ``lib/nav/<executable>`` for every node of ``configs/graph.yaml`` (``ros2 run nav sim_node``), and ``nav``;
- ``share/nav/launch/bringup.launch.py`` (``ros2 launch nav bringup.launch.py``);
- ``share/nav/configs/*.yaml`` and ``configs/robots/*.yaml``: the configs the nodes and the launch file read on a robot
  (``nav.graph.paths.resolve_config_path``; ``$NAV_CONFIG_DIR`` overrides);
- ``share/nav/package.xml`` and the ament index marker.
"""

import os
from pathlib import Path

import yaml
from setuptools import find_packages, setup

PACKAGE = "nav"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]


def from_root(*parts: str) -> str:
    """A repository file, relative to this folder (setup.py runs here)."""
    return os.path.relpath(ROOT.joinpath(*parts), HERE)


def node_scripts() -> list[str]:
    """One console script per node executable declared in configs/graph.yaml (the one node list)."""
    with (ROOT / "configs" / "graph.yaml").open(encoding="utf-8") as f:
        nodes = yaml.safe_load(f)["nodes"]
    return sorted({f"{n['executable']} = {n['module']}:main" for n in nodes})


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", [from_root("launch", "bringup.launch.py")]),
        (
            f"share/{PACKAGE}/configs",
            sorted(from_root("configs", p.name) for p in (ROOT / "configs").glob("*.yaml")),
        ),
        (
            f"share/{PACKAGE}/configs/robots",
            sorted(from_root("configs", "robots", p.name) for p in (ROOT / "configs" / "robots").glob("*.yaml")),
        ),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="nav-stack team",
    description="nav-stack ROS 2 nodes",
    license="Apache-2.0",
    # recorder_node is not in the graph (it runs with `nav bringup --record`); `ros2 run nav recorder_node`.
    entry_points={
        "console_scripts": ["nav = nav.cli:main", "recorder_node = nav.nodes.recorder_node:main", *node_scripts()]
    },
)
