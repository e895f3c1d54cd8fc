"""The ``nav`` command: a thin parser with one module per command, each a wrapper over a config and a function.

Each command module has ``register(subparsers)``, which declares its options, and a ``run`` function;
the defaults live in the config dataclasses (see :mod:`nav.cli.common`). Heavy imports (PyBullet,
torch, rclpy) happen inside the command that needs them, so ``nav --help`` is instant and no command
pays for another's dependencies.
"""

from __future__ import annotations

import argparse
import sys

from nav.cli import bench, bringup, demo, eval_grounding, evaluate, experiment, faults, replay, security, teleop, train

__all__ = ["build_parser", "main"]

COMMANDS = (demo, bringup, teleop, evaluate, eval_grounding, train, bench, experiment, replay, faults, security)
"""The command modules, in the order ``nav --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nav", description="nav-stack: language-conditioned robot navigation")
    sub = parser.add_subparsers(dest="command", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    from configs import ConfigError
    from perception.errors import InstructionError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, InstructionError, LookupError, FileNotFoundError, TimeoutError) as exc:
        print(f"nav {args.label}: error: {exc}", file=sys.stderr)
        return 2
