"""``nav demo``: the main job (:mod:`nav.demo`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nav.cli.common import add_command, fail, log_for, options, print_json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = add_command(
        sub, "demo", run, "the main job: the node graph drives the simulated robot to the named object, with artifacts"
    )
    demo.add_argument("--instruction", help="what the robot is asked (default: task.default_instruction of sim.yaml)")
    demo.add_argument("--seed", type=int, help="the world is the first from this seed on that holds the object")
    demo.add_argument("--out", type=Path, help="folder for camera.mp4, trajectory.png, metrics.json")
    demo.add_argument("--variant", help="model variant for the agent (default: agent.variant of ros.yaml)")
    demo.add_argument(
        "--teacher", action="store_true", help="let the privileged teacher drive, in-process, without ROS"
    )
    demo.add_argument("--timeout", type=float, help="wall-clock limit (s), start-up included")
    demo.add_argument("--record", type=Path, metavar="DIR", help="record a rosbag2 bag of the graph into DIR")
    demo.add_argument("--json", action="store_true", help="end with one line of JSON (progress goes to stderr)")


def _shipped_model(variant: str | None) -> Path | None:
    """The model folder the agent would run, or None when it is not there."""
    from nav.runtime.config import load_ros_config, resolve_models_dir

    agent = load_ros_config().agent
    folder = resolve_models_dir(agent.models_dir) / (variant or agent.variant)
    return folder if (folder / "manifest.json").exists() else None


def run(args: argparse.Namespace) -> int:
    from nav.demo import DemoConfig, run_demo

    log = log_for(args)
    given = options(args, "instruction", "seed", "variant", "teacher", "record", out_dir="out", timeout_s="timeout")
    if not given.get("teacher") and _shipped_model(given.get("variant")) is None:
        log(
            "demo: no trained model is shipped for the agent yet (models/<variant>/manifest.json); "
            "the privileged teacher drives instead, in-process (as with --teacher)"
        )
        given["teacher"] = True
    try:
        config = DemoConfig(**given)
    except ValueError as exc:
        return fail(args, exc, 2)
    metrics = run_demo(config, log=log)
    log(
        f"outcome: {'SUCCESS' if metrics['success'] else 'FAILURE'} in {metrics['time_s']} s, "
        f"path {metrics['path_length_m']} m (shortest {metrics['shortest_path_length_m']} m), "
        f"collisions {metrics['collisions']}"
    )
    for name, path in metrics.get("artifacts", {}).items():
        log(f"  {name}: {path}")
    if getattr(args, "json", False):
        print_json(metrics)
    return 0 if metrics["success"] else 1
