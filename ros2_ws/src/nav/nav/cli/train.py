"""``nav train`` and ``nav export-model``: training in simulation (:mod:`policy.training`) and shipping a model."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from nav.cli.common import add_command, fail, log_for, options, print_json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from policy.cluster import LOCAL

    tr = add_command(sub, "train", run_train, "behaviour cloning + DAgger in simulation (resumes after a kill)")
    tr.add_argument("--config", help="train.yaml (path or name in configs/; default: train.yaml)")
    tr.add_argument("--variant", help="override the config's variant")
    tr.add_argument("--out-dir", help="override the config's out_dir")
    tr.add_argument("--from-bags", nargs="+", metavar="BAG", help="turn teleop/teacher bags into demonstrations")
    tr.add_argument("--instruction", help="with --from-bags: for bags without one (replaces a recorded one)")
    tr.add_argument("--reference", help="with --from-bags: the command topic that labels the steps")
    tr.add_argument("--bag-config", help="with --from-bags: bags.yaml with the topic map (path or name)")
    tr.add_argument(
        "--ray",
        nargs="?",
        const=LOCAL,
        metavar="ADDRESS",
        help="collect the teacher and DAgger rollouts as Ray actors (train.yaml workers of them) on the cluster at "
        "ADDRESS (host:port, or auto; alone: Ray's default); shards are written in out_dir; needs pip install "
        "'.[cluster]'",
    )
    tr.add_argument(
        "--train-workers",
        type=int,
        metavar="N",
        help="with --ray: train data-parallel on N Ray actors (gradients averaged; gloo on CPU, NCCL on GPU)",
    )
    tr.add_argument("--no-progress", action="store_true")
    tr.add_argument("--json", action="store_true")

    export = add_command(
        sub, "export-model", run_export, "copy a model folder (e.g. a run's) with half-precision weights"
    )
    export.add_argument("source", help="model folder (manifest.json + model.safetensors)")
    export.add_argument("destination", help="new model folder, e.g. models/medium")
    export.add_argument("--weights-dtype", choices=["float32", "float16", "bfloat16"], help="default: float16")


def run_train(args: argparse.Namespace) -> int:
    from policy.training import load_train_config, train

    log = log_for(args)
    config = load_train_config(*options(args, "config").values())
    overrides = {k: getattr(args, k) for k in ("variant", "out_dir", "train_workers") if hasattr(args, k)}
    config = dataclasses.replace(config, **overrides)
    if hasattr(args, "from_bags"):
        from nav.bags.episodes import bags_to_shard
        from nav.bags.reader import BagError

        try:
            shard = bags_to_shard(
                args.from_bags,
                Path(config.out_dir) / "bags" / "bag-episodes.npz",
                log=log,
                **options(args, "instruction", "reference", "bag_config"),
            )
        except BagError as exc:
            return fail(args, exc)
        log(f"from-bags: demonstrations written to {shard}; training on them beside the simulated data")
        config = dataclasses.replace(config, demonstrations=(*config.demonstrations, str(shard)))
    from policy.cluster import ClusterError

    try:
        model_dir = train(
            config, log=log, progress=not getattr(args, "no_progress", False), ray=getattr(args, "ray", None)
        )
    except (ClusterError, ValueError) as exc:  # a cluster that cannot be used; train_workers without --ray
        return fail(args, exc, 2)
    if getattr(args, "json", False):
        from policy.model_io import read_manifest

        print_json({"model": str(model_dir), "metrics": read_manifest(model_dir).get("metrics", {})})
    return 0


def run_export(args: argparse.Namespace) -> int:
    from policy.model_io import ModelFileError, export_model, read_manifest

    try:
        folder = export_model(args.source, args.destination, **options(args, "weights_dtype"))
    except (ModelFileError, ValueError) as exc:
        return fail(args, exc)
    dtype = read_manifest(folder)["weights_dtype"]
    log_for(args)(f"{args.source} -> {folder} ({dtype} weights, hash-checked on the way)")
    return 0
