"""The ``nav`` command as a user runs it: exit codes, the last line of JSON, artifacts, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

NAV = Path(sys.executable).parent / "nav"


def nav(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert NAV.exists(), f"the nav entry point is not installed next to {sys.executable}"
    return subprocess.run([str(NAV), *args], capture_output=True, text=True, cwd=cwd, timeout=300)


def last_json_line(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert lines, "nothing on stdout"
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[subprocess.CompletedProcess[str], Path]:
    """The main job as shipped: the node graph over DDS in simulation, the agent on the shipped model."""
    out = tmp_path_factory.mktemp("demo")
    return nav("demo", "--json", "--out", str(out), cwd=out), out


def test_nav_demo_exits_zero(demo):
    result, _ = demo

    assert result.returncode == 0, result.stderr


def test_nav_demo_json_ends_stdout_with_a_successful_episode(demo):
    result, _ = demo

    metrics = last_json_line(result.stdout)

    assert metrics["success"] is True
    assert metrics["time_s"] > 0
    assert metrics["path_length_m"] > 0
    assert metrics["collisions"] == 0
    assert metrics["instruction"] == "go to the red cube"
    assert metrics["driver"] != "teacher"  # the graph reached the goal with the learned policy


def test_nav_demo_json_keeps_stdout_to_the_json_line(demo):
    result, _ = demo

    assert len([line for line in result.stdout.splitlines() if line.strip()]) == 1
    assert "outcome" in result.stderr  # progress went to stderr


def test_nav_demo_writes_a_video_a_trajectory_plot_and_metrics(demo):
    result, out = demo

    for name in ("camera.mp4", "trajectory.png", "metrics.json"):
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "metrics.json").read_text()) == last_json_line(result.stdout)


def test_nav_demo_runs_its_graph_fenced_off_on_its_own_domain_and_this_machine(demo):
    """No robot on the network hears the demo (ros.yaml sim_network; the discovery test: test_bringup)."""
    from nav.runtime.config import load_ros_config

    _, out = demo
    network = load_ros_config().sim_network
    started = (out / "logs" / "bringup.log").read_text().splitlines()[0]
    assert started.endswith(f"ROS domain {network.domain_id}, this machine only"), started


def test_nav_teacher_eval_json_reports_the_metrics(tmp_path):
    result = nav("teacher-eval", "--episodes", "3", "--seed", "0", "--json", "--no-progress", cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    summary = last_json_line(result.stdout)
    assert summary["episodes"] == 3
    for key in ("success_rate", "spl", "collision_rate"):
        assert 0.0 <= summary[key] <= 1.0, key


def test_nav_demo_with_an_instruction_naming_no_object_exits_2_naming_it(tmp_path):
    result = nav("demo", "--instruction", "go to the kitchen", "--out", str(tmp_path / "out"), cwd=tmp_path)

    assert result.returncode == 2
    assert "go to the kitchen" in result.stderr
    assert "error" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "camera.mp4").exists()


def test_nav_eval_puts_several_variants_in_one_table(tmp_path):
    from untrained_models import save_untrained

    save_untrained(tmp_path / "models", "small")
    result = nav(
        *("eval", "--variant", "small,random", "--no-baselines", "--split", "heldout"),
        *("--episodes", "2", "--workers", "1", "--models-dir", str(tmp_path / "models"), "--json"),
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    report = last_json_line(result.stdout)
    assert [row["controller"] for row in report["table"]] == ["small", "random"]
    assert report["controller"] == "small" and report["split"] == "heldout"
    assert all(row["episodes"] == 2 for row in report["table"])


def test_nav_demo_without_a_model_fails_loudly_and_names_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv("NAV_MODELS_DIR", str(tmp_path / "nothing here"))
    result = nav("demo", "--json", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 2 and not result.stdout.strip(), "no metrics: nothing ran"
    assert "nav demo: error: no model for the agent:" in result.stderr
    assert "nothing here" in result.stderr and "NAV_MODELS_DIR" in result.stderr and "--teacher" in result.stderr


def test_nav_demo_teacher_runs_the_privileged_teacher_in_process(tmp_path):
    result = nav("demo", "--teacher", "--json", "--out", str(tmp_path / "out"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    metrics = last_json_line(result.stdout)
    assert metrics["success"] is True and metrics["driver"] == "teacher"
