"""Headless PyBullet simulation of a differential-drive robot in procedural rooms (no ROS).

Importing the package registers ``nav/LangNav-v0`` with gymnasium; the env (and PyBullet) load on first
use, so the configs and the perturbation table import without the simulator.
"""

from typing import Any

from sim.registration import ENV_ID, register_env

register_env()

__all__ = ["ENV_ID", "LangNavEnv", "make_env", "register_env"]


def __getattr__(name: str) -> Any:
    if name in ("LangNavEnv", "make_env"):
        from sim import env

        return getattr(env, name)
    raise AttributeError(f"module 'sim' has no attribute {name!r}")
