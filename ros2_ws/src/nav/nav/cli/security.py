"""``nav security OUT``: SROS2 governance and per-node permissions from the graph (:mod:`nav.graph.security`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nav.cli.common import add_command, fail, log_for


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sec = add_command(
        sub,
        "security",
        run,
        "write SROS2 governance and permissions (an enclave per node, only its own topics) from configs/graph.yaml",
    )
    sec.add_argument(
        "out", type=Path, help="folder for governance.xml, enclaves/nav/<node>/permissions.xml, README.txt"
    )
    sec.add_argument("--sim", action="store_true", help="the graph with the simulator (default: on the robot)")
    sec.add_argument("--domain", type=int, help="the robot's ROS_DOMAIN_ID (default 0)")
    sec.add_argument("--config", help="ros.yaml (path or name) whose topic names the permissions use")


def run(args: argparse.Namespace) -> int:
    import datetime as dt

    from nav.graph.declaration import load_graph
    from nav.graph.paths import resolve_config_path
    from nav.graph.security import write_artefacts
    from nav.runtime.config import DEFAULT_ROS_CONFIG, load_ros_config

    try:
        ros = load_ros_config(resolve_config_path(getattr(args, "config", DEFAULT_ROS_CONFIG)))
        graph = load_graph(resolve_config_path("graph.yaml"))
        now = dt.datetime.now(dt.timezone.utc)
        sim, domain = getattr(args, "sim", False), getattr(args, "domain", 0)
        written = write_artefacts(args.out, graph, ros.topics, sim, domain, now)
    except (OSError, ValueError) as exc:
        return fail(args, exc)
    log = log_for(args)
    log(f"security: {len(written)} files in {args.out}; next steps in {args.out / 'README.txt'}")
    return 0
