"""``nav teleop``: keyboard teleop in this terminal (:mod:`nav.nodes.keyboard_teleop`)."""

from __future__ import annotations

import argparse

from nav.cli.common import add_command, fail, options


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    teleop = add_command(sub, "teleop", run, "keyboard teleop in this terminal (works over SSH)")
    teleop.add_argument("--config", help="ros.yaml (path or name; default: ros.yaml)")


def run(args: argparse.Namespace) -> int:
    from nav.nodes.keyboard_teleop import TeleopError, run_teleop
    from nav.runtime.config import load_ros_config

    try:
        run_teleop(load_ros_config(*options(args, "config").values()))
    except TeleopError as exc:
        return fail(args, exc, 2)
    return 0
