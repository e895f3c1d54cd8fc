"""The stamps' clock rebuilt from a bag: which topics' header stamps are believed, and what the clock read when."""

from __future__ import annotations

import numpy as np
import pytest

from nav.bags.clock import rebuild_clock

pytestmark = pytest.mark.unit

LOG = np.arange(0.0, 10.0, 0.5) + 1.7e9  # wall-clock log times, one message every 0.5 s


def test_a_simulator_at_half_speed_gives_a_clock_running_at_half_the_log_rate() -> None:
    clock = rebuild_clock({"/scan": (LOG, 100.0 + 0.5 * (LOG - LOG[0]))}, order=["/scan"])
    assert clock.rate == pytest.approx(0.5)
    assert clock.at(LOG[3] + 0.4) == pytest.approx(100.0 + 0.5 * 1.5 + 0.2)
    assert clock.at(LOG[0] - 0.1) is None  # before any reading


def test_a_clock_topic_is_the_reference_and_a_late_stamping_driver_is_shifted_onto_it() -> None:
    clock_logs = np.arange(0.0, 10.0, 0.1) + 1.7e9
    readings = {
        "/clock": (clock_logs, clock_logs - 1.7e9),
        "/odom": (LOG, LOG - 1.7e9 - 0.2),  # stamped 0.2 s late
    }
    clock = rebuild_clock(readings, order=["/clock", "/scan", "/odom"])
    assert clock.sources == ("/clock", "/odom")
    # Right after an odometry message the clock is the /clock's time, not odometry's 0.2 s-late stamp.
    assert clock.at(LOG[4] + 1e-6) == pytest.approx(LOG[4] - 1.7e9, abs=0.01)


@pytest.mark.parametrize(
    ("stamps", "why"),
    [
        (np.where(np.arange(LOG.size) == 3, 0.0, LOG), "1 of 20 header stamps are zero or not finite"),
        (np.where(np.arange(LOG.size) == 3, LOG - 5.0, LOG), "header stamps go backwards 1 times"),
    ],
)
def test_a_topic_whose_stamps_are_not_sane_is_judged_on_arrival_and_says_why(stamps: np.ndarray, why: str) -> None:
    clock = rebuild_clock({"/scan": (LOG, stamps), "/odom": (LOG, LOG)}, order=["/scan", "/odom"])
    assert clock.topics["/scan"].basis == "arrival" and clock.topics["/scan"].why == why
    assert not clock.uses_stamps("/scan") and clock.uses_stamps("/odom")


def test_a_topic_on_another_clock_is_judged_on_arrival() -> None:
    boot_time = LOG - LOG[0] + 12.0  # a sensor stamping with its own time since boot
    clock = rebuild_clock({"/scan": (LOG, LOG), "/camera": (LOG, boot_time)}, order=["/scan", "/camera"])
    assert clock.uses_stamps("/scan") and not clock.uses_stamps("/camera")
    assert clock.topics["/camera"].why.startswith("header stamps on another clock than /scan's")


def test_a_simulators_clock_may_start_at_zero() -> None:
    sim_time = LOG - LOG[0]  # 0.0 first: sim time begins at zero
    clock = rebuild_clock({"/clock": (LOG, sim_time)}, order=["/clock"])
    assert clock.uses_stamps("/clock") and clock.at(LOG[2]) == pytest.approx(1.0)


def test_a_bag_without_a_sane_stamp_has_no_clock() -> None:
    clock = rebuild_clock({"/scan": (LOG, np.zeros_like(LOG))}, order=["/scan"])
    assert clock.at(LOG[-1]) is None
    assert clock.describe()["clock"].startswith("arrival")
