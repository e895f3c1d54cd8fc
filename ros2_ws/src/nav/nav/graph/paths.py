"""Where the nodes, the launch file and ``nav bringup`` find the config files (``ros.yaml`` ...).

In the repository they are ``configs/``; after ``colcon build`` on a robot, ``share/nav/configs``;
``$NAV_CONFIG_DIR`` overrides both. The launch file imports only this module.
"""

from __future__ import annotations

import os
from pathlib import Path

from configs.loader import CONFIG_DIR_ENV

__all__ = ["CONFIG_DIR_ENV", "installed_config_dir", "resolve_config_path"]


def installed_config_dir() -> Path | None:
    """``share/nav/configs`` of a colcon install of the ``nav`` package, if one is on AMENT_PREFIX_PATH."""
    try:
        from ament_index_python.packages import get_package_share_directory

        share = Path(get_package_share_directory("nav")) / "configs"
    except (ImportError, LookupError, OSError, ValueError):
        return None
    return share if share.is_dir() else None


def resolve_config_path(name: str | Path) -> Path:
    """An absolute path for a config file given by path or by name (``ros.yaml``).

    A path that exists is used as is. A bare name is looked up in ``$NAV_CONFIG_DIR``, then in
    ``share/nav/configs`` of a colcon install (on a robot), then in the ``configs`` package.
    """
    path = Path(name).expanduser()
    if path.is_absolute() or path.exists():
        return path.resolve()
    candidates = []
    if os.environ.get(CONFIG_DIR_ENV):
        candidates.append(Path(os.environ[CONFIG_DIR_ENV]))
    installed = installed_config_dir()
    if installed is not None:
        candidates.append(installed)
    from configs import config_dir

    candidates.append(config_dir())
    for folder in candidates:
        if (folder / path).exists():
            return (folder / path).resolve()
    return (candidates[-1] / path).resolve()  # the loader names it in its error
