"""``nav bag repair``: rewrite a recording that was killed mid-write as a bag every reader opens. Pure Python.

An MCAP file of a killed recording has no footer: ``ros2 bag``, Foxglove and the ``mcap`` library refuse it
("File end magic is invalid"). :class:`nav.bags.reader.BagReader` salvages its complete records (everything up
to the chunk that was being written, that is up to the last flush); this writes them, unchanged, into a new
rosbag2 folder (MCAP by default, or sqlite3) with a finished footer and ``metadata.yaml``. The damaged bag is
left as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nav.bags.reader import BagError, BagReader
from nav.bags.writer import RecordingWriter

__all__ = ["repair_bag"]


def repair_bag(source: str | Path, destination: str | Path, storage: str = "mcap") -> dict[str, Any]:
    """Copy every message ``source`` still holds into a new bag at ``destination`` (which must not exist);
    returns what was kept. Raises BagError for a bag with nothing to recover or a destination in the way."""
    destination = Path(destination)
    if destination.exists():
        raise BagError(f"{destination}: already exists; give a new folder for the repaired bag")
    with BagReader(source) as bag:
        info = bag.info
        assert info is not None
        if info.storage == "ros1":
            raise BagError(f"{source}: a ROS 1 bag has nothing to repair (read it as it is)")
        writer = RecordingWriter(destination, storage, flush_s=float("inf"))
        per_topic: dict[str, int] = {}
        try:
            for topic, msgtype, timestamp, raw in bag.raw_messages():
                writer.add_topic(topic, msgtype)
                writer.write(topic, timestamp, raw)
                per_topic[topic] = per_topic.get(topic, 0) + 1
        finally:
            writer.close()
    if not per_topic:
        raise BagError(f"{source}: no message could be recovered")
    return {
        "source": str(source),
        "repaired": str(destination),
        "storage": storage,
        "recovered": info.recovered,
        "messages": sum(per_topic.values()),
        "per_topic": per_topic,
        "notes": list(info.notes),
    }
