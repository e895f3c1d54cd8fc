"""The agent's decision core: the policy drives only when every input is fresh and usable."""

from __future__ import annotations

import numpy as np
import pytest

from nav.runtime.agent import AgentCore, Timeouts
from perception.errors import PerceptionError
from policy.controller import PolicyController
from policy.processing import PolicyProcessor, ScanGeometry
from untrained_models import untrained_policy

pytestmark = pytest.mark.unit


class HashEncoder:
    """A deterministic stand-in for MiniLM (the agent's logic, not the language model, is under test)."""

    def encode(self, text: str) -> np.ndarray:
        rng = np.random.default_rng(abs(hash(text)) % 2**32)
        v = rng.standard_normal(384).astype(np.float32)
        return v / np.linalg.norm(v)


def _controller(name: str) -> PolicyController:
    model = untrained_policy(name).eval()
    return PolicyController(model, PolicyProcessor(model.config, HashEncoder()), GEOMETRY)


GEOMETRY = ScanGeometry.full_circle(360, 0.12, 8.0)
IMAGE = np.full((64, 64, 3), 128, dtype=np.uint8)
SCAN = np.full(360, 3.0, dtype=np.float32)


@pytest.fixture
def core() -> AgentCore:
    return AgentCore({"small": _controller("small"), "medium": _controller("medium")}, "small", Timeouts(0.5, 0.5))


def feed(core: AgentCore, now: float) -> None:
    core.on_image(IMAGE, now)
    core.on_scan(SCAN, GEOMETRY, now)


def test_without_an_instruction_the_agent_stops(core):
    feed(core, 0.0)
    result = core.tick(0.1)
    assert (result.linear, result.angular) == (0.0, 0.0)
    assert result.reason == "no instruction yet"


def test_a_missing_camera_stops_and_names_the_camera(core):
    core.on_instruction("go to the red cube")
    core.on_scan(SCAN, GEOMETRY, 0.0)
    result = core.tick(0.1)
    assert (result.linear, result.angular) == (0.0, 0.0)
    assert "camera" in result.reason


def test_fresh_inputs_drive_within_the_limits(core):
    core.on_instruction("go to the red cube")
    feed(core, 0.0)
    result = core.tick(0.1)
    assert result.ok, result.reason
    assert abs(result.linear) <= 0.5 + 1e-6 and abs(result.angular) <= 1.5 + 1e-6
    assert "inference_ms" in result.timings_ms


def test_in_replay_a_sane_header_stamp_judges_the_age_so_a_late_but_fresh_scan_drives(core):
    # Gazebo slower than real time: the scan arrived 0.7 s ago on the bag's log clock, yet it is 0.2 s old in
    # sim time. Replay evaluation judges on the stamps alone, as the recorded robot's clock ran.
    core.arrival_too = False
    core.on_instruction("go to the red cube")
    core.on_image(IMAGE, 0.7)
    core.on_scan(SCAN, GEOMETRY, now=0.0, stamp=100.0)
    assert core.tick(0.7, stamp_now=100.2).ok
    assert core.judged_on["scan"] == {"header stamp": 1}
    # Without the stamp clock's reading, the same scan is judged on arrival: stale.
    assert core.tick(0.7).reason.startswith("scan stale (0.70 s old by arrival")


def test_a_scan_stamped_long_ago_is_stale_though_it_just_arrived(core):
    core.on_instruction("go to the red cube")
    feed(core, 0.0)
    core.on_scan(SCAN, GEOMETRY, now=0.0, stamp=95.0)
    result = core.tick(0.05, stamp_now=100.0)
    assert (result.linear, result.angular) == (0.0, 0.0)
    assert result.reason == (
        "scan stale (5.00 s old by header stamp > 0.50 s; it arrived 0.05 s ago: "
        "is the sensor's clock behind this computer's?)"
    )


def test_on_a_robot_a_scan_must_be_fresh_by_arrival_too_when_the_stamp_clock_stops(core):
    # A simulator that died: its /clock stopped at 100.0 with its last scan, which reads as 0 s old by its stamp.
    core.on_instruction("go to the red cube")
    core.on_scan(SCAN, GEOMETRY, now=0.0, stamp=100.0)
    core.on_image(IMAGE, 0.55)
    assert core.tick(0.1, stamp_now=100.0).ok
    assert core.tick(0.6, stamp_now=100.0).reason == "scan stale (0.60 s old by arrival > 0.50 s)"


def test_a_message_stamped_before_the_one_before_it_is_refused_until_stamps_go_forward(core):
    core.on_instruction("go to the red cube")
    core.on_image(IMAGE, 0.0, stamp=100.0)
    assert core.on_scan(SCAN, GEOMETRY, now=0.0, stamp=100.0) is None
    assert core.tick(0.05, stamp_now=100.05).ok
    why = core.on_scan(SCAN, GEOMETRY, now=0.1, stamp=99.0)
    assert why == "header stamp went back 1.000 s (older than the message before it)"
    result = core.tick(0.15, stamp_now=100.15)
    assert (result.linear, result.angular) == (0.0, 0.0) and result.reason == f"scan rejected: {why}"
    # The next one is later than the refused one (a driver whose clock was reset): taken, and judged by its age.
    assert core.on_scan(SCAN, GEOMETRY, now=0.2, stamp=100.2) is None
    assert core.tick(0.25, stamp_now=100.25).ok
    # Equal stamps (a driver that repeats its last scan) and unstamped messages are not refused.
    assert core.on_scan(SCAN, GEOMETRY, now=0.3, stamp=100.2) is None
    assert core.on_scan(SCAN, GEOMETRY, now=0.3, stamp=0.0) is None
    assert core.on_image(IMAGE, 0.3, stamp=99.5) is not None
    assert core.tick(0.35, stamp_now=100.35).reason.startswith("camera rejected: header stamp went back 0.500 s")


@pytest.mark.parametrize(
    ("stamp", "why"),
    [(0.0, "the driver does not stamp"), (102.0, "two seconds ahead of the clock"), (1e9, "on another clock")],
)
def test_a_stamp_that_cannot_be_believed_is_judged_on_arrival(core, stamp, why):
    core.on_instruction("go to the red cube")
    core.on_scan(SCAN, GEOMETRY, now=0.0, stamp=stamp)
    core.on_image(IMAGE, 0.1)
    assert core.tick(0.1, stamp_now=100.0).ok, why
    core.on_image(IMAGE, 0.7)
    assert core.tick(0.7, stamp_now=100.6).reason.startswith("scan stale (0.70 s old by arrival"), why
    assert core.judged_on["scan"] == {"arrival": 2}


@pytest.mark.parametrize("stale", ["camera", "scan"])
def test_a_stale_input_stops_and_says_which(core, stale):
    core.on_instruction("go to the red cube")
    feed(core, 0.0)
    if stale == "camera":
        core.on_scan(SCAN, GEOMETRY, 0.7)
    else:
        core.on_image(IMAGE, 0.7)
    result = core.tick(0.75)
    assert (result.linear, result.angular) == (0.0, 0.0)
    assert result.reason.startswith(f"{stale} stale")


def test_an_empty_instruction_is_refused_and_stops_the_robot(core):
    core.on_instruction("go to the red cube")
    feed(core, 0.0)
    assert core.tick(0.1).ok
    with pytest.raises(PerceptionError):
        core.on_instruction("   ")
    result = core.tick(0.2)
    assert (result.linear, result.angular) == (0.0, 0.0)
    assert result.reason.startswith("instruction rejected")


def test_a_new_instruction_clears_the_memory(core):
    core.on_instruction("go to the red cube")
    feed(core, 0.0)
    core.tick(0.1)
    assert core.controllers["small"].hidden is not None
    core.on_instruction("find the blue sphere")
    assert core.controllers["small"].hidden is None


def test_the_same_instruction_offered_again_keeps_the_memory(core):
    assert core.offer_instruction("Go to the red cube") == "go to the red cube"
    feed(core, 0.0)
    core.tick(0.1)
    memory = core.controllers["small"].hidden
    assert memory is not None
    assert core.offer_instruction("  go to  the RED cube ") is None, "republished (any case or spacing)"
    assert core.controllers["small"].hidden is memory
    assert core.offer_instruction("find the blue sphere") == "find the blue sphere"
    assert core.controllers["small"].hidden is None, "a new instruction clears the memory"


def test_an_unusable_instruction_offered_is_refused_and_stops_the_robot(core):
    core.offer_instruction("go to the red cube")
    feed(core, 0.0)
    assert core.tick(0.1).ok
    with pytest.raises(PerceptionError):
        core.offer_instruction("   ")
    result = core.tick(0.2)
    assert (result.linear, result.angular) == (0.0, 0.0) and result.reason.startswith("instruction rejected")
    assert core.offer_instruction("go to the red cube") == "go to the red cube", "taken again after a rejection"


def test_a_variant_switch_takes_effect_at_the_next_tick(core):
    core.on_instruction("go to the red cube")
    feed(core, 0.0)
    assert core.tick(0.1).variant == "small"
    core.request_variant("medium")
    result = core.tick(0.2)
    assert result.variant == "medium" and result.ok


def test_an_unknown_variant_is_refused(core):
    with pytest.raises(ValueError, match="not loaded"):
        core.request_variant("huge")


def test_a_clockwise_scan_drives_as_its_counter_clockwise_twin():
    """An upside-down lidar lists its rays clockwise (negative angle_increment): the same world, the same command."""
    rng = np.random.default_rng(7)
    ranges = rng.uniform(0.3, 6.0, 360).astype(np.float32)
    clockwise = ScanGeometry(GEOMETRY.angle_min + 359 * GEOMETRY.angle_increment, -GEOMETRY.angle_increment, 0.12, 8.0)
    commands = []
    for scan, geometry in ((ranges, GEOMETRY), (ranges[::-1].copy(), clockwise)):
        core = AgentCore({"small": _controller("small")}, "small", Timeouts(0.5, 0.5))
        core.on_instruction("go to the red cube")
        core.on_image(IMAGE, 0.0)
        core.on_scan(scan, geometry, 0.0)
        result = core.tick(0.1)
        assert result.reason is None, result.reason
        commands.append((result.linear, result.angular))
    assert commands[0] == pytest.approx(commands[1], abs=1e-6)


def test_a_rejected_scan_or_frame_stops_at_once_and_a_good_one_resumes(core):
    """Issue 18 items 5 and 8: a refused message does not wait for the last good one to go stale."""
    core.on_instruction("go to the red cube")
    feed(core, 0.0)
    assert core.tick(0.05).reason is None
    core.reject("scan", "the lidar reads 'too close' (-inf) on 360 of 360 beams: covered or failed")
    result = core.tick(0.1)  # the previous scan is 0.1 s old, well inside its timeout
    assert (result.linear, result.angular) == (0.0, 0.0)
    assert result.reason == "scan rejected: the lidar reads 'too close' (-inf) on 360 of 360 beams: covered or failed"
    feed(core, 0.15)
    assert core.tick(0.2).reason is None
    core.reject("camera", "camera frame is 1x1 px")
    assert core.tick(0.25).reason == "camera rejected: camera frame is 1x1 px"
    with pytest.raises(ValueError, match="unknown sensor"):
        core.reject("sonar", "?")


def test_would_drive_says_whether_a_tick_now_runs_the_model_and_judges_nothing(core):
    """The node waits for the next frame only before a tick that would drive; a stop never waits."""
    feed(core, 0.0)
    assert not core.would_drive(0.1)  # no instruction
    core.on_instruction("go to the red cube")
    assert core.would_drive(0.1)
    assert not core.would_drive(0.6)  # both inputs stale
    core.reject("scan", "every range NaN")
    assert not core.would_drive(0.1)
    assert core.judged_on == {"camera": {}, "scan": {}}, "asking is not a tick: no age was judged"


def test_a_driving_tick_names_the_stamp_of_the_frame_it_came_from(core):
    core.on_instruction("go to the red cube")
    core.on_scan(SCAN, GEOMETRY, 0.0)
    core.on_image(IMAGE, 0.0, stamp=123.25)
    assert core.tick(0.1, stamp_now=123.3).image_stamp == 123.25
    core.on_image(IMAGE, 0.1)  # unstamped
    assert core.tick(0.15).image_stamp is None
