"""``nav bench sim | encoder | train | loop | collect``: the benchmarks (:mod:`nav.bench`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from nav.cli.common import add_command, add_group, fail, log_for, options, print_json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    targets = add_group(sub, "bench", "benchmarks")
    bsim = add_command(targets, "sim", run_sim, "env steps/s against the bare PyBullet floor", "bench sim")
    bsim.add_argument("--steps", type=int, help="env steps per timed round")
    bsim.add_argument("--rounds", type=int, help="timed rounds (the median is reported)")
    bsim.add_argument("--vector-envs", type=int, help="envs in the grouped vector run (default 8)")
    bsim.add_argument("--vector-workers", type=int, help="processes of the vector runs (default 2)")
    bsim.add_argument("--json", action="store_true")
    benc = add_command(
        targets,
        "encoder",
        run_encoder,
        "parameters and per-step CPU/GPU latency of each policy variant",
        "bench encoder",
    )
    benc.add_argument("--iters", type=int, help="timed control steps per variant")
    benc.add_argument(
        "--threads",
        type=int,
        help="torch CPU threads (default 0: every core; the agent node runs with ros.yaml agent.torch_threads)",
    )
    _variants_and_device(benc)
    btrain = add_command(
        targets,
        "train",
        run_train,
        "nav train's optimiser step (batch on the CPU, forward, backward, AdamW) per variant, CPU beside GPU",
        "bench train",
    )
    btrain.add_argument("--steps", type=int, help="timed optimiser steps per variant and device (default 20)")
    btrain.add_argument("--config", help="training config whose batch is timed (default train.yaml)")
    btrain.add_argument("--threads", type=int, help="torch CPU threads (default 0: every core)")
    btrain.add_argument(
        "--batch-threads", type=int, help="threads making batches ahead (default: the config's; -1 auto, 0 none)"
    )
    _variants_and_device(btrain)
    bcol = add_command(
        targets,
        "collect",
        run_collect,
        "collection episodes/s: local worker processes against Ray actors, the same workers, in one run",
        "bench collect",
    )
    bcol.add_argument("--episodes", type=int, help="teacher episodes each path collects (default 24)")
    bcol.add_argument("--workers", type=int, help="local processes and Ray actors (default 2)")
    bcol.add_argument("--shard-episodes", type=int, help="episodes per task (default 2)")
    bcol.add_argument("--ray", metavar="ADDRESS", help="Ray cluster (default: a local Ray instance for this run)")
    bcol.add_argument("--json", action="store_true", help="end with one line of JSON (progress goes to stderr)")
    bloop = add_command(
        targets,
        "loop",
        run_loop,
        "sensor in -> Twist out through the agent node over DDS, per variant, against the rclpy floor",
        "bench loop",
    )
    bloop.add_argument("--seconds", type=float, help="measured seconds per variant (and the floor)")
    bloop.add_argument("--variants", nargs="+", help="variant names (default: all in configs/models.yaml)")
    bloop.add_argument(
        "--models-dir", type=Path, help="model folders (default: agent.models_dir); untrained stand-ins if missing"
    )
    bloop.add_argument("--config", type=Path, help="the agent's ros.yaml (default: configs/ros.yaml)")
    bloop.add_argument("--json", action="store_true", help="end with one line of JSON (progress goes to stderr)")


def _variants_and_device(parser: argparse.ArgumentParser) -> None:
    """The options bench encoder and bench train share: which variants, which devices, JSON."""
    parser.add_argument("--variants", nargs="+", help="variant names (default: all in configs/models.yaml)")
    parser.add_argument(
        "--device",
        choices=("auto", "cpu", "cuda"),
        help="auto (default): the CPU, and CUDA beside it when present; cpu: the CPU alone; cuda: CPU and CUDA",
    )
    parser.add_argument("--json", action="store_true")


def _show(args: argparse.Namespace, result: dict, table: str) -> int:
    if getattr(args, "json", False):
        print_json(result)
    else:
        print(table)
    return 0


def run_collect(args: argparse.Namespace) -> int:
    from nav.bench.collect import CollectBenchConfig, bench_collect, format_table
    from policy.cluster import ClusterError

    try:
        config = CollectBenchConfig(**options(args, "episodes", "workers", "shard_episodes", "ray"))
        result = bench_collect(config, log=log_for(args))
    except (ValueError, ClusterError) as exc:
        return fail(args, exc, 2)
    return _show(args, result, format_table(result))


def run_sim(args: argparse.Namespace) -> int:
    from nav.bench.simulator import SimBenchConfig, bench_sim, format_table

    try:
        config = SimBenchConfig(**options(args, "steps", "rounds", "vector_envs", "vector_workers"))
    except ValueError as exc:
        return fail(args, exc, 2)
    result = bench_sim(config)
    return _show(args, result, format_table(result))


def run_encoder(args: argparse.Namespace) -> int:
    from nav.bench.encoder import EncoderBenchConfig, bench_encoder, format_table

    try:
        result = bench_encoder(EncoderBenchConfig(**options(args, "iters", "variants", "threads", "device")))
    except ValueError as exc:  # device cuda without a GPU
        return fail(args, exc, 2)
    return _show(args, result, format_table(result))


def run_train(args: argparse.Namespace) -> int:
    from nav.bench.train import TrainBenchConfig, bench_train, format_table
    from policy.configuration import UnknownVariantError

    try:
        config = TrainBenchConfig(**options(args, "steps", "variants", "device", "config", "threads", "batch_threads"))
        result = bench_train(config)
    except (ValueError, UnknownVariantError) as exc:
        return fail(args, exc, 2)
    return _show(args, result, format_table(result))


def run_loop(args: argparse.Namespace) -> int:
    from nav.bench.loop import LoopBenchConfig, bench_loop, format_table

    config = LoopBenchConfig(**options(args, "seconds", "variants", "models_dir", "config"))
    try:
        result = bench_loop(config, log=log_for(args))
    except (RuntimeError, ValueError) as exc:  # the agent or the echo node died or did not drive; a bad setting
        return fail(args, exc)
    return _show(args, result, format_table(result))
