"""Recorded teleop or teacher bags -> :class:`policy.data.Episode` demonstrations (``nav train --from-bags``).

Pure Python (no ROS). Each bag becomes one episode: at every control tick on bag time (the
agent's ``control_hz``) a step holds the newest camera image, scan and odometry, and its label is
the reference command active then (teleop or teacher, chosen through the topic map of
``configs/bags.yaml``). Inputs are read with the same conversions as replay evaluation
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
from nav.bags.inputs import load_events, resolve_inputs
from nav.bags.reader import SINGLE_FILES, BagError, BagReader
from nav.runtime.config import DEFAULT_ROS_CONFIG, load_ros_config

__all__ = ["bag_to_episode", "bags_to_shard", "find_bags"]


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

    ros, maps = load_ros_config(ros_config), load_bag_config(bag_config).topic_map
    sim = load_sim_config(sim_config)
    target = ScanGeometry.from_lidar_config(sim.lidar)
    with BagReader(bag_path) as bag:
        inputs = resolve_inputs(bag.info, maps, ros.topics, reference)  # type: ignore[arg-type]
        if inputs.lidar_only:
            raise BagError(f"{bag_path}: no camera topic; training needs camera images ({inputs.notes[0]})")
        events, _ = load_events(bag, inputs)
    text = instruction or next((e.value for e in events if e.kind == "instruction"), None)
    if text is None:
        raise BagError(f"{bag_path}: no instruction in the bag; give one (nav train --from-bags ... --instruction T)")
    period = 1.0 / ros.agent.control_hz
    images, scans, odom, labels = [], [], [], []
    image = scan = ref = None
    last_odom = (0.0, 0.0)
    i, t = 0, events[0].t
    while t <= events[-1].t:
        while i < len(events) and events[i].t <= t:
            e = events[i]
            i += 1
            if e.kind == "image":
                image = e
            elif e.kind == "scan":
                scan = e
            elif e.kind == "odom":
                last_odom = e.value
            elif e.kind == "reference":
                ref = e
        fresh = all(
            x is not None and t - x.t <= limit
            for x, limit in ((image, ros.agent.camera_timeout), (scan, ros.agent.scan_timeout), (ref, 0.5))
        )
        if fresh:
            rgb = image.value  # type: ignore[union-attr]
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
                )
            images.append(rgb)
            scans.append(np.asarray(ranges, dtype=np.float32))
            odom.append(last_odom)
            labels.append(ref.value)  # type: ignore[union-attr]
        t += period
    if not labels:
        raise BagError(f"{bag_path}: no tick had a fresh image, scan and reference command at once")
    return Episode(
        images=np.stack(images).astype(np.uint8),
        scans=np.stack(scans),
        odom=np.asarray(odom, dtype=np.float32),
        labels=np.asarray(labels, dtype=np.float32),
        instruction=text,
        success=True,
    )


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
        log(f"from-bags: {bag}: {len(episode)} steps, instruction {episode.instruction!r}")
        episodes.append(episode)
    return save_episodes(out, episodes)
