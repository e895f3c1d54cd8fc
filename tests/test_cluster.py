"""Closed-loop evaluation on a Ray cluster (``nav eval --ray``): a head and one more node started on loopback by
the test, the same episodes as the local path for the same seeds, and a killed actor's episode run again and
counted once."""

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

import pytest

from nav.cli import main
from policy.evaluation import EvalTableConfig, controller_episodes, models_dir

ray = pytest.importorskip("ray", reason="the cluster extra (pip install '.[cluster]') is not installed")

pytestmark = pytest.mark.e2e

START_TIMEOUT_S = 60.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ray_start(args: list[str]) -> subprocess.Popen[bytes]:
    """One Ray node (``ray start --block``) in its own process group, so that the test can stop it and
    everything it started, and nothing else on the machine."""
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    command = [str(Path(sys.executable).with_name("ray")), "start", "--block", "--num-cpus=1", *args]
    command += ["--object-store-memory=100000000", "--disable-usage-stats"]
    return subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A head and one more node on loopback, one CPU each; yields the head's address."""
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
                node.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait(timeout=10)
        shutil.rmtree(temp_dir, ignore_errors=True)


@pytest.mark.parametrize(("name", "episodes"), [("teacher", 6), ("medium", 3)])
def test_ray_episodes_equal_the_local_paths_for_the_same_seeds(cluster: str, name: str, episodes: int) -> None:
    local = EvalTableConfig(controllers=(name,), episodes=episodes, seed=40, workers=2)
    _, here, _ = controller_episodes(name, local)
    _, there, latencies = controller_episodes(name, dataclasses.replace(local, ray=cluster))
    assert there == here  # every field of every episode, in seed order
    assert len(latencies) == sum(r.steps for r in there)  # one act per step, every episode counted once


def test_a_killed_actor_s_episode_is_run_again_and_counted_once(cluster: str) -> None:
    from policy.cluster import run_episodes_on_ray

    config = EvalTableConfig(controllers=("teacher",), episodes=8, seed=60, workers=2)
    sim, here, _ = controller_episodes("teacher", config)
    lost: list[tuple[int, str]] = []

    def kill_one(pids: list[int]) -> None:  # SIGKILL one actor's process a second into the run
        threading.Timer(1.0, os.kill, (pids[0], signal.SIGKILL)).start()

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
