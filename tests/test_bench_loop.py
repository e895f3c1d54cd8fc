"""``nav bench loop``: the tick-grid arithmetic of the method, and a short run through the real agent node."""

from __future__ import annotations

import json
import math

import pytest

from nav.bench.loop import assign_ticks, end_to_end_ms, grid_phase
from nav.cli import main

P = 0.1  # control period (s)


@pytest.mark.unit
def test_the_grid_phase_is_the_earliest_idle_arrival_even_across_the_wrap():
    # arrivals 0.4..3 ms after ticks at 1000.0 + k * P; one arrives 70 ms late (a busy machine)
    delays = [0.003, 0.0004, 0.001, 0.07, 0.002]
    times = [1000.0 + k * P + d for k, d in enumerate(delays)]
    assert grid_phase(times, P) - 1000.0 == pytest.approx(0.0004)
    times = [1000.099 + k * P + d for k, d in enumerate(delays)]  # ticks just before a multiple of P
    assert grid_phase(times, P) - 1000.099 == pytest.approx(0.0004)
    with pytest.raises(ValueError, match="idle ticks"):
        grid_phase([], P)


@pytest.mark.unit
def test_a_tick_that_overran_into_the_next_period_keeps_its_own_index():
    phase = 50.0
    # ticks 0, 1, 2, 3: tick 1 took 1.2 periods, so its Twist lands in period 2, before tick 2's
    receipts = [phase + 0.005, phase + P + 0.12, phase + 2 * P + 0.15, phase + 3 * P + 0.004]
    assert assign_ticks(receipts, phase, P) == [0, 1, 2, 3]


@pytest.mark.unit
def test_end_to_end_is_each_twist_less_the_stamp_of_the_frame_its_tick_names():
    twists = [10.004, 10.112, 10.205, 10.31]
    timing = [  # (received, values): each just after its tick's Twist
        (10.0045, {"variant": "small", "inferred": "false", "image_stamp": ""}),  # a stop: no frame
        (10.1125, {"variant": "small", "inferred": "true", "image_stamp": "10.1"}),
        (10.2055, {"variant": "medium", "inferred": "true", "image_stamp": "10.19"}),  # another variant
        (10.3105, {"variant": "small", "inferred": "true", "image_stamp": "10.297"}),
        (10.3107, {"variant": "small", "inferred": "true", "image_stamp": "10.298"}),  # its Twist was lost
    ]
    assert end_to_end_ms(twists, timing, "small", (10.0, 11.0)) == pytest.approx([12.0, 13.0])
    assert end_to_end_ms(twists, timing, "medium", (10.0, 11.0)) == pytest.approx([15.0])
    assert end_to_end_ms(twists, timing, "small", (10.2, 11.0)) == pytest.approx([13.0])  # only its window


@pytest.mark.dds
def test_short_run_through_the_agent_node(tmp_path, capsys):
    """3 s of the small variant: sane numbers, the floor under the loop, the control rate near control_hz."""
    from nav.runtime.config import load_ros_config

    code = main(["bench", "loop", "--json", "--seconds", "3", "--variants", "small", "--models-dir", str(tmp_path)])
    assert code == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    control_hz = load_ros_config().agent.control_hz
    assert result["control_hz"] == control_hz
    assert result["seconds"] == 3

    floor = result["floor_round_trip_ms"]
    (row,) = result["variants"]
    assert row["variant"] == "small"
    assert row["weights"] == "untrained"  # tmp_path holds no model
    for name, stats in [("floor", floor)] + [(key, row[key]) for key in ("end_to_end_ms", "tick_ms", "compute_ms")]:
        assert stats["p50"] is not None and math.isfinite(stats["p50"]) and stats["p50"] > 0, (name, result)
        assert stats["p99"] >= stats["p50"], (name, result)
    e2e = row["end_to_end_ms"]["p50"]
    assert floor["p50"] < e2e, ("a command cannot come back sooner than a bare round trip", result)
    assert row["compute_ms"]["p50"] < e2e, ("the frame's age when the Twist arrives includes the tick's work", result)
    assert row["floor_ms"] == pytest.approx(floor["p50"] + row["forward_p50_ms"], abs=1e-3)
    assert row["ratio_to_floor"] == pytest.approx(e2e / row["floor_ms"], rel=1e-2)
    assert 0.5 * control_hz <= row["control_rate_hz"] <= 1.5 * control_hz, result
    measured_ticks = row["control_rate_hz"] * result["seconds"]
    assert 0 <= row["deadline_misses"] <= measured_ticks, "misses are counted over the measured ticks only"
    assert row["e2e_samples"] > 0
