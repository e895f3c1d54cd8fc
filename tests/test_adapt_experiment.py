"""``nav experiment adapt``: a missing model is named; a short real run (untrained models, a tiny
profile with one burner) gives the figures per run, and the burners are gone afterwards."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest
import yaml

from configs import config_dir
from nav.cli import main
from nav.experiments.adapt import run_adapt_experiment
from nav.experiments.cpu_load import CpuBurners
from untrained_models import save_untrained


@pytest.mark.unit
def test_a_missing_model_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_untrained(tmp_path, "small")
    code = main(["experiment", "adapt", "--quick", "--json", "--models-dir", str(tmp_path)])
    assert code == 2
    err = capsys.readouterr().err
    assert "no model for variant(s) medium, large" in err and str(tmp_path) in err


@pytest.mark.unit
def test_burners_load_the_cpu_and_always_stop() -> None:
    # The checks run inside the block on purpose: the burners must stop when the block raises.
    with pytest.raises(RuntimeError, match="inside"), CpuBurners(1) as burners:  # noqa: PT012
        assert burners.alive == 1
        pids = [p.pid for p in burners._procs]
        assert psutil.Process(pids[0]).cpu_percent(interval=0.3) > 50.0
        raise RuntimeError("an error inside the block")
    assert burners.alive == 0
    assert not any(psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in pids)


@pytest.mark.e2e
def test_a_short_run_reports_every_run(tmp_path: Path) -> None:
    models = tmp_path / "models"
    for variant in ("small", "medium", "large"):
        save_untrained(models, variant)
    config = yaml.safe_load((config_dir() / "monitor.yaml").read_text())
    config["experiment"]["burners"] = 1
    config["experiment"]["profiles"]["quick"] = {
        "episode_seconds": 1.0,
        "phases": [
            {"name": "idle", "load": "idle", "seconds": 1.5},
            {"name": "contention", "load": "contention", "seconds": 1.5},
        ],
    }
    path = tmp_path / "monitor.yaml"
    path.write_text(yaml.safe_dump(config))
    report = tmp_path / "report"
    summary = run_adapt_experiment(models, report, quick=True, config_path=path, log=lambda line: None, budget_ms=25.0)
    assert list(summary) == ["static_small", "static_medium", "static_large", "adaptive"]
    for run, s in summary.items():
        assert s["ticks"] == 30, run
        assert s["budget_ms"] == 25.0, "--budget-ms replaces monitor.yaml's budget"
        assert 0.0 <= s["deadline_miss_rate"] <= 1.0
        assert set(s["phases"]) == {"idle", "contention"}
        assert sum(s["share"].values()) == pytest.approx(1.0)
        assert s["episodes"] >= 2 and 0.0 <= s["success_rate"] <= 1.0  # 1 s episodes end by the time limit
        fewest = min(r["phases"]["idle"]["episodes"] for r in summary.values())
        assert s["idle"]["episodes"] == fewest, "idle: the idle episodes every run completed (same seeds)"
    assert summary["static_large"]["share"] == {"large": 1.0} and summary["static_large"]["switches"] == 0
    assert (report / "report.md").read_text().count("| adaptive |") == 3  # summary + one row per phase
    assert "Budget 25 ms per tick" in (report / "report.md").read_text()
    assert (report / "latency_and_variant.png").stat().st_size > 0
