"""``nav bench sim``: the grouped vector env judged against the cores' floor and against the same number of bare
floors running at once, with what separates them (the workers' busy share, the main process's CPU), beside
gymnasium's AsyncVectorEnv."""

from __future__ import annotations

import json

import pytest

from nav.cli import main

pytestmark = pytest.mark.e2e


def test_the_sim_bench_measures_the_parallel_floor_and_the_vector_workers(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(
            ["bench", "sim", "--steps", "20", "--rounds", "1", "--vector-envs", "3", "--vector-workers", "2", "--json"]
        )
        == 0
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    floor, parallel, vector = (
        result["floor_steps_per_second"],
        result["parallel_floor_steps_per_second"],
        result["vector_steps_per_second"],
    )
    assert floor > 0 and parallel > 0 and vector > 0
    assert result["vector_ratio_to_floor"] == pytest.approx(vector / (2 * floor), abs=2e-3)
    assert result["vector_ratio_to_parallel_floor"] == pytest.approx(vector / parallel, abs=2e-3)
    assert result["parallel_floor_scaling"] == pytest.approx(parallel / (2 * floor), abs=2e-3)
    busy = result["vector_worker_busy"]
    assert len(busy) == 2 and all(0.0 < b <= 1.01 for b in busy)  # a share of the timed wall clock
    assert result["vector_main_cpu_ms_per_step"] > 0
    assert len(result["vector_env_step_ms"]) == 3 and all(ms > 0 for ms in result["vector_env_step_ms"])
    baseline = result["async_vector_steps_per_second"]
    assert baseline > 0 and result["async_vector_ratio_to_floor"] == pytest.approx(baseline / (2 * floor), abs=2e-3)
    assert len(result["async_vector_worker_busy"]) == 2
    assert result["independent_groups_ratio_to_floor"] > 0.0
    assert result["env_step_ms"] == pytest.approx(1000.0 / result["env_steps_per_second"], rel=1e-3)
    assert result["vector_still_ratio_to_floor"] > 0.0 and len(result["vector_still_worker_busy"]) == 2


def test_more_workers_than_envs_is_refused_naming_both(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "sim", "--vector-envs", "2", "--vector-workers", "3", "--json"]) == 2
    assert "vector_envs >= vector_workers" in capsys.readouterr().err
