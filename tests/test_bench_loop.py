"""``nav bench loop``: the tick-grid arithmetic of the method, and a short run through the real agent node."""

from __future__ import annotations

import json
import math

import pytest

from nav.bench.loop import assign_ticks, clear_of_ticks, end_to_end_ms, grid_phase
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
def test_end_to_end_takes_the_newest_image_published_before_the_tick():
    published = [(9.90, 9.9001), (9.95, 9.9501), (9.997, 9.9971), (10.005, 10.0051)]  # (call, return)
    # tick at 10.0 used the image of 9.997 (the one of 10.005 came after it); Twist received at 10.02
    assert end_to_end_ms(10.02, 10.0, published, not_before=9.0, margin=0.002) == pytest.approx(23.0)
    # nothing published in this slot before the tick
    assert end_to_end_ms(10.02, 10.0, published, not_before=9.998, margin=0.002) is None
    # publish() returned right before the tick: whether the tick got it is unknown
    late = [(9.95, 9.9501), (9.997, 9.9995)]
    assert end_to_end_ms(10.02, 10.0, late, not_before=9.0, margin=0.002) is None


@pytest.mark.unit
def test_camera_images_keep_clear_of_the_ticks():
    phase, guard = 3.0, 0.004
    assert clear_of_ticks(3.05, phase, P, guard) == pytest.approx(3.05)  # mid-period: as planned
    assert clear_of_ticks(3.099, phase, P, guard) == pytest.approx(3.104)  # just before: after the tick
    assert clear_of_ticks(3.102, phase, P, guard) == pytest.approx(3.104)  # just after: a little later
    assert clear_of_ticks(3.099, phase, P, guard, back=0.005) == pytest.approx(3.095)  # planned: earlier


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
    for stats in (floor, row["end_to_end_ms"], row["tick_ms"]):
        assert math.isfinite(stats["p50"]) and stats["p50"] > 0
        assert stats["p99"] >= stats["p50"]
    assert floor["p50"] < row["end_to_end_ms"]["p50"]
    assert row["tick_ms"]["p50"] < row["end_to_end_ms"]["p50"]
    assert 0.5 * control_hz <= row["control_rate_hz"] <= 1.5 * control_hz
    measured_ticks = row["control_rate_hz"] * result["seconds"]
    assert 0 <= row["deadline_misses"] <= measured_ticks, "misses are counted over the measured ticks only"
    assert row["e2e_samples"] > 0
