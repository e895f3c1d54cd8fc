"""Evaluation and collection on a Ray cluster (``nav eval --ray``, ``nav train --ray``): a head and one more node
started on loopback by the test; the same episodes as the local path for the same seeds; a killed actor's
episode (or collection chunk) run again and counted once."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import yaml
from test_training import short_sim, tiny_config

from nav.cli import main
from policy.data import Episode, load_episodes
from policy.evaluation import EvalTableConfig, controller_episodes, models_dir
from policy.training.collection import _collect_chunk as collect_chunk
from policy.training.collection import _init_collector as init_collector
from policy.training.collection import _stage_chunks as stage_chunks
from sim.config import load_sim_config

__all__ = ["short_sim"]  # the fixture, shared with the training tests

ray = pytest.importorskip("ray", reason="the cluster extra (pip install '.[cluster]') is not installed")

pytestmark = pytest.mark.e2e

START_TIMEOUT_S = 60.0
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
"""The nodes and this process agree on no token (a loopback cluster of the test's own; a token left in ~/.ray by
an earlier local Ray instance must not decide)."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_start(args: list[str]) -> subprocess.Popen[bytes]:
    """One Ray node (``ray start --block``) in its own process group, so that the test can stop it and
    everything it started, and nothing else on the machine."""
    env = {**os.environ, **RAY_ENV}
    command = [str(Path(sys.executable).with_name("ray")), "start", "--block", "--num-cpus=1", *args]
    command += ["--object-store-memory=100000000", "--disable-usage-stats"]
    return subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A head and one more node on loopback, one CPU each; yields the head's address."""
    saved = {k: os.environ.get(k) for k in RAY_ENV}
    os.environ.update(RAY_ENV)
    temp_dir = Path(tempfile.gettempdir()) / f"ray-test-{os.getpid()}"  # short: Ray's socket paths must fit 107 bytes
    port = _free_port()
    address = f"127.0.0.1:{port}"
    nodes = [
        _ray_start(
            [
                "--head",
                f"--port={port}",
                "--node-ip-address=127.0.0.1",
                "--include-dashboard=false",
                f"--temp-dir={temp_dir}",
            ]
        )
    ]
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ray.is_initialized():
            try:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
            except (ConnectionError, RuntimeError):
                if time.monotonic() > deadline or nodes[0].poll() is not None:
                    raise
                time.sleep(0.5)
        nodes.append(_ray_start([f"--address={address}", "--node-ip-address=127.0.0.1"]))
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            assert time.monotonic() < deadline and nodes[1].poll() is None, "the second Ray node did not join"
            time.sleep(0.5)
        yield address
    finally:
        ray.shutdown()
        for node in reversed(nodes):
            if node.poll() is None:
                os.killpg(node.pid, signal.SIGTERM)
        for node in nodes:
            try:
                node.wait(timeout=3)  # SIGTERM first: ray start --block then stops its processes
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait(timeout=10)
        shutil.rmtree(temp_dir, ignore_errors=True)
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.mark.parametrize(("name", "episodes", "local_workers"), [("teacher", 4, 2), ("medium", 2, 1)])
def test_ray_episodes_equal_the_local_paths_for_the_same_seeds(
    cluster: str, name: str, episodes: int, local_workers: int
) -> None:
    """Local workers (or this process) and two Ray actors deal the seeds differently: the episodes are the same."""
    local = EvalTableConfig(controllers=(name,), episodes=episodes, seed=40, workers=local_workers)
    _, here, _ = controller_episodes(name, local)
    _, there, latencies = controller_episodes(name, dataclasses.replace(local, ray=cluster, workers=2))
    assert there == here  # every field of every episode, in seed order
    assert len(latencies) == sum(r.steps for r in there)  # one act per step, every episode counted once


def test_a_killed_actor_s_episode_is_run_again_and_counted_once(cluster: str) -> None:
    from policy.cluster import run_episodes_on_ray

    config = EvalTableConfig(controllers=("teacher",), episodes=6, seed=60, workers=2)
    sim, here, _ = controller_episodes("teacher", config)
    lost: list[tuple[int, str]] = []

    def kill_one(pids: list[int]) -> None:  # SIGKILL one actor's process half a second into the run
        threading.Timer(0.5, os.kill, (pids[0], signal.SIGKILL)).start()

    seeds = list(config.episode_config().seeds)
    there, latencies = run_episodes_on_ray(
        "teacher",
        sim,
        seeds,
        models_dir(),
        1,
        2,
        cluster,
        on_start=kill_one,
        on_lost=lambda s, why: lost.append((s, why)),
    )
    assert len(lost) == 1, lost  # the actor died holding one episode, which went to a fresh actor
    assert there == here  # nothing lost, nothing twice
    assert len(latencies) == sum(r.steps for r in there)


def test_nav_eval_ray_reports_what_the_local_run_does(cluster: str, capsys: pytest.CaptureFixture[str]) -> None:
    rows = []
    for extra in ([], ["--ray", cluster]):
        argv = ["eval", "--variant", "teacher", "--no-baselines", "--episodes", "4", "--seed", "80", "--json"]
        assert main(argv + extra) == 0
        row = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        rows.append({k: v for k, v in row.items() if not k.startswith("latency") and k != "table"})
    assert rows[0] == rows[1]


def _plain(fields: dict[str, object]) -> dict[str, object]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}


def _same_episodes(a: list[Episode], b: list[Episode]) -> bool:
    return len(a) == len(b) and all(
        x.instruction == y.instruction
        and x.success == y.success
        and all(np.array_equal(getattr(x, f), getattr(y, f)) for f in ("images", "scans", "odom", "labels", "aux"))
        for x, y in zip(a, b, strict=True)
    )


def test_nav_train_ray_collects_the_local_paths_shards_and_trains(
    cluster: str, tmp_path: Path, short_sim: Path
) -> None:
    """A tiny run collected on the cluster: its teacher shards hold exactly the episodes the local path
    collects for the same seeds, and it ends in a model, as the local run does."""
    config = tiny_config(tmp_path / "ray", short_sim, workers=2, eval_episodes=1, stage_eval_episodes=0)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(_plain(dataclasses.asdict(config))), encoding="utf-8")
    assert main(["train", "--config", str(path), "--ray", cluster, "--no-progress"]) == 0
    data = tmp_path / "ray" / "data"
    assert sorted(p.name for p in data.iterdir()) == ["bc-00000.npz", "bc-00001.npz", "dagger01-00000.npz"]
    assert (tmp_path / "ray" / "model" / "model.safetensors").is_file()
    init_collector(load_sim_config(short_sim), None, 1, config.hold_steps)
    for chunk, seeds, flags in stage_chunks(config, 0):
        _, episodes = collect_chunk((chunk, seeds, flags))
        assert _same_episodes(load_episodes(data / f"bc-{chunk:05d}.npz"), episodes)


def test_a_collection_actor_killed_mid_run_loses_no_chunk_and_counts_none_twice(
    cluster: str, tmp_path: Path, short_sim: Path
) -> None:
    from policy.cluster import collect_on_ray

    config = tiny_config(tmp_path, short_sim, bc_episodes=8, shard_episodes=2, workers=2)
    sim = load_sim_config(short_sim)
    tasks = stage_chunks(config, 0)
    lost: list[object] = []
    pids: list[int] = []
    got: dict[int, list[Episode]] = {}
    for chunk, episodes in collect_on_ray(
        (sim, None, 1, config.hold_steps), tasks, 2, cluster, on_start=pids.extend, on_lost=lambda k, _: lost.append(k)
    ):
        assert chunk not in got  # nothing twice
        got[chunk] = episodes
        if len(got) == 1:  # one chunk in, three to go: one actor's process is SIGKILLed (busy or about to be)
            os.kill(pids[0], signal.SIGKILL)
    assert len(lost) == 1, lost
    assert sorted(got) == [t[0] for t in tasks]  # nothing lost
    init_collector(sim, None, 1, config.hold_steps)
    for task in tasks:
        assert _same_episodes(got[task[0]], collect_chunk(task)[1])


def test_bench_collect_times_both_paths_on_the_same_chunks(cluster: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "bench",
        "collect",
        "--episodes",
        "2",
        "--shard-episodes",
        "1",
        "--workers",
        "2",
        "--ray",
        cluster,
        "--json",
    ]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["same_steps"] and result["steps"]["local"] > 0  # the same episodes on both paths
    local, ray_rate = result["local_episodes_per_second"], result["ray_episodes_per_second"]
    assert local > 0 and ray_rate > 0
    assert result["ray_overhead"] == pytest.approx(1 - ray_rate / local, abs=2e-3)


def test_an_actor_that_cannot_start_is_a_clear_error(cluster: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", "--variant", "no-such-model", "--no-baselines", "--episodes", "2", "--ray", cluster]
    assert main(argv) == 2
    message = capsys.readouterr().err
    assert "actors could not start" in message and "no model 'no-such-model'" in message


def test_nav_train_ray_trains_data_parallel_and_the_driver_takes_up_rank_0s_weights(
    cluster: str, tmp_path: Path, short_sim: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two ranks on the two nodes, gradients averaged over gloo: the run ends in a loadable model, rank 0's
    checkpoints and train scalars are where a local run puts them, and every rank ended each stage with the
    same weights (the run fails otherwise)."""
    from policy.checkpoint import latest_checkpoint, load_checkpoint
    from policy.model_io import load_model

    out = tmp_path / "ddp"
    config = tiny_config(out, short_sim, workers=2, train_workers=2, eval_episodes=1, stage_eval_episodes=0)
    path = tmp_path / "train.yaml"
    path.write_text(yaml.safe_dump(_plain(dataclasses.asdict(config))), encoding="utf-8")
    assert main(["train", "--config", str(path), "--ray", cluster, "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert printed.count("data-parallel over 2 Ray actors") == 2  # one group per stage (BC, DAgger round 1)
    assert "stage 1 epoch 0:" in printed and "samples/s" in printed  # rank 0's log reached the driver
    model, _, manifest = load_model(out / "model", device="cpu")
    latest = latest_checkpoint(out / "checkpoints")
    assert latest is not None
    checkpoint = load_checkpoint(latest)
    assert checkpoint.progress["stage"] == 2
    assert checkpoint.progress["global_step"] == manifest["metrics"]["global_step"]
    for name, tensor in model.state_dict().items():  # the driver took up rank 0's weights
        assert np.allclose(tensor.numpy(), checkpoint.model_state[name].float().numpy(), atol=1e-3), name
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = EventAccumulator(str(out / "tb")).Reload().Tags()["scalars"]
    assert {"train/loss", "train/lr"} <= set(tags)
    from policy.training import train

    with pytest.raises(ValueError, match="needs a Ray cluster"):
        train(config, log=lambda _: None, progress=False)


def test_a_training_rank_killed_mid_stage_is_replaced_and_no_step_counts_twice(
    cluster: str, tmp_path: Path, short_sim: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first group loses a rank to SIGKILL as it forms: the stage trains again on fresh actors from its
    checkpoint, and the run's steps are exactly one pass of each stage's batches."""
    from policy.processing import PolicyProcessor
    from policy.training import SequenceDataset, distributed, train, training_episodes
    from policy.training.dataset import embed_instructions

    real = distributed.train_stage_on_ray
    calls: list[int] = []
    killed: list[int] = []

    def kill_once(pids: list[int]) -> None:
        if not killed:
            killed.append(pids[1])
            os.kill(pids[1], signal.SIGKILL)

    def first_group_loses_a_rank(*args: object, **kwargs: object) -> None:
        calls.append(1)
        kwargs["on_start"] = kill_once
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(distributed, "train_stage_on_ray", first_group_loses_a_rank)
    config = tiny_config(tmp_path, short_sim, workers=2, train_workers=2, eval_episodes=1, stage_eval_episodes=0)
    lines: list[str] = []
    train(config, log=lines.append, progress=False, ray=cluster)
    assert sum("a training rank was lost" in line for line in lines) == 1, lines
    assert len(calls) == 2  # BC (its group lost once, then trained) and DAgger round 1

    from policy.configuration import get_variant

    processor, cache, expected = PolicyProcessor(get_variant(config.variant)), {}, 0
    for stage in (0, 1):  # one pass over each stage's batches (every batch holds a sequence per rank)
        episodes = training_episodes(config, stage, tmp_path / "data")
        embed_instructions(processor, episodes, cache)
        dataset = SequenceDataset(episodes, cache, config.sequence_length, config.burn_in)
        batches = dataset.epoch_batches(np.random.default_rng([config.seed, stage, 0]), config.batch_sequences)
        expected += len([b for b in batches if len(b) >= 2])
    from policy.model_io import read_manifest

    assert read_manifest(tmp_path / "model")["metrics"]["global_step"] == expected
