"""The env's gymnasium id and its registration (no PyBullet: ``import sim`` registers it cheaply)."""

from __future__ import annotations

import gymnasium as gym

from sim.config import TaskConfig

__all__ = ["ENV_ID", "register_env"]

ENV_ID = "nav/LangNav-v0"


def register_env() -> None:
    """Register ``nav/LangNav-v0`` (idempotent, reads no file).

    The registered time limit is the :class:`TaskConfig` default; :func:`make_env` passes the
    limit of the config actually used.
    """
    if ENV_ID in gym.registry:
        return
    gym.register(id=ENV_ID, entry_point="sim.env:LangNavEnv", max_episode_steps=TaskConfig().max_episode_steps)
