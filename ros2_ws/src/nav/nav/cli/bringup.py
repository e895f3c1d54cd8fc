"""``nav bringup``: the node graph, one process per node (:mod:`nav.graph.supervisor`)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from nav.graph.supervisor import add_arguments

    bringup = sub.add_parser("bringup", help="run the node graph (one process per node); --sim for the simulator")
    add_arguments(bringup)
    bringup.set_defaults(func=run, label="bringup")


def run(args: argparse.Namespace) -> int:
    from nav.graph.supervisor import config_from_args, run_bringup

    return run_bringup(config_from_args(args))
