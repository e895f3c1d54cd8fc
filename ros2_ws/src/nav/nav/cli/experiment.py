"""``nav experiment adapt``: static variants against the resource monitor (:mod:`nav.experiments.adapt`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nav.cli.common import add_command, add_group, log_for, print_json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    targets = add_group(sub, "experiment", "experiments")
    adapt = add_command(
        targets,
        "adapt",
        run_adapt,
        "static small/medium/large against the resource monitor, idle and under CPU contention",
        "experiment adapt",
    )
    adapt.add_argument("--quick", action="store_true", help="the short profile (under a minute), contention included")
    adapt.add_argument("--models-dir", type=Path, help="model folders <variant>/ (default: agent.models_dir)")
    adapt.add_argument("--report", help="write report.md, adapt.json and the plot here")
    adapt.add_argument("--json", action="store_true", help="end with one line of JSON keyed by run name")
    adapt.add_argument(
        "--budget-ms",
        type=float,
        help="a tick's deadline for the monitor and the miss count (default: monitor.yaml budget_ms)",
    )


def run_adapt(args: argparse.Namespace) -> int:
    from nav.experiments.adapt import format_table, run_adapt_experiment
    from nav.runtime.config import load_ros_config, resolve_models_dir

    agent = load_ros_config().agent
    summary = run_adapt_experiment(
        getattr(args, "models_dir", None) or resolve_models_dir(agent.models_dir),
        getattr(args, "report", None),
        quick=getattr(args, "quick", False),
        torch_threads=agent.torch_threads,
        log=log_for(args),
        budget_ms=getattr(args, "budget_ms", None),
    )
    if getattr(args, "json", False):
        print_json(summary)
    else:
        print(format_table(summary))
    return 0
