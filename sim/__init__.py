"""Headless PyBullet simulation of a differential-drive robot in procedural rooms (no ROS)."""

from sim.env import ENV_ID, LangNavEnv, make_env, register_env

register_env()

__all__ = ["ENV_ID", "LangNavEnv", "make_env", "register_env"]
