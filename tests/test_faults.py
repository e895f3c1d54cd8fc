"""The fault-injection suite (``nav faults``, issue 18): how a row is judged, and the whole suite over DDS.

The e2e test runs what ``nav faults`` runs: the graph in robot mode (agent with the shipped models,
one variant's weights altered, resource monitor, mux, joystick teleop, recorder) and the scripted
robot, each fault in turn; every row must pass, each timing judged against the configured limits.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from nav.faults.judge import Row, first, held, matching, table, tidy
from nav.faults.robot import Output
from nav.faults.session import SLACK_S, Limits
from nav.graph.supervisor import BringupConfig
from nav.runtime.config import load_ros_config

DOMAIN = 212  # this module's own DDS domain (200..229 are free: see test_agent_node and test_graph)


def outputs(*values: tuple[float, float, float]) -> list[Output]:
    return [Output(*v) for v in values]


@pytest.mark.unit
def test_a_stop_is_timed_from_the_injection_to_the_first_zero_and_judged_against_its_limit():
    seen = outputs((0.95, 0.1, 0.2), (1.05, 0.1, 0.2), (1.30, 0.0, 0.0), (1.35, 0.0, 0.0))
    stop = first(seen, 1.0, lambda o: o.zero)
    ok, late = Row("f", "e", limit_ms=400.0), Row("f", "e", limit_ms=250.0)
    ok.timed(1.0, stop, "zero command")
    late.timed(1.0, stop, "zero command")
    assert ok.passed and ok.observed_ms == pytest.approx(300.0)
    assert late.problems == ["zero command after 300 ms > 250 ms"]
    never = Row("f", "e", limit_ms=250.0)
    never.timed(1.0, first(seen[:2], 1.0, lambda o: o.zero), "zero command")
    assert never.problems == ["no zero command"]


@pytest.mark.unit
def test_a_late_stop_says_what_the_base_received_before_it():
    """Commands that kept driving (a decision taken late) read differently from a silence (a stalled path)."""
    drove_on = outputs((1.05, 0.1, 0.0), (1.10, 0.1, 0.0), (1.15, 0.1, 0.0), (1.20, 0.0, 0.0))
    silent = outputs((1.05, 0.1, 0.0), (1.60, 0.0, 0.0))
    a, b = Row("f", "e", limit_ms=100.0), Row("f", "e", limit_ms=100.0)
    a.timed(1.0, first(drove_on, 1.0, lambda o: o.zero), "zero command", drove_on)
    b.timed(1.0, first(silent, 1.0, lambda o: o.zero), "zero command", silent)
    assert a.problems == [
        "zero command after 200 ms > 100 ms (4 commands received by then, the last that drove 150 ms in; "
        "the longest gap between two 50 ms)"
    ]
    assert b.problems == [
        "zero command after 600 ms > 100 ms (2 commands received by then, the last that drove 50 ms in; "
        "the longest gap between two 550 ms)"
    ]


@pytest.mark.unit
def test_a_stop_must_hold_while_the_fault_lasts():
    seen = outputs((1.0, 0.0, 0.0), (1.05, 0.0, 0.0), (1.10, 0.0, 0.3), (1.15, 0.0, 0.0))
    assert held(seen, 1.0, 1.1, lambda o: o.zero) is None
    assert held(seen, 1.0, 1.2, lambda o: o.zero) == "1 of 4 outputs broke it, the first 0.10 s in: (0.000, 0.300)"
    assert held(seen, 2.0, 3.0, lambda o: o.zero) == "no output in the 1.00 s after it"


@pytest.mark.unit
def test_the_message_is_the_first_line_after_the_injection_that_says_why_without_rcutils_prefix():
    lines = [
        (0.5, "[agent] [WARN] [1796.5] [agent]: zero velocity: camera stale (0.9 s old by arrival > 0.50 s)"),
        (1.2, "[agent] [WARN] [1797.2] [agent]: zero velocity: camera stale (0.56 s old by arrival > 0.50 s)"),
    ]
    said = "[agent] zero velocity: camera stale (0.56 s old by arrival > 0.50 s)"
    assert matching(lines, 1.0, r"camera stale") == said
    assert matching(lines, 1.0, r"scan stale") is None
    assert tidy("[bringup] agent was killed by SIGKILL") == "[bringup] agent was killed by SIGKILL"
    row = Row("f", "e")
    row.said("log line", None)
    assert row.problems == ["no log line said why"]


@pytest.mark.unit
def test_the_table_has_one_row_per_fault_with_its_timing_and_why_it_failed():
    good = Row("camera silent", "zero", limit_ms=700.0, observed_ms=546.0, message="camera stale")
    bad = Row("lidar silent", "zero | fast", limit_ms=400.0, observed_ms=900.0, problems=["zero command after 900 ms"])
    text = table([good, bad]).splitlines()
    assert text[0] == "| fault | expected | observed | time (limit) | message | result |"
    assert text[2] == "| camera silent | zero |  | 546 ms (≤ 700) | camera stale | pass |"
    assert text[3].endswith("| FAIL: zero command after 900 ms |") and "zero \\| fast" in text[3]


@pytest.mark.unit
def test_the_limits_are_the_configured_timeouts():
    ros, bringup = load_ros_config(), BringupConfig(liveness_timeout=4.0)
    limits = Limits.of(ros, bringup)
    assert limits.camera == ros.agent.camera_timeout and limits.scan == ros.agent.scan_timeout
    assert limits.cycle == pytest.approx(1.0 / ros.agent.control_hz + 1.0 / ros.mux.rate_hz)
    assert limits.nav_input == next(i.timeout for i in ros.mux.inputs if i.name == "navigation")
    assert limits.liveness == 4.0
    assert limits.ms(0.5) == pytest.approx(1000.0 * (0.5 + SLACK_S))


@pytest.mark.unit
def test_an_unknown_fault_is_refused_with_the_list(capsys):
    from nav.faults.suite import FaultSuiteConfig

    with pytest.raises(ValueError, match="unknown fault \\['camera-on-fire'\\]; the faults: camera-silent, "):
        FaultSuiteConfig(only=("camera-on-fire",))
    from nav.cli import main

    assert main(["faults", "--only", "camera-on-fire"]) == 1
    assert "nav faults: error: unknown fault" in capsys.readouterr().err


@pytest.mark.unit
def test_the_tampered_copy_fails_its_manifest_and_leaves_the_source_alone(tmp_path: Path):
    from nav.faults.suite import tampered_copy
    from policy.model_io import ModelFileError, load_model
    from untrained_models import save_untrained

    source = tmp_path / "models"
    for variant in ("small", "medium"):
        save_untrained(source, variant)
    copy = tampered_copy(source, tmp_path / "copy", "medium")
    with pytest.raises(ModelFileError, match="SHA-256 mismatch"):
        load_model(copy / "medium")
    load_model(copy / "small")
    load_model(source / "medium")


@pytest.mark.e2e
def test_every_fault_of_the_suite_is_made_safe_and_explained(tmp_path: Path):
    cmd = [sys.executable, "-m", "nav.cli", "faults", "--domain", str(DOMAIN), "--out", str(tmp_path), "--json"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    print(proc.stderr[-6000:])
    assert proc.stdout.strip(), proc.stderr[-4000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    failed = [f"{r['fault']}: {r['problems']}" for r in report["rows"] if not r["passed"]]
    assert not failed, "\n".join(failed)
    faults = {r["fault"] for r in report["rows"]}
    for item in range(1, 9):  # issue 18's eight, each in the table
        assert any(f"(item {item})" in f for f in faults), item
    assert report["valid"] and proc.returncode == 0
