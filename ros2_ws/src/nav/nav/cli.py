"""The ``nav`` command: one subcommand per job, each a thin wrapper over a config and a function.

Heavy imports (PyBullet, torch, rclpy) happen inside the subcommand that needs them, so
``nav --help`` is instant and no subcommand pays for another's dependencies.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _finite(value: Any) -> Any:
    """NaN / inf (e.g. time to goal with no success) become null: strict JSON has no NaN."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _print_json(data: dict[str, Any]) -> None:
    print(json.dumps(_finite(data), sort_keys=True, allow_nan=False), flush=True)


def _log(args: argparse.Namespace) -> Callable[[str], None]:
    """Progress lines go to stderr when --json asks for a clean stdout."""
    stream = sys.stderr if getattr(args, "json", False) else sys.stdout
    return lambda line: print(line, file=stream, flush=True)


def _shipped_model(variant: str | None) -> Path | None:
    """The model folder the agent would run, or None when it is not there."""
    from nav.agent_node import resolve_models_dir
    from nav.ros_config import load_ros_config

    agent = load_ros_config().agent
    folder = resolve_models_dir(agent.models_dir) / (variant or agent.variant)
    return folder if (folder / "manifest.json").exists() else None


def cmd_demo(args: argparse.Namespace) -> int:
    log = _log(args)
    if not args.teacher and _shipped_model(args.variant) is None:
        log(
            "demo: no trained model is shipped for the agent yet (models/<variant>/manifest.json); "
            "the privileged teacher drives instead, in-process (as with --teacher)"
        )
        args.teacher = True
    if args.teacher and args.record:
        print(
            "nav demo: error: --record records the ROS graph, which needs a model for the agent "
            "(models/<variant>/manifest.json); the in-process teacher run publishes nothing to record",
            file=sys.stderr,
        )
        return 2
    if args.teacher:
        from sim.demo import DemoConfig, run_demo

        metrics = run_demo(DemoConfig(instruction=args.instruction, seed=args.seed, out_dir=Path(args.out)), log=log)
    else:
        from nav.demo import GraphDemoConfig, run_graph_demo

        metrics = run_graph_demo(
            GraphDemoConfig(
                instruction=args.instruction,
                seed=args.seed,
                out_dir=Path(args.out),
                variant=args.variant,
                timeout_s=args.timeout,
                record=Path(args.record) if args.record else None,
            ),
            log=log,
        )
    log(
        f"outcome: {'SUCCESS' if metrics['success'] else 'FAILURE'} in {metrics['time_s']} s, "
        f"path {metrics['path_length_m']} m (shortest {metrics['shortest_path_length_m']} m), "
        f"collisions {metrics['collisions']}"
    )
    for name, path in metrics.get("artifacts", {}).items():
        log(f"  {name}: {path}")
    if args.json:
        _print_json(metrics)
    return 0 if metrics["success"] else 1


def cmd_teacher_eval(args: argparse.Namespace) -> int:
    from sim.evaluate import EvalConfig, evaluate_teacher

    summary = evaluate_teacher(
        EvalConfig(
            episodes=args.episodes,
            seed=args.seed,
            world_split=args.world_split,
            instruction_split=args.instruction_split,
            progress=not args.no_progress,
        )
    )
    if args.json:
        _print_json(summary)
    else:
        for key, value in summary.items():
            print(f"{key:>18}: {value}")
    return 0


def cmd_bench_sim(args: argparse.Namespace) -> int:
    from sim.bench import SimBenchConfig, bench_sim, format_table

    result = bench_sim(SimBenchConfig(steps=args.steps, rounds=args.rounds, vector_envs=args.vector_envs))
    if args.json:
        _print_json(result)
    else:
        print(format_table(result))
    return 0


def cmd_bench_encoder(args: argparse.Namespace) -> int:
    from policy.bench import EncoderBenchConfig, bench_encoder, format_table

    result = bench_encoder(
        EncoderBenchConfig(iters=args.iters, variants=tuple(args.variants or ()), threads=args.threads)
    )
    if args.json:
        _print_json(result)
    else:
        print(format_table(result))
    return 0


def cmd_bench_loop(args: argparse.Namespace) -> int:
    from nav.bench_loop import LoopBenchConfig, bench_loop, format_table

    config = LoopBenchConfig(
        seconds=args.seconds,
        variants=tuple(args.variants or ()),
        models_dir=Path(args.models_dir) if args.models_dir else None,
    )
    try:
        result = bench_loop(config, log=_log(args))
    except RuntimeError as exc:  # the agent or the echo node died, or did not drive
        print(f"nav bench loop: error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        _print_json(result)
    else:
        print(format_table(result))
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from policy.evaluation import REFERENCE_CONTROLLERS, EvalTableConfig, evaluate_controller, format_rows

    log = _log(args)
    variants = [v.strip() for v in args.variant.split(",") if v.strip()]
    names = variants + ([] if args.no_baselines else [c for c in REFERENCE_CONTROLLERS if c not in variants])
    config = EvalTableConfig(
        controllers=tuple(names),
        split=args.split,
        episodes=args.episodes,
        seed=args.seed,
        workers=args.workers,
        models_dir=Path(args.models_dir) if args.models_dir else None,
    )
    rows = []
    for name in names:
        log(f"eval: {name} on {args.episodes} {args.split} episodes (seed {args.seed})")
        rows.append(evaluate_controller(name, config))
        row = rows[-1]
        log(f"  success {row['success_rate']:.3f}, SPL {row['spl']:.3f}, collisions {row['collision_rate']:.3f}")
    log(format_rows(rows, args.split))
    result = {**rows[0], "split": args.split, "seed": args.seed, "table": rows}
    teacher = next((r for r in rows if r["controller"] == "teacher"), None)
    if teacher is not None and teacher["success_rate"] > 0:
        result["teacher_success_rate"] = teacher["success_rate"]
        result["ratio_to_teacher"] = round(rows[0]["success_rate"] / teacher["success_rate"], 3)
    if args.json:
        _print_json(result)
    return 0


def cmd_export_model(args: argparse.Namespace) -> int:
    from policy.model_io import ModelFileError, export_model

    try:
        folder = export_model(args.source, args.destination, args.weights_dtype)
    except (ModelFileError, ValueError) as exc:
        print(f"nav export-model: error: {exc}", file=sys.stderr)
        return 1
    _log(args)(f"{args.source} -> {folder} ({args.weights_dtype} weights, hash-checked on the way)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    import dataclasses

    from policy.training import load_train_config, train

    config = load_train_config(args.config)
    overrides = {k: v for k, v in (("variant", args.variant), ("out_dir", args.out_dir)) if v is not None}
    config = dataclasses.replace(config, **overrides)
    if args.from_bags:
        from nav.bag_episodes import bags_to_shard
        from nav.bag_reader import BagError

        try:
            shard = bags_to_shard(args.from_bags, Path(config.out_dir) / "bags" / "bag-episodes.npz", log=_log(args))
        except BagError as exc:
            print(f"nav train: error: {exc}", file=sys.stderr)
            return 1
        _log(args)(f"from-bags: demonstrations written to {shard}; training on them beside the simulated data")
        config = dataclasses.replace(config, demonstrations=(*config.demonstrations, str(shard)))
    model_dir = train(config, log=_log(args), progress=not args.no_progress)
    if args.json:
        from policy.model_io import read_manifest

        _print_json({"model": str(model_dir), "metrics": read_manifest(model_dir).get("metrics", {})})
    return 0


def cmd_teleop(args: argparse.Namespace) -> int:
    from nav.ros_config import load_ros_config
    from nav.teleop import TeleopError, run_teleop

    try:
        run_teleop(load_ros_config(args.config))
    except TeleopError as exc:
        print(f"nav teleop: error: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_bringup(args: argparse.Namespace) -> int:
    from nav.bringup import config_from_args, run_bringup

    return run_bringup(config_from_args(args))


def cmd_experiment_adapt(args: argparse.Namespace) -> int:
    from nav.adapt_experiment import format_table, run_adapt_experiment
    from nav.agent_node import resolve_models_dir
    from nav.ros_config import load_ros_config

    agent = load_ros_config().agent
    models_dir = Path(args.models_dir) if args.models_dir else resolve_models_dir(agent.models_dir)
    summary = run_adapt_experiment(
        models_dir,
        args.report,
        quick=args.quick,
        torch_threads=agent.torch_threads,
        log=_log(args),
        budget_ms=args.budget_ms,
    )
    if args.json:
        _print_json(summary)
    else:
        print(format_table(summary))
    return 0


def cmd_replay_eval(args: argparse.Namespace) -> int:
    from nav.bag_reader import BagError
    from nav.replay_eval import ReplayEvalConfig, replay_eval

    log = _log(args)
    try:
        config = ReplayEvalConfig(
            bag=Path(args.bag),
            variants=tuple(args.variant or ("small",)),
            models_dir=Path(args.models_dir) if args.models_dir else None,
            reference=args.reference,
            instruction=args.instruction,
            align=args.align,
            bag_config=args.bag_config,
        )
        summary, results = replay_eval(config, log=log)
    except (BagError, FileNotFoundError, ValueError) as exc:  # the run is invalid: say why, no report
        print(f"nav replay-eval: error: {exc}", file=sys.stderr)
        if args.json:
            _print_json({"valid": False, "bag": args.bag, "error": str(exc)})
        return 1
    if args.report:
        from nav.replay_report import write_report

        log(f"report: {write_report(args.report, summary, results)}")
    if args.json:
        _print_json(summary)
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from nav.bag_reader import BagError
    from nav.replay import ReplayConfig, run_replay

    try:
        config = ReplayConfig(
            bag=Path(args.bag), rate=args.rate, remap=tuple(args.remap), topics=tuple(args.topics or ())
        )
        count = run_replay(config, log=_log(args))
    except (BagError, ValueError) as exc:
        print(f"nav replay: error: {exc}", file=sys.stderr)
        return 1
    return 0 if count > 0 else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nav", description="nav-stack: language-conditioned robot navigation")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser(
        "demo", help="the main job: the node graph drives the simulated robot to the named object, with artifacts"
    )
    demo.add_argument("--instruction", default="go to the red cube")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--out", default="artifacts/demo", help="folder for camera.mp4, trajectory.png, metrics.json")
    demo.add_argument(
        "--variant", default=None, help="model variant for the agent (default: agent.variant of ros.yaml)"
    )
    demo.add_argument(
        "--teacher", action="store_true", help="let the privileged teacher drive, in-process, without ROS"
    )
    demo.add_argument("--timeout", type=float, default=180.0, help="wall-clock limit (s), start-up included")
    demo.add_argument("--record", default=None, metavar="DIR", help="record a rosbag2 bag of the graph into DIR")
    demo.add_argument("--json", action="store_true", help="end with one line of JSON (progress goes to stderr)")
    demo.set_defaults(func=cmd_demo)

    teval = sub.add_parser("teacher-eval", help="success rate, SPL and collisions of the privileged teacher")
    teval.add_argument("--episodes", type=int, default=200)
    teval.add_argument("--seed", type=int, default=0)
    teval.add_argument("--world-split", choices=["train", "unseen"], default="train")
    teval.add_argument("--instruction-split", choices=["train", "heldout"], default="train")
    teval.add_argument("--no-progress", action="store_true")
    teval.add_argument("--json", action="store_true")
    teval.set_defaults(func=cmd_teacher_eval)

    ev = sub.add_parser("eval", help="closed-loop evaluation of a model beside the teacher and the baselines")
    ev.add_argument(
        "--variant",
        default="medium",
        help="model variant (models/<variant>) or teacher/classical/random; several comma-separated (the JSON's "
        "top-level figures are the first one's); a '+guard' suffix (medium+guard) runs it behind the robot's "
        "collision guard (ros.yaml guard), as the mux does",
    )
    ev.add_argument("--models-dir", default=None, help="where <variant>/ model folders are (default: models/)")
    ev.add_argument("--split", choices=["train", "unseen", "heldout"], default="unseen")
    ev.add_argument("--episodes", type=int, default=200)
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--workers", type=int, default=2, help="processes the episodes are spread over")
    ev.add_argument("--no-baselines", action="store_true", help="evaluate the variant alone")
    ev.add_argument("--json", action="store_true", help="end with one line of JSON (progress goes to stderr)")
    ev.set_defaults(func=cmd_eval)

    tr = sub.add_parser("train", help="behaviour cloning + DAgger in simulation (resumes after a kill)")
    tr.add_argument("--config", default="train.yaml", help="train.yaml (path or name in configs/)")
    tr.add_argument("--variant", default=None, help="override the config's variant")
    tr.add_argument("--out-dir", default=None, help="override the config's out_dir")
    tr.add_argument(
        "--from-bags", nargs="+", default=None, metavar="BAG", help="turn teleop/teacher bags into demonstrations"
    )
    tr.add_argument("--no-progress", action="store_true")
    tr.add_argument("--json", action="store_true")
    tr.set_defaults(func=cmd_train)

    export = sub.add_parser("export-model", help="copy a model folder (e.g. a run's) with half-precision weights")
    export.add_argument("source", help="model folder (manifest.json + model.safetensors)")
    export.add_argument("destination", help="new model folder, e.g. models/medium")
    export.add_argument("--weights-dtype", default="float16", choices=["float32", "float16", "bfloat16"])
    export.set_defaults(func=cmd_export_model)

    teleop = sub.add_parser("teleop", help="keyboard teleop in this terminal (works over SSH)")
    teleop.add_argument("--config", default="ros.yaml", help="ros.yaml (path or name)")
    teleop.set_defaults(func=cmd_teleop)

    from nav.bringup import add_arguments as add_bringup_arguments

    bringup = sub.add_parser("bringup", help="run the node graph (one process per node); --sim for the simulator")
    add_bringup_arguments(bringup)
    bringup.set_defaults(func=cmd_bringup)

    bench = sub.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="target", required=True)
    bsim = bench_sub.add_parser("sim", help="env steps/s against the bare PyBullet floor")
    bsim.add_argument("--steps", type=int, default=400)
    bsim.add_argument("--rounds", type=int, default=3)
    bsim.add_argument("--vector-envs", type=int, default=2)
    bsim.add_argument("--json", action="store_true")
    bsim.set_defaults(func=cmd_bench_sim)
    benc = bench_sub.add_parser("encoder", help="parameters and per-step CPU/GPU latency of each policy variant")
    benc.add_argument("--iters", type=int, default=300, help="timed control steps per variant")
    benc.add_argument("--variants", nargs="+", help="variant names (default: all in configs/models.yaml)")
    benc.add_argument(
        "--threads",
        type=int,
        default=0,
        help="torch CPU threads (default 0: every core; the agent node runs with ros.yaml agent.torch_threads)",
    )
    benc.add_argument("--json", action="store_true")
    benc.set_defaults(func=cmd_bench_encoder)
    bloop = bench_sub.add_parser(
        "loop", help="sensor in -> Twist out through the agent node over DDS, per variant, against the rclpy floor"
    )
    bloop.add_argument("--seconds", type=float, default=10.0, help="measured seconds per variant (and the floor)")
    bloop.add_argument("--variants", nargs="+", help="variant names (default: all in configs/models.yaml)")
    bloop.add_argument(
        "--models-dir", default=None, help="model folders (default: agent.models_dir); untrained stand-ins if missing"
    )
    bloop.add_argument("--json", action="store_true", help="end with one line of JSON (progress goes to stderr)")
    bloop.set_defaults(func=cmd_bench_loop)

    experiment = sub.add_parser("experiment", help="experiments")
    experiment_sub = experiment.add_subparsers(dest="target", required=True)
    adapt = experiment_sub.add_parser(
        "adapt", help="static small/medium/large against the resource monitor, idle and under CPU contention"
    )
    adapt.add_argument("--quick", action="store_true", help="the short profile (under a minute), contention included")
    adapt.add_argument("--models-dir", default=None, help="model folders <variant>/ (default: agent.models_dir)")
    adapt.add_argument("--report", default=None, help="write report.md, adapt.json and the plot here")
    adapt.add_argument("--json", action="store_true", help="end with one line of JSON keyed by run name")
    adapt.add_argument(
        "--budget-ms",
        type=float,
        default=None,
        help="a tick's deadline for the monitor and the miss count (default: monitor.yaml budget_ms)",
    )
    adapt.set_defaults(func=cmd_experiment_adapt)
    rev = sub.add_parser(
        "replay-eval", help="a recorded bag through the agent's core and models, against reference commands"
    )
    rev.add_argument("bag", help="rosbag2 folder (MCAP or sqlite3)")
    rev.add_argument("--variant", action="append", help="model variant, or random; repeat for several (default small)")
    rev.add_argument("--models-dir", default=None, help="model folders (default: agent.models_dir of ros.yaml)")
    rev.add_argument("--reference", default=None, help="reference Twist topic (default: topic_map.reference)")
    rev.add_argument("--instruction", default=None, help="for a bag without one (replaces a recorded one)")
    rev.add_argument(
        "--align", choices=["control", "reference"], default="control", help="tick at the control rate or per reference"
    )
    rev.add_argument("--bag-config", default="bags.yaml", help="bags.yaml with the topic map (path or name)")
    rev.add_argument("--report", default=None, metavar="DIR", help="write report.md, plots and summary.json here")
    rev.add_argument("--json", action="store_true", help="end with one line of JSON (progress goes to stderr)")
    rev.set_defaults(func=cmd_replay_eval)

    rep = sub.add_parser("replay", help="publish a bag on live topics with its original timing")
    rep.add_argument("bag", help="rosbag2 folder (MCAP or sqlite3)")
    rep.add_argument("--rate", type=float, default=1.0, help="speed factor (2: twice as fast)")
    rep.add_argument("--remap", action="append", default=[], metavar="FROM:=TO", help="publish topic FROM as TO")
    rep.add_argument("--topics", nargs="+", default=None, help="publish only these topics")
    rep.set_defaults(func=cmd_replay)
    return parser


def main(argv: list[str] | None = None) -> int:
    from configs import ConfigError
    from perception.errors import InstructionError as Ungrounded  # the agent's grounding refused it
    from sim.instructions import InstructionError  # the simulator's phrase table refused it

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except (ConfigError, InstructionError, Ungrounded, LookupError, FileNotFoundError, TimeoutError) as exc:
        print(f"nav {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
