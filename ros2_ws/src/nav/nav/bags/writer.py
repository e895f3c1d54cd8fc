"""A rosbag2 writer that survives being killed: ``rosbags``' Writer plus flushes and early metadata.

Pure Python (no ROS): the recorder node hands it serialized (CDR) messages. ``rosbags`` writes
``metadata.yaml`` only when the bag closes and keeps up to 1 MiB of MCAP chunk (or, for sqlite3, one
open transaction) in memory, so a killed recorder would leave a bag that does not open. This writer

* writes ``metadata.yaml`` as soon as the bag is open, marked ``custom_data: {nav.recording:
  in_progress}`` (:data:`nav.bags.reader.RECORDING_KEY`), and refreshes it at every flush;
* flushes every ``flush_s`` seconds: closes the pending MCAP chunk and flushes the file to the OS
  (sqlite3: commits), so a kill loses at most the messages since the last flush;
* on :meth:`close` lets ``rosbags`` write the summary, footer and final ``metadata.yaml`` (unmarked).

:class:`nav.bags.reader.BagReader` recovers the complete chunks of a marked, unfinished MCAP file.
"""

from __future__ import annotations

import time
from io import StringIO
from pathlib import Path
from typing import Any

from nav.bags.reader import IN_PROGRESS, RECORDING_KEY, default_typestore

__all__ = ["RecordingWriter"]


class RecordingWriter:
    """``add_topic`` then ``write`` raw CDR messages; ``maybe_flush`` often; ``close`` at the end."""

    def __init__(self, path: str | Path, storage: str = "mcap", flush_s: float = 1.0, typestore: Any = None) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer

        plugins = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
        if storage not in plugins:
            raise ValueError(f"storage must be one of {sorted(plugins)}, got {storage!r}")
        self.path = Path(path)
        self.storage = storage
        self.flush_s = flush_s
        self.typestore = typestore if typestore is not None else default_typestore()
        self.writer = Writer(self.path, version=9, storage_plugin=plugins[storage])
        self.writer.set_custom_data(RECORDING_KEY, IN_PROGRESS)
        self.writer.open()
        self.connections: dict[str, Any] = {}
        self._last_flush = time.monotonic()
        self._write_metadata()

    def add_topic(self, topic: str, msgtype: str) -> None:
        if topic not in self.connections:
            self.connections[topic] = self.writer.add_connection(topic, msgtype, typestore=self.typestore)

    def write(self, topic: str, timestamp_ns: int, data: bytes) -> None:
        self.writer.write(self.connections[topic], timestamp_ns, data)

    def maybe_flush(self) -> bool:
        """Flush when ``flush_s`` has passed since the last flush; True if it did."""
        if time.monotonic() - self._last_flush < self.flush_s:
            return False
        self.flush()
        return True

    def flush(self) -> None:
        """Make everything written so far survive a kill of this process."""
        storage = self.writer.storage
        if storage is None:
            return
        if self.storage == "mcap":
            if storage.chunk.bio.tell():
                storage.close_chunk()  # rosbags' McapWriter: writes the pending chunk and its index
            storage.bio.flush()
        else:
            storage.conn.commit()  # rosbags' Sqlite3Writer keeps one transaction open until close
        self._write_metadata()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Finish the bag: index, footer and the final metadata.yaml (without the in-progress mark)."""
        if self.writer.storage is None:
            return
        self.writer.custom_data.pop(RECORDING_KEY, None)
        self.writer.close()

    def _write_metadata(self) -> None:
        """metadata.yaml as ``rosbags`` writes it at close, with the counts so far and the mark."""
        from rosbags.rosbag2.metadata import dump_qos_v9
        from ruamel.yaml import YAML

        w = self.writer
        storage = w.storage
        assert storage is not None
        count = sum(w.counts.values())
        start = w.min_timestamp if count else 0
        duration = max(0, w.max_timestamp - w.min_timestamp) if count else 0
        name = storage.path.name
        info = {
            "version": w.version,
            "storage_identifier": self.storage,
            "relative_file_paths": [name],
            "duration": {"nanoseconds": duration},
            "starting_time": {"nanoseconds_since_epoch": start},
            "message_count": count,
            "topics_with_message_count": [
                {
                    "topic_metadata": {
                        "name": c.topic,
                        "type": c.msgtype,
                        "serialization_format": c.ext.serialization_format,
                        "offered_qos_profiles": dump_qos_v9(c.ext.offered_qos_profiles),
                        "type_description_hash": c.digest,
                    },
                    "message_count": w.counts[c.id],
                }
                for c in w.connections
            ],
            "compression_format": "",
            "compression_mode": "",
            "files": [
                {
                    "path": name,
                    "starting_time": {"nanoseconds_since_epoch": start},
                    "duration": {"nanoseconds": duration},
                    "message_count": count,
                }
            ],
            "custom_data": dict(w.custom_data) or None,
            "ros_distro": "rosbags",
        }
        yaml = YAML(typ="safe")
        yaml.default_flow_style = False
        text = StringIO()
        yaml.dump({"rosbag2_bagfile_information": info}, text)
        tmp = w.metapath.with_suffix(".yaml.tmp")
        tmp.write_text(text.getvalue(), "utf8")
        tmp.replace(w.metapath)
