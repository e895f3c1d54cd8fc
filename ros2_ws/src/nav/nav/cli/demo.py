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
    demo.add_argument("--robot", help="the simulated robot's profile: a name of configs/robots (turtlebot3) or a file")
    demo.add_argument("--json", action="store_true", help="end with one line of JSON (progress goes to stderr)")


def _model_folder(variant: str | None) -> Path:
    """The model folder the agent would run (it may not exist)."""
    from nav.runtime.config import load_ros_config, resolve_models_dir

    agent = load_ros_config().agent
    return resolve_models_dir(agent.models_dir) / (variant or agent.variant)


def run(args: argparse.Namespace) -> int:
    from nav.demo import DemoConfig, run_demo

    log = log_for(args)
    given = options(
        args, "instruction", "seed", "variant", "teacher", "record", "robot", out_dir="out", timeout_s="timeout"
    )
    manifest = _model_folder(given.get("variant")) / "manifest.json"
    if not given.get("teacher") and not manifest.exists():
        from configs import MODELS_DIR_ENV

        return fail(
            args,
            FileNotFoundError(
                f"no model for the agent: {manifest} does not exist. The shipped models come with "
                f"the package and the repository's models/; name another folder with ${MODELS_DIR_ENV}, or "
                "run `nav demo --teacher` to let the privileged teacher drive instead (no learned model)"
            ),
            2,
        )
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
