"""What every ``nav`` subcommand shares: JSON output, progress lines, and config fields from its arguments.

A subcommand's options default to ``argparse.SUPPRESS``: an option not given is absent from the
namespace, and :func:`options` passes only the given ones to the config dataclass, so every default
lives once, in the dataclass (or in the YAML it reads), never in argparse.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["add_command", "fail", "log_for", "options", "print_json"]

Command = Callable[[argparse.Namespace], int]


def add_command(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    run: Command,
    help: str,
    label: str | None = None,
) -> argparse.ArgumentParser:
    """A subcommand parser whose options are absent unless given (see the module docstring).

    ``label`` names the command in error lines (``nav bench loop: error: ...``; default ``name``)."""
    parser = sub.add_parser(name, help=help, description=help, argument_default=argparse.SUPPRESS)
    parser.set_defaults(func=run, label=label or name)
    return parser


def add_group(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """A command with subcommands of its own (``nav bench sim``): add them with :func:`add_command`."""
    return sub.add_parser(name, help=help).add_subparsers(dest="target", required=True)


def options(args: argparse.Namespace, *names: str, **renamed: str) -> dict[str, Any]:
    """``{field: value}`` for each option that was given: ``names`` keep their name, ``renamed`` maps
    field -> option. Lists become tuples (the configs are frozen dataclasses)."""
    given = {name: name for name in names} | renamed
    out = {}
    for field, option in given.items():
        if hasattr(args, option):
            value = getattr(args, option)
            out[field] = tuple(value) if isinstance(value, list) else value
    return out


def _finite(value: Any) -> Any:
    """NaN / inf (e.g. time to goal with no success) become null: strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def print_json(data: dict[str, Any]) -> None:
    print(json.dumps(_finite(data), sort_keys=True, allow_nan=False), flush=True)


def log_for(args: argparse.Namespace) -> Callable[[str], None]:
    """Progress lines go to stderr when --json asks for a clean stdout."""
    stream = sys.stderr if getattr(args, "json", False) else sys.stdout
    return lambda line: print(line, file=stream, flush=True)


def fail(args: argparse.Namespace, exc: BaseException, code: int = 1) -> int:
    """Say what went wrong, as ``nav <command>: error: ...`` on stderr; return the exit code."""
    print(f"nav {args.label}: error: {exc}", file=sys.stderr)
    return code
