"""``nav eval`` and ``nav teacher-eval``: closed-loop evaluation in simulation (:mod:`policy.evaluation`)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from nav.cli.common import add_command, fail, log_for, options, print_json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from policy.cluster import LOCAL

    teval = add_command(
        sub, "teacher-eval", run_teacher_eval, "success rate, SPL and collisions of the privileged teacher"
    )
    teval.add_argument("--episodes", type=int)
    teval.add_argument("--seed", type=int)
    teval.add_argument("--world-split", choices=["train", "unseen"])
    teval.add_argument("--instruction-split", choices=["train", "heldout"])
    teval.add_argument("--no-progress", action="store_true")
    teval.add_argument("--json", action="store_true")

    ev = add_command(sub, "eval", run_eval, "closed-loop evaluation of a model beside the teacher and the baselines")
    ev.add_argument(
        "--variant",
        help="model variant (models/<variant>; default medium) or teacher/classical/random; several comma-separated "
        "(the JSON's top-level figures are the first one's); a '+guard' suffix (medium+guard) runs it behind the "
        "robot's collision guard (ros.yaml guard), as the mux does",
    )
    ev.add_argument("--models-dir", type=Path, help="where <variant>/ model folders are (default: models/)")
    ev.add_argument(
        "--split",
        choices=["train", "unseen", "heldout", "vocabulary"],
        help="vocabulary: unseen worlds, each controller phrased canonically and in the held-out vocabulary's words",
    )
    ev.add_argument("--episodes", type=int)
    ev.add_argument("--seed", type=int)
    ev.add_argument("--workers", type=int, help="processes the episodes are spread over (with --ray: Ray actors)")
    ev.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL,
        metavar="ADDRESS",
        help="run the episodes as Ray actors on the cluster at ADDRESS (host:port, or auto; alone: Ray's default, "
        "$RAY_ADDRESS or a local instance); needs pip install '.[cluster]'",
    )
    ev.add_argument("--no-baselines", action="store_true", help="evaluate the variant alone")
    ev.add_argument(
        "--perturb",
        action="append",
        dest="perturbations",
        metavar="NAME[=S],...",
        help="perturb every episode (sim.perturb: camera_noise, lidar_short=3.5, latency=0.2, slip, ...)",
    )
    ev.add_argument(
        "--robustness", action="store_true", help="each controller clean, then under every perturbation at its default"
    )
    ev.add_argument("--json", action="store_true", help="end with one line of JSON (progress goes to stderr)")


def run_teacher_eval(args: argparse.Namespace) -> int:
    from policy.evaluation import EvalConfig, evaluate_teacher

    given = options(args, "episodes", "seed", "world_split", "instruction_split")
    summary = evaluate_teacher(EvalConfig(**given, progress=not getattr(args, "no_progress", False)))
    if getattr(args, "json", False):
        print_json(summary)
    else:
        for key, value in summary.items():
            print(f"{key:>18}: {value}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from policy.evaluation import REFERENCE_CONTROLLERS, EvalTableConfig

    log = log_for(args)
    if hasattr(args, "variant"):
        variants = [v.strip() for v in args.variant.split(",") if v.strip()]
    else:
        variants = [c for c in EvalTableConfig().controllers if c not in REFERENCE_CONTROLLERS]
    baselines = [] if getattr(args, "no_baselines", False) else [c for c in REFERENCE_CONTROLLERS if c not in variants]
    given = options(args, "split", "episodes", "seed", "workers", "models_dir", "ray")
    if hasattr(args, "perturbations"):
        given["perturbations"] = tuple(i.strip() for item in args.perturbations for i in item.split(",") if i.strip())
    try:
        config = EvalTableConfig(controllers=tuple(variants + baselines), **given)
    except ValueError as exc:
        return fail(args, exc, 2)
    from policy.cluster import ClusterError

    try:
        return _run_table(args, config, log)
    except ClusterError as exc:
        return fail(args, exc, 2)


def _run_table(args: argparse.Namespace, config: Any, log: Any) -> int:
    from policy.evaluation import evaluate_controller, format_robustness, format_rows, robustness_rows

    if getattr(args, "robustness", False):
        rows = robustness_rows(config, log=log)
        log(format_robustness(rows))
        if getattr(args, "json", False):
            print_json({"split": config.split, "seed": config.seed, "episodes": config.episodes, "table": rows})
        return 0
    rows = []
    for name in config.controllers:
        for phrasing in config.phrasings:
            log(f"eval: {name} on {config.episodes} {config.split} episodes (seed {config.seed}, {phrasing} phrasing)")
            rows.append(evaluate_controller(name, config, phrasing=phrasing))
            row = rows[-1]
            log(f"  success {row['success_rate']:.3f}, SPL {row['spl']:.3f}, collisions {row['collision_rate']:.3f}")
    log(format_rows(rows, config.split))
    result = {**rows[0], "split": config.split, "seed": config.seed, "table": rows}
    teacher = next((r for r in rows if r["controller"].split(" (")[0] == "teacher"), None)
    if teacher is not None and teacher["success_rate"] > 0:
        result["teacher_success_rate"] = teacher["success_rate"]
        result["ratio_to_teacher"] = round(rows[0]["success_rate"] / teacher["success_rate"], 3)
    if getattr(args, "json", False):
        print_json(result)
    return 0
