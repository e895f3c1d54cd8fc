"""Bags without DDS: reading, damaged bags, killed recordings, replay evaluation, bags -> episodes.

Every bag here is written into ``tmp_path`` with ``rosbags``' own writer (or the recorder's
:class:`RecordingWriter`), never committed. Model folders hold untrained weights saved by the test.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nav.bags.reader import BagError, BagReader, default_typestore
from nav.bags.replay_eval import ReplayEvalConfig, compare_commands, replay_eval
from nav.bags.writer import RecordingWriter
from perception.threads import torch_threads
from untrained_models import save_untrained

TS = default_typestore()
T0 = 1_700_000_000_000_000_000
PERIOD_NS = 100_000_000


def _header(t_ns: int, frame: str):
    Header = TS.types["std_msgs/msg/Header"]
    Time = TS.types["builtin_interfaces/msg/Time"]
    return Header(stamp=Time(sec=t_ns // 10**9, nanosec=t_ns % 10**9), frame_id=frame)


def image_msg(t_ns: int, rng: np.random.Generator):
    Image = TS.types["sensor_msgs/msg/Image"]
    data = rng.integers(0, 255, 64 * 64 * 3, dtype=np.uint8)
    return Image(
        header=_header(t_ns, "camera"), height=64, width=64, encoding="rgb8", is_bigendian=0, step=192, data=data
    )


def scan_msg(t_ns: int, beams: int, rng: np.random.Generator):
    LaserScan = TS.types["sensor_msgs/msg/LaserScan"]
    inc = 2 * math.pi / beams
    return LaserScan(
        header=_header(t_ns, "laser"),
        angle_min=-math.pi,
        angle_max=math.pi - inc,
        angle_increment=inc,
        time_increment=0.0,
        scan_time=0.1,
        range_min=0.1,
        range_max=8.0,
        ranges=rng.uniform(0.5, 6.0, beams).astype(np.float32),
        intensities=np.zeros(0, dtype=np.float32),
    )


def twist_msg(linear: float, angular: float):
    Twist = TS.types["geometry_msgs/msg/Twist"]
    Vector3 = TS.types["geometry_msgs/msg/Vector3"]
    return Twist(linear=Vector3(x=linear, y=0.0, z=0.0), angular=Vector3(x=0.0, y=0.0, z=angular))


def write_bag(
    path: Path,
    seconds: float = 3.0,
    camera: bool = True,
    instruction: str | None = "go to the red cube",
    beams: int = 360,
    storage: str = "mcap",
    scan_topic: str = "/scan",
) -> Path:
    """A small bag like a recording of this stack: camera, scan, instruction and a reference command at 10 Hz."""
    rng = np.random.default_rng(0)
    writer = RecordingWriter(path, storage, flush_s=3600.0)
    String = TS.types["std_msgs/msg/String"]
    topics = {scan_topic: "sensor_msgs/msg/LaserScan", "/nav/teacher_cmd": "geometry_msgs/msg/Twist"}
    if camera:
        topics["/camera/image_raw"] = "sensor_msgs/msg/Image"
    if instruction:
        topics["/instruction"] = "std_msgs/msg/String"
    for topic, kind in topics.items():
        writer.add_topic(topic, kind)
    for k in range(int(seconds * 10)):
        t = T0 + k * PERIOD_NS
        if instruction and k % 20 == 0:
            writer.write("/instruction", t, TS.serialize_cdr(String(data=instruction), "std_msgs/msg/String"))
        if camera:
            writer.write("/camera/image_raw", t + 1000, TS.serialize_cdr(image_msg(t, rng), "sensor_msgs/msg/Image"))
        writer.write(scan_topic, t + 2000, TS.serialize_cdr(scan_msg(t, beams, rng), "sensor_msgs/msg/LaserScan"))
        cmd = twist_msg(0.3 if k % 30 < 20 else 0.0, 0.8 * math.sin(k / 5.0))
        writer.write("/nav/teacher_cmd", t + 50_000_000, TS.serialize_cdr(cmd, "geometry_msgs/msg/Twist"))
    writer.close()
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("models")
    save_untrained(folder, "small")
    return folder


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with torch_threads(1):  # and the count the other modules' tests run at comes back after each test
        yield


# ------------------------------------------------------------------------------------ reading
@pytest.mark.unit
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_a_written_bag_reads_back_in_time_order(tmp_path: Path, storage: str) -> None:
    bag = write_bag(tmp_path / "bag", seconds=1.0, storage=storage)
    with BagReader(bag) as reader:
        assert reader.info.storage == storage
        assert reader.info.topics["/scan"] == ("sensor_msgs/msg/LaserScan", 10)
        times = [t for _, _, t, _ in reader.raw_messages()]
        assert times == sorted(times)
        msg = next(m for topic, _, _, m in reader.messages({"/camera/image_raw"}))
        assert (msg.width, msg.height, msg.encoding) == (64, 64, "rgb8")
    assert "in_progress" not in (bag / "metadata.yaml").read_text(), "a closed bag is not marked unfinished"


def _decode_as_foxglove_does(bag: Path, storage: str) -> Iterator[tuple[str, Any]]:
    """(topic, message) for every message, decoded by Foxglove's ROS 2 decoder (``mcap-ros2-support``)
    from the ``ros2msg`` definitions stored in the bag itself, not from any message package."""
    from mcap.reader import make_reader
    from mcap.records import Schema
    from mcap_ros2.decoder import DecoderFactory

    if storage == "mcap":
        (path,) = bag.glob("*.mcap")
        with path.open("rb") as stream:
            for schema, channel, _, message in make_reader(
                stream, decoder_factories=[DecoderFactory()]
            ).iter_decoded_messages():
                assert (schema.encoding, channel.message_encoding) == ("ros2msg", "cdr"), channel.topic
                yield channel.topic, message
        return
    (path,) = bag.glob("*.db3")  # rosbag2 sqlite3 schema 4 (Iron and later): definitions in their own table
    with closing(sqlite3.connect(path)) as db:
        definitions = {
            kind: (encoding, text)
            for kind, encoding, text in db.execute(
                "SELECT topic_type, encoding, encoded_message_definition FROM message_definitions"
            )
        }
        decoders = {}
        for topic_id, topic, kind, fmt in db.execute("SELECT id, name, type, serialization_format FROM topics"):
            encoding, text = definitions[kind]
            assert (encoding, fmt) == ("ros2msg", "cdr"), topic
            schema = Schema(id=topic_id, name=kind, encoding=encoding, data=text.encode())
            decoders[topic_id] = (topic, DecoderFactory().decoder_for(fmt, schema))
        for topic_id, data in db.execute("SELECT topic_id, data FROM messages ORDER BY timestamp"):
            topic, decode = decoders[topic_id]
            yield topic, decode(data)


@pytest.mark.unit
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_a_written_bag_decodes_with_foxgloves_decoder_from_the_definitions_it_carries(
    tmp_path: Path, storage: str
) -> None:
    """Foxglove (and ``ros2 bag``) decode a bag from the message definitions stored in it: every
    message must decode from those alone."""
    bag = write_bag(tmp_path / "bag", seconds=1.0, storage=storage)
    with BagReader(bag) as reader:
        expected = {topic: count for topic, (_, count) in reader.info.topics.items()}
    counts: dict[str, int] = {}
    for topic, message in _decode_as_foxglove_does(bag, storage):
        counts[topic] = counts.get(topic, 0) + 1
        if topic == "/scan":
            assert len(message.ranges) == 360 and message.range_max == pytest.approx(8.0)
        if topic == "/camera/image_raw":
            assert (message.width, message.height, message.encoding) == (64, 64, "rgb8")
        if topic == "/instruction":
            assert message.data == "go to the red cube"
    assert counts == expected


# ------------------------------------------------------------------------------------ damaged bags
def _eval(bag: Path, models: Path, **kw) -> dict:
    return replay_eval(ReplayEvalConfig(bag=bag, models_dir=models, **kw), log=lambda _: None)[0]


@pytest.mark.unit
def test_an_empty_file_is_an_error_naming_it(tmp_path: Path, models: Path) -> None:
    empty = tmp_path / "empty.mcap"
    empty.write_bytes(b"")
    with pytest.raises(BagError, match=r"empty\.mcap: empty file"):
        _eval(empty, models)
    bag = write_bag(tmp_path / "bag", seconds=0.5)
    (bag / "bag.mcap").write_bytes(b"")
    with pytest.raises(BagError, match=r"bag\.mcap: empty file"):
        _eval(bag, models)


@pytest.mark.unit
def test_a_truncated_mcap_is_an_error_naming_it(tmp_path: Path, models: Path) -> None:
    bag = write_bag(tmp_path / "bag", seconds=2.0)
    data = (bag / "bag.mcap").read_bytes()
    (bag / "bag.mcap").write_bytes(data[: len(data) // 2])
    with pytest.raises(BagError, match=r"bag\.mcap: truncated MCAP"):
        _eval(bag, models)


@pytest.mark.unit
def test_a_folder_without_metadata_yaml_is_an_error_naming_it_and_the_file_it_could_read(
    tmp_path: Path, models: Path
) -> None:
    bag = write_bag(tmp_path / "bag", seconds=0.5)
    (bag / "metadata.yaml").unlink()
    with pytest.raises(BagError, match=r"metadata\.yaml: missing.*to read bag\.mcap on its own, give the file"):
        _eval(bag, models)
    db = write_bag(tmp_path / "db", seconds=0.5, storage="sqlite3")
    (db / "metadata.yaml").unlink()
    (db3,) = db.glob("*.db3")
    with pytest.raises(BagError, match=r"metadata\.yaml: missing"):
        _eval(db3, models)


@pytest.mark.unit
def test_a_bare_mcap_file_is_read_on_its_own(tmp_path: Path, models: Path) -> None:
    bag = write_bag(tmp_path / "bag", seconds=1.0)
    (bag / "metadata.yaml").unlink()  # a Foxglove export, or another tool's single file
    summary = _eval(bag / "bag.mcap", models, variants=("random",))
    assert summary["valid"] is True and summary["storage"] == "mcap"
    assert summary["ticks_evaluated"]["random"] > 0


def _corrupt_sqlite3_messages(bag: Path, topic: str, count: int | None) -> None:
    """Overwrite the CDR data of ``count`` messages of ``topic`` (all with None) with bytes that decode to nothing."""
    (path,) = bag.glob("*.db3")
    with closing(sqlite3.connect(path)) as db:
        (topic_id,) = db.execute("SELECT id FROM topics WHERE name = ?", (topic,)).fetchone()
        ids = [i for (i,) in db.execute("SELECT id FROM messages WHERE topic_id = ? ORDER BY id", (topic_id,))]
        for message_id in ids[:count] if count is not None else ids:
            db.execute("UPDATE messages SET data = ? WHERE id = ?", (b"\x00\x01\x00\x00\xff", message_id))
        db.commit()


@pytest.mark.unit
def test_a_corrupt_message_is_counted_and_skipped_and_the_run_finishes(tmp_path: Path, models: Path) -> None:
    bag = write_bag(tmp_path / "bag", seconds=2.0, storage="sqlite3")
    _corrupt_sqlite3_messages(bag, "/scan", 1)
    summary = _eval(bag, models, variants=("random",))
    assert summary["valid"] is True
    ((key, n),) = summary["rejected_messages"].items()
    assert key.startswith("/scan (") and "cannot decode" in key and n == 1


@pytest.mark.unit
def test_a_bag_whose_every_message_is_unusable_is_an_error_for_replay_and_for_training(
    tmp_path: Path, models: Path
) -> None:
    from nav.bags.episodes import bag_to_episode

    writer = RecordingWriter(tmp_path / "bag", "mcap", flush_s=3600.0)
    writer.add_topic("/scan", "sensor_msgs/msg/LaserScan")
    writer.add_topic("/nav/teacher_cmd", "geometry_msgs/msg/Twist")
    rng = np.random.default_rng(0)
    for k in range(5):
        t = T0 + k * PERIOD_NS
        scan = dataclasses.replace(scan_msg(t, 360, rng), angle_increment=0.0)  # no angle between its rays
        writer.write("/scan", t, TS.serialize_cdr(scan, "sensor_msgs/msg/LaserScan"))
        broken = twist_msg(math.nan, 0.0)  # a non-finite reference is rejected
        writer.write("/nav/teacher_cmd", t, TS.serialize_cdr(broken, "geometry_msgs/msg/Twist"))
    writer.close()
    with pytest.raises(BagError, match="bag: the mapped topics hold no usable message"):
        _eval(tmp_path / "bag", models, instruction="go to the red cube", variants=("random",))
    with pytest.raises(BagError, match="bag: the mapped topics hold no usable message"):
        bag_to_episode(tmp_path / "bag", instruction="go to the red cube")


@pytest.mark.unit
def test_a_run_whose_every_tick_stopped_is_not_valid_and_says_why(tmp_path: Path, models: Path) -> None:
    bag = write_bag(tmp_path / "bag", seconds=1.0, storage="sqlite3")
    _corrupt_sqlite3_messages(bag, "/scan", None)  # no usable scan at all: every tick stops for it
    summary = _eval(bag, models, variants=("random",))
    assert summary["valid"] is False
    assert summary["ticks_evaluated"] == {"random": 0}
    assert "not valid" in summary["notes"][-1] and "random" in summary["notes"][-1]
    ((key, n),) = summary["rejected_messages"].items()
    assert key.startswith("/scan (") and n == 10  # every scan of the 1 s bag


@pytest.mark.unit
def test_a_bag_with_none_of_the_mapped_topics_says_what_it_found(tmp_path: Path, models: Path) -> None:
    bag = write_bag(tmp_path / "bag", seconds=0.5, scan_topic="/front_lidar", camera=False, instruction=None)
    # /nav/teacher_cmd is mapped (the reference), so drop it from the map through a reference that isn't there
    with pytest.raises(BagError, match=r"none of the mapped topics.*found: .*/front_lidar"):
        _eval(bag, models, reference="/no/such/topic")


@pytest.mark.unit
def test_a_bag_without_a_scan_names_the_missing_modality(tmp_path: Path, models: Path) -> None:
    bag = write_bag(tmp_path / "bag", seconds=0.5, scan_topic="/front_lidar")
    with pytest.raises(BagError, match=r"no 2D scan or point cloud.*found: .*/front_lidar"):
        _eval(bag, models)


@pytest.mark.e2e
def test_the_cli_exits_non_zero_and_writes_no_report_for_a_damaged_bag(tmp_path: Path, models: Path) -> None:
    bag = write_bag(tmp_path / "bag", seconds=0.5)
    (bag / "metadata.yaml").unlink()
    report = tmp_path / "report"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "nav.cli",
            "replay-eval",
            str(bag),
            "--variant",
            "random",
            "--json",
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "metadata.yaml: missing" in proc.stderr
    last = json.loads(proc.stdout.strip().splitlines()[-1])
    assert last["valid"] is False and "metadata.yaml" in last["error"]
    assert not (report / "report.md").exists(), "no report for an invalid run"


def _damage(kind: str, tmp_path: Path) -> tuple[Path, str]:
    """A bad bag of ``kind`` and what its error must say (the file, the topic, the problem)."""
    if kind == "empty":
        (tmp_path / "empty.mcap").write_bytes(b"")
        return tmp_path / "empty.mcap", r"empty\.mcap: empty file"
    if kind == "not a bag":
        (tmp_path / "notes.bag").write_bytes(b"these are my notes, not a bag\n" * 20)
        return tmp_path / "notes.bag", r"notes\.bag"
    bag = write_bag(tmp_path / "bag", seconds=2.0, storage="sqlite3" if kind == "corrupt sqlite3" else "mcap")
    if kind == "truncated":
        data = (bag / "bag.mcap").read_bytes()
        (bag / "bag.mcap").write_bytes(data[: len(data) // 2])
        return bag, r"bag\.mcap: truncated MCAP"
    if kind == "corrupt sqlite3":
        (bag / "bag.db3").write_bytes(b"\x00garbage" * 500)
        return bag, r"bag\.db3"
    assert kind == "wrong type"  # the scan's topic holds strings
    wrong = write_bag(tmp_path / "wrong", seconds=1.0, scan_topic="/elsewhere")
    return wrong, r"no 2D scan or point cloud.*LaserScan on \['/scan'\]"


@pytest.mark.e2e
@pytest.mark.parametrize("kind", ["empty", "not a bag", "truncated", "corrupt sqlite3", "wrong type"])
def test_every_bad_bag_is_an_error_naming_the_file_and_the_problem_with_exit_1_and_no_traceback(
    tmp_path: Path, models: Path, kind: str
) -> None:
    bag, expected = _damage(kind, tmp_path)
    for command in (
        ["replay-eval", str(bag), "--variant", "random", "--instruction", "go to the red cube"],
        ["train", "--from-bags", str(bag), "--instruction", "go to the red cube", "--out-dir", str(tmp_path / "run")],
    ):
        proc = subprocess.run([sys.executable, "-m", "nav.cli", *command], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 1, (command[0], proc.stderr[-1500:])
        assert "Traceback" not in proc.stderr, proc.stderr[-1500:]
        assert re.search(rf"nav {command[0]}: error: .*{expected}", proc.stderr), proc.stderr[-1500:]


# ------------------------------------------------------------------------------------ killed recordings
KILL_SCRIPT = """
import os, sys
from nav.bags.writer import RecordingWriter
from perception.threads import torch_threads
from nav.bags.reader import default_typestore
ts = default_typestore()
String = ts.types["std_msgs/msg/String"]
w = RecordingWriter(sys.argv[1], sys.argv[2], flush_s=3600.0)
w.add_topic("/instruction", "std_msgs/msg/String")
for i in range(100):
    w.write("/instruction", 10**18 + i * 10**8, ts.serialize_cdr(String(data=f"go {i}"), "std_msgs/msg/String"))
    if i == 59:
        w.flush()
os.kill(os.getpid(), 9)
"""


@pytest.mark.unit
@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_a_killed_writer_leaves_a_bag_that_opens_with_everything_up_to_its_last_flush(
    tmp_path: Path, storage: str
) -> None:
    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(tmp_path / "bag"), storage], timeout=60)
    assert proc.returncode == -9
    with BagReader(tmp_path / "bag") as reader:
        assert reader.info.recovered
        texts = [m.data for _, _, _, m in reader.messages()]
    assert texts == [f"go {i}" for i in range(60)], "everything up to the last flush, nothing after"


# ------------------------------------------------------------------------------------ metrics
@pytest.mark.unit
def test_compare_commands_counts_stop_go_and_turning_signs() -> None:
    ref = np.array([[0.0, 0.5], [0.3, -0.5], [0.3, 0.0], [0.0, 0.0]])
    model = np.array([[0.0, 0.4], [0.0, 0.5], [0.3, 0.01], [0.2, 0.0]])
    m = compare_commands(model, ref)
    assert m["mae_linear"] == pytest.approx((0.3 + 0.2) / 4)
    assert m["mae_angular"] == pytest.approx((0.1 + 1.0 + 0.01) / 4)
    assert m["turn_sign_agreement"] == pytest.approx(3 / 4)
    assert m["stop_go_confusion"] == {
        "reference_stop_model_stop": 1,
        "reference_stop_model_go": 1,
        "reference_go_model_stop": 1,
        "reference_go_model_go": 1,
    }


# ------------------------------------------------------------------------------------ replay evaluation
@pytest.mark.unit
def test_replay_eval_runs_model_and_random_side_by_side_with_a_report(tmp_path: Path, models: Path) -> None:
    from nav.bags.report import write_report

    bag = write_bag(tmp_path / "bag", seconds=4.0)
    summary, results = replay_eval(
        ReplayEvalConfig(bag=bag, models_dir=models, variants=("small", "random")), log=lambda _: None
    )
    assert summary["topics"]["reference"] == "/nav/teacher_cmd"
    assert summary["topics"]["instruction"] == "/instruction"
    assert not summary["lidar_only"]
    for name in ("small", "random"):
        m = summary["variants"][name]
        assert m["ticks"] >= 35 and m["compared_ticks"] >= 35
        assert m["real_time_factor"] > 0 and m["messages_per_second"] > 0
        assert 0.0 <= m["turn_sign_agreement"] <= 1.0
        assert sum(m["stop_go_confusion"].values()) == m["compared_ticks"]
    assert summary["variants"]["small"]["zero_reasons"].keys() <= {"no camera message yet", "no scan message yet"}
    assert summary["real_time_factor"] == summary["variants"]["small"]["real_time_factor"]
    report = write_report(tmp_path / "report", summary, results)
    text = report.read_text()
    assert "| small |" in text and "| random |" in text
    assert (tmp_path / "report" / "commands.png").stat().st_size > 1000


@pytest.mark.unit
def test_a_bag_without_camera_runs_lidar_only_and_says_so(tmp_path: Path, models: Path) -> None:
    bag = write_bag(tmp_path / "bag", seconds=2.0, camera=False, beams=720)
    summary, _ = replay_eval(ReplayEvalConfig(bag=bag, models_dir=models), log=lambda _: None)
    assert summary["lidar_only"]
    assert any("lidar only" in n for n in summary["notes"])
    assert summary["variants"]["small"]["compared_ticks"] > 0


@pytest.mark.unit
def test_a_bag_without_instruction_needs_one_from_the_command_line(tmp_path: Path, models: Path) -> None:
    bag = write_bag(tmp_path / "bag", seconds=2.0, instruction=None)
    with pytest.raises(BagError, match="no instruction in the bag.*--instruction"):
        _eval(bag, models)
    summary = _eval(bag, models, instruction="find the blue ball")
    assert summary["variants"]["small"]["ticks"] > 0
    assert any("find the blue ball" in n for n in summary["notes"])


@pytest.mark.unit
def test_a_republished_instruction_keeps_the_models_memory(tmp_path: Path, models: Path) -> None:
    # write_bag republishes the instruction every 2 s, as the sim node does: like the agent node,
    # replay evaluation keeps the memory, so the commands match a run given the instruction once.
    bag = write_bag(tmp_path / "bag", seconds=5.0)
    config = ReplayEvalConfig(bag=bag, models_dir=models)
    _, (recorded,) = replay_eval(config, log=lambda _: None)
    _, (once,) = replay_eval(dataclasses.replace(config, instruction="go to the red cube"), log=lambda _: None)
    assert recorded.ticks == once.ticks >= 45
    np.testing.assert_array_equal(recorded.commands, once.commands)


# ------------------------------------------------------------------------------------ training from bags
@pytest.mark.unit
def test_bags_become_demonstration_episodes_that_training_can_load(tmp_path: Path) -> None:
    from nav.bags.episodes import bags_to_shard
    from policy.data import load_episodes

    write_bag(tmp_path / "bags" / "a", seconds=2.0)
    write_bag(tmp_path / "bags" / "b", seconds=1.5, beams=720)
    shard = bags_to_shard([tmp_path / "bags"], tmp_path / "shard.npz", log=lambda _: None)
    episodes = load_episodes(shard)
    assert [len(e) for e in episodes] == [pytest.approx(20, abs=1), pytest.approx(15, abs=1)]
    for e in episodes:
        assert e.images.shape[1:] == (64, 64, 3) and e.scans.shape[1] == 360, "the simulator's layout"
        assert e.instruction == "go to the red cube"
        assert np.all(np.abs(e.labels[:, 0]) <= 0.3 + 1e-6)


@pytest.mark.unit
def test_bags_without_an_instruction_train_with_the_one_given_and_their_named_reference(tmp_path: Path) -> None:
    """nav train --from-bags BAG --instruction T --reference TOPIC, as nav replay-eval takes them."""
    from nav.bags.episodes import bags_to_shard
    from policy.data import load_episodes

    bag = write_bag(tmp_path / "bag", seconds=1.0, instruction=None)
    (bag / "metadata.yaml").unlink()  # a bare .mcap file, too
    with pytest.raises(BagError, match="no instruction in the bag"):
        bags_to_shard([bag / "bag.mcap"], tmp_path / "none.npz", log=lambda _: None)
    with pytest.raises(BagError, match=r"no reference command.*'/no/such/topic'"):
        bags_to_shard([bag / "bag.mcap"], tmp_path / "x.npz", "go to the blue ball", lambda _: None, "/no/such/topic")
    shard = bags_to_shard(
        [bag / "bag.mcap"], tmp_path / "shard.npz", "go to the blue ball", lambda _: None, "/nav/teacher_cmd"
    )
    (episode,) = load_episodes(shard)
    assert episode.instruction == "go to the blue ball" and len(episode) == pytest.approx(10, abs=1)


@pytest.mark.unit
def test_nav_bag_repair_writes_a_killed_recording_as_a_bag_the_standard_readers_open(tmp_path: Path) -> None:
    """Issue 18 item 6: the killed MCAP fails the mcap library's reader; its repair opens there and in rosbags."""
    from mcap.reader import make_reader

    proc = subprocess.run([sys.executable, "-c", KILL_SCRIPT, str(tmp_path / "bag"), "mcap"], timeout=60)
    assert proc.returncode == -9
    damaged = next((tmp_path / "bag").glob("*.mcap"))
    with damaged.open("rb") as f, pytest.raises(Exception):  # noqa: B017, PT011 (whatever the library raises)
        list(make_reader(f).iter_messages())
    out = subprocess.run(
        [sys.executable, "-m", "nav.cli", "bag", "repair", str(tmp_path / "bag"), str(tmp_path / "fixed"), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["messages"] == 60 and summary["recovered"]
    repaired = next((tmp_path / "fixed").glob("*.mcap"))
    with repaired.open("rb") as f:
        assert len(list(make_reader(f).iter_messages())) == 60  # Foxglove's own reader
    from rosbags.highlevel import AnyReader

    with AnyReader([tmp_path / "fixed"], default_typestore=default_typestore()) as reader:
        assert reader.message_count == 60  # the rosbag2 reader, metadata.yaml and all
    again = subprocess.run(
        [sys.executable, "-m", "nav.cli", "bag", "repair", str(tmp_path / "bag"), str(tmp_path / "fixed")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1 and "already exists" in again.stderr


class _Publisher:
    """A publisher whose subscriptions match one per poll, as DDS discovery brings them in."""

    def __init__(self, final: int) -> None:
        self.final, self.polls = final, 0

    def get_subscription_count(self) -> int:
        self.polls += 1
        return min(self.polls - 1, self.final)


@pytest.mark.unit
def test_replay_starts_once_every_topic_has_its_subscribers_or_says_it_starts_without_them():
    from nav.bags.replay import ReplayConfig, wait_for_subscribers

    publishers = {"/scan": _Publisher(2), "/odom": _Publisher(3)}
    wait_for_subscribers(publishers, ReplayConfig(Path("bag"), wait_for=2, discovery_s=5.0), log=pytest.fail)
    assert publishers["/scan"].polls == 3  # 0, 1, then 2 subscribers
    lines: list[str] = []
    wait_for_subscribers({"/scan": _Publisher(1)}, ReplayConfig(Path("bag"), wait_for=2, discovery_s=0.2), lines.append)
    assert lines == ["replay: starting without 2 subscribers after 0.2 s (/scan 1)"]
    with pytest.raises(ValueError, match="--wait-for"):
        ReplayConfig(Path("bag"), wait_for=-1)
