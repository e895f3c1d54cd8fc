"""Recorded teleop or teacher bags -> :class:`policy.data.Episode` demonstrations (``nav train --from-bags``).

Pure Python (no ROS). Each bag becomes one episode: at every control tick on bag time (the
agent's ``control_hz``) a step holds the newest camera image, scan and odometry, and its label is
the reference command active then (teleop or teacher, chosen through the topic map of
``configs/bags.yaml``). A tick whose image or scan is stale, judged as replay evaluation judges it
(limits and header stamps: :func:`nav.bags.inputs.input_age`), or that has no reference command
newer than ``REFERENCE_MAX_AGE_S``, gives no step. A bag without a camera trains with the blank grey
image the agent sees in replay (:data:`nav.bags.inputs.BLANK_IMAGE`): the steps teach what to do
from the scan alone, and the log line says so. Inputs are read with the same conversions as replay evaluation
(:mod:`nav.bags.inputs`). Episodes store raw observations, as the simulator's do, so training applies
THE pre-processing (:class:`policy.processing.PolicyProcessor`) at use time: only to stack bags
with the simulator's data, an image is resized to the simulator camera's size and a scan of another
layout is resampled onto the simulator lidar's beams (REP 117 values kept).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from nav.bags.config import DEFAULT_BAG_CONFIG, load_bag_config
from nav.bags.inputs import BLANK_IMAGE, Event, input_age, read_inputs, resolve_inputs, sensor_timeouts
from nav.bags.reader import SINGLE_FILES, BagError, BagReader
from nav.runtime.config import DEFAULT_ROS_CONFIG, load_ros_config

__all__ = ["REFERENCE_MAX_AGE_S", "bag_to_episode", "bags_to_shard", "find_bags"]

REFERENCE_MAX_AGE_S = 0.5
"""s: a command older than this at a tick labels nothing (teleop that stopped publishing)."""


def find_bags(paths: Sequence[str | Path]) -> list[Path]:
    """Bag folders: each path that is a bag, or the bags directly inside a folder of bags."""
    bags: list[Path] = []
    for p in map(Path, paths):
        if (p / "metadata.yaml").exists() or p.is_file():
            bags.append(p)
        elif p.is_dir():
            bags += sorted(
                d for d in p.iterdir() if (d / "metadata.yaml").exists() or (d.is_file() and d.suffix in SINGLE_FILES)
            )
        else:
            raise BagError(f"{p}: no such bag or folder of bags")
    if not bags:
        raise BagError(
            f"no bag (a rosbag2 folder with metadata.yaml, an .mcap or a ROS 1 .bag file) in {[str(p) for p in paths]}"
        )
    return bags


def bag_to_episode(
    bag_path: str | Path,
    instruction: str | None = None,
    reference: str | None = None,
    bag_config: str | Path = DEFAULT_BAG_CONFIG,
    ros_config: str | Path = DEFAULT_ROS_CONFIG,
    sim_config: str | Path = "sim.yaml",
):  # -> policy.data.Episode
    import cv2

    from perception.lidar import resample_scan
    from policy.data import Episode
    from policy.processing import ScanGeometry
    from sim.config import load_sim_config

    ros, bags = load_ros_config(ros_config), load_bag_config(bag_config)
    sim = load_sim_config(sim_config)
    target = ScanGeometry.from_lidar_config(sim.lidar)
    with BagReader(bag_path) as bag:
        inputs = resolve_inputs(bag.info, bags.topic_map, ros.topics, reference)  # type: ignore[arg-type]
        read = read_inputs(bag, inputs)
    events, clock = read.events, read.clock
    text = instruction or next((e.value for e in events if e.kind == "instruction"), None)
    if text is None:
        raise BagError(f"{bag_path}: no instruction in the bag; give one (nav train --from-bags ... --instruction T)")
    timeouts = sensor_timeouts(ros.agent, bags.max_age_s, inputs)
    blank = cv2.resize(BLANK_IMAGE, (sim.camera.width, sim.camera.height), interpolation=cv2.INTER_NEAREST)
    period = 1.0 / ros.agent.control_hz
    images, scans, odom, labels = [], [], [], []
    newest: dict[str, Event] = {}
    last_odom = (0.0, 0.0)
    i, t = 0, events[0].t
    while t <= events[-1].t:
        while i < len(events) and events[i].t <= t:
            newest[events[i].kind] = events[i]
            i += 1
        if "odom" in newest:
            last_odom = newest["odom"].value
        image, scan, ref = (newest.get(k) for k in ("image", "scan", "reference"))
        fresh = (
            (inputs.lidar_only or (image is not None and input_age(image, t, clock) <= timeouts.camera))
            and scan is not None
            and input_age(scan, t, clock) <= timeouts.scan
            and ref is not None
            and t - ref.t <= REFERENCE_MAX_AGE_S
        )
        if fresh:
            rgb = blank if image is None else image.value
            if rgb.shape[:2] != (sim.camera.height, sim.camera.width):
                rgb = cv2.resize(rgb, (sim.camera.width, sim.camera.height), interpolation=cv2.INTER_AREA)
            ranges, geo = scan.value  # type: ignore[union-attr]
            if geo != target or len(ranges) != sim.lidar.beams:
                ranges = resample_scan(
                    ranges,
                    geo.angle_min,
                    geo.angle_increment,
                    geo.range_min,
                    geo.range_max,
                    sim.lidar.beams,
                    sim.lidar.range_max,
                    conventions=geo.conventions,
                    origin=geo.origin,
                )
            images.append(rgb)
            scans.append(np.asarray(ranges, dtype=np.float32))
            odom.append(last_odom)
            labels.append(ref.value)  # type: ignore[union-attr]
        t += period
    if not labels:
        needs = "scan and reference command" if inputs.lidar_only else "image, scan and reference command"
        raise BagError(f"{bag_path}: no tick had a fresh {needs} at once")
    return Episode(
        images=np.stack(images).astype(np.uint8),
        scans=np.stack(scans),
        odom=np.asarray(odom, dtype=np.float32),
        labels=np.asarray(labels, dtype=np.float32),
        instruction=text,
        success=True,
    )


def _blank_note(episode) -> str:  # type: ignore[no-untyped-def]
    blank = bool(len(episode)) and bool(np.all(episode.images == BLANK_IMAGE[0, 0, 0]))
    return " (lidar only: no camera in the bag, the steps show a blank grey image)" if blank else ""


def bags_to_shard(
    paths: Sequence[str | Path],
    out: str | Path,
    instruction: str | None = None,
    log: Callable[[str], None] = print,
    reference: str | None = None,
    bag_config: str | Path = DEFAULT_BAG_CONFIG,
) -> Path:
    """Every bag under ``paths`` as one episode each, saved as a demonstration shard (``policy.data``);
    ``instruction``, ``reference`` and ``bag_config`` as in ``nav replay-eval``."""
    from policy.data import save_episodes

    episodes = []
    for bag in find_bags(paths):
        episode = bag_to_episode(bag, instruction, reference, bag_config)
        log(f"from-bags: {bag}: {len(episode)} steps, instruction {episode.instruction!r}{_blank_note(episode)}")
        episodes.append(episode)
    return save_episodes(out, episodes)
