"""colcon / ament_python build of the ROS 2 package ``nav``.

The pure cores (sim, perception, policy, configs) are installed with ``pip install .`` (or ``pip install
nav-stack``); this package holds the ROS layer. It installs:

- ``lib/nav/<executable>`` for every node of ``configs/graph.yaml`` (``ros2 run nav sim_node``), and ``nav``;
- ``share/nav/launch/bringup.launch.py`` (``ros2 launch nav bringup.launch.py``; the repository's
  ``launch/bringup.launch.py`` is a link to it);
- ``share/nav/configs`` (``*.yaml``, ``robots/*.yaml``): the configs the nodes and the launch file read on a
  robot (``nav.graph.paths.resolve_config_path``; ``$NAV_CONFIG_DIR`` overrides);
- ``share/nav/models/<variant>/``: the shipped models;
- ``share/nav/package.xml`` and the ament index marker.

Inside the project's clone the configs and models are the repository's. Copied alone into another
workspace, the package takes them from the installed project (its ``configs`` package and
``configs.models_dir()``), so every fact still has one source.
"""

import os
from pathlib import Path

import yaml
from setuptools import find_packages, setup

PACKAGE = "nav"
HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2] if len(HERE.parents) > 2 else HERE


def project_folders() -> tuple[Path, Path]:
    """The configs and the models folders: the repository's in its clone, else the installed project's."""
    if (ROOT / "configs" / "graph.yaml").is_file() and (ROOT / "pyproject.toml").is_file():
        return ROOT / "configs", ROOT / "models"
    try:
        import configs
    except ImportError:
        raise SystemExit(
            "nav: the project's Python packages are not installed. Install them first (`pip install nav-stack`, or "
            "`pip install .` in the project's clone): this ROS package installs their configs and models."
        ) from None
    return configs.config_dir(), configs.models_dir()


CONFIGS, MODELS = project_folders()


def relative(path: Path) -> str:
    """A source file as setuptools wants it: relative to this folder (setup.py runs here)."""
    return os.path.relpath(path, HERE)


def node_scripts() -> list[str]:
    """One console script per node executable declared in configs/graph.yaml (the one node list)."""
    with (CONFIGS / "graph.yaml").open(encoding="utf-8") as f:
        nodes = yaml.safe_load(f)["nodes"]
    return sorted({f"{n['executable']} = {n['module']}:main" for n in nodes})


def model_files() -> list[tuple[str, list[str]]]:
    """``share/nav/models/<variant>``: each variant's manifest and weights."""
    variants = sorted(d for d in MODELS.iterdir() if (d / "manifest.json").is_file())
    return [
        (f"share/{PACKAGE}/models/{d.name}", sorted(relative(f) for f in d.iterdir() if f.is_file())) for d in variants
    ]


setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", ["launch/bringup.launch.py"]),
        (f"share/{PACKAGE}/configs", sorted(relative(p) for p in CONFIGS.glob("*.yaml"))),
        (f"share/{PACKAGE}/configs/robots", sorted(relative(p) for p in (CONFIGS / "robots").glob("*.yaml"))),
        *model_files(),
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
