"""``nav replay`` and ``nav replay-eval``: a bag on live topics, or through the agent's core (:mod:`nav.bags`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nav.cli.common import add_command, add_group, fail, log_for, options, print_json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rev = add_command(
        sub,
        "replay-eval",
        run_replay_eval,
        "a recorded bag through the agent's core and models, against reference commands",
    )
    rev.add_argument("bag", type=Path, help="rosbag2 folder (MCAP or sqlite3), a bare .mcap file or a ROS 1 .bag file")
    rev.add_argument(
        "--variant",
        action="append",
        dest="variants",
        help="model variant, or random; repeat for several (default small)",
    )
    rev.add_argument("--models-dir", type=Path, help="model folders (default: agent.models_dir of ros.yaml)")
    rev.add_argument("--reference", help="reference Twist topic (default: topic_map.reference)")
    rev.add_argument("--instruction", help="for a bag without one (replaces a recorded one)")
    rev.add_argument(
        "--align", choices=["control", "reference"], help="tick at the control rate (default) or per reference"
    )
    rev.add_argument("--bag-config", help="bags.yaml with the topic map (path or name)")
    rev.add_argument("--report", metavar="DIR", help="write report.md, plots and summary.json here")
    rev.add_argument("--json", action="store_true", help="end with one line of JSON (progress goes to stderr)")

    bag_sub = add_group(sub, "bag", "bag tools (repair)")
    fix = add_command(
        bag_sub,
        "repair",
        run_repair,
        "rewrite a killed recording (an MCAP without its footer) as a bag ros2 bag and Foxglove open",
        label="bag repair",
    )
    fix.add_argument("bag", type=Path, help="the damaged rosbag2 folder (left as it is)")
    fix.add_argument("out", type=Path, help="new folder for the repaired bag")
    fix.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap", help="storage of the repaired bag")
    fix.add_argument("--json", action="store_true", help="end with one line of JSON")

    rep = add_command(sub, "replay", run_replay, "publish a bag on live topics with its original timing")
    rep.add_argument("bag", type=Path, help="rosbag2 folder (MCAP or sqlite3)")
    rep.add_argument("--rate", type=float, help="speed factor (2: twice as fast)")
    rep.add_argument("--remap", action="append", metavar="FROM:=TO", help="publish topic FROM as TO")
    rep.add_argument("--topics", nargs="+", help="publish only these topics")
    rep.add_argument(
        "--wait-for", type=int, metavar="N", help="start once each topic has N subscribers (default 1; 0: at once)"
    )
    rep.add_argument(
        "--discovery-timeout", type=float, dest="discovery_s", metavar="S", help="wait at most S s for them (default 3)"
    )


def run_replay_eval(args: argparse.Namespace) -> int:
    from nav.bags.reader import BagError
    from nav.bags.replay_eval import ReplayEvalConfig, replay_eval

    log = log_for(args)
    as_json = getattr(args, "json", False)
    try:
        config = ReplayEvalConfig(
            **options(args, "bag", "variants", "models_dir", "reference", "instruction", "align", "bag_config")
        )
        summary, results = replay_eval(config, log=log)
    except (BagError, FileNotFoundError, ValueError) as exc:  # the run is invalid: say why, no report
        code = fail(args, exc)
        if as_json:
            print_json({"valid": False, "bag": str(args.bag), "error": str(exc)})
        return code
    if hasattr(args, "report"):
        from nav.bags.report import write_report

        log(f"report: {write_report(args.report, summary, results)}")
    if as_json:
        print_json(summary)
    if not summary["valid"]:
        return fail(args, ValueError(f"{args.bag}: not a valid evaluation: {summary['notes'][-1]}"))
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from nav.bags.reader import BagError
    from nav.bags.replay import ReplayConfig, run_replay

    try:
        count = run_replay(
            ReplayConfig(**options(args, "bag", "rate", "remap", "topics", "wait_for", "discovery_s")),
            log=log_for(args),
        )
    except (BagError, ValueError) as exc:
        return fail(args, exc)
    return 0 if count > 0 else 1


def run_repair(args: argparse.Namespace) -> int:
    from nav.bags.reader import BagError
    from nav.bags.repair import repair_bag

    try:
        summary = repair_bag(args.bag, args.out, getattr(args, "storage", "mcap"))
    except (BagError, ValueError) as exc:
        return fail(args, exc)
    log_for(args)(f"{summary['messages']} messages into {summary['repaired']} ({'; '.join(summary['notes'])})")
    if getattr(args, "json", False):
        print_json(summary)
    return 0
