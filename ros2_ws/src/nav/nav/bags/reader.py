"""Reading bags with ``rosbags``, and saying clearly what is wrong with a bad one.

Pure Python (no ROS). :class:`BagReader` opens, through ``rosbags.highlevel.AnyReader``, the bags
users hold: a rosbag2 folder (MCAP or sqlite3, with ``metadata.yaml``), a bare ``.mcap`` file
(Foxglove's exports, other tools' files) and a ROS 1 ``.bag`` file (decoded with the ROS 1 type
store: such bags rarely carry definitions a rosbag2 reader can use). It yields decoded messages in
log-time order. Every problem is a :class:`BagError` that names the file and the problem: no such
path, an empty file, a folder without ``metadata.yaml``, a storage file that is truncated or not a
bag at all. A single message that cannot be decoded (a damaged record, a type the type store does
not know) is skipped and counted per topic (:attr:`BagReader.undecodable`): the others are read.

**Killed recordings.** The recorder (:mod:`nav.nodes.recorder_node`) writes ``metadata.yaml`` when it starts,
marked ``custom_data: {nav.recording: in_progress}``, refreshes it at every flush, and rewrites it
unmarked when it closes. An MCAP file of a recording that was killed has no footer; when the
metadata carries that mark, the complete records up to the kill are salvaged (only the chunk being
written is lost) and :attr:`BagInfo.recovered` says so. A truncated MCAP without the mark (a finished
bag cut short later) is an error.
"""

from __future__ import annotations

import struct
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

__all__ = [
    "IN_PROGRESS",
    "SINGLE_FILES",
    "RECORDING_KEY",
    "BagError",
    "BagInfo",
    "BagReader",
    "default_typestore",
]

RECORDING_KEY = "nav.recording"
"""``custom_data`` key the recorder sets in ``metadata.yaml``."""
IN_PROGRESS = "in_progress"
MCAP_MAGIC = b"\x89MCAP0\r\n"


class BagError(ValueError):
    """A bag that cannot be used; the message names the file and the problem."""


def default_typestore() -> Any:
    """The rosbags type store for bags without embedded definitions (the newest ROS 2 distro it knows)."""
    from rosbags.typesys import Stores, get_typestore

    store = getattr(Stores, "ROS2_KILTED", None) or Stores.ROS2_JAZZY
    return get_typestore(store)


@dataclass(frozen=True)
class BagInfo:
    path: Path
    storage: str
    """``mcap``, ``sqlite3`` or ``ros1``."""
    topics: dict[str, tuple[str, int]]
    """topic -> (message type, message count)."""
    start_ns: int
    end_ns: int
    recovered: bool = False
    """Salvaged from a recording that did not close (killed)."""
    notes: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return max(0, self.end_ns - self.start_ns) * 1e-9

    @property
    def message_count(self) -> int:
        return sum(count for _, count in self.topics.values())

    def describe_topics(self) -> str:
        if not self.topics:
            return "no topics"
        return ", ".join(f"{name} ({kind.rsplit('/', 1)[-1]}, {n})" for name, (kind, n) in sorted(self.topics.items()))


@dataclass
class _Salvaged:
    """Messages recovered from an unfinished MCAP file."""

    channels: dict[int, tuple[str, str]] = field(default_factory=dict)
    """channel id -> (topic, message type)."""
    messages: list[tuple[int, int, bytes]] = field(default_factory=list)
    """(log time ns, channel id, CDR bytes)."""
    complete_bytes: int = 0
    total_bytes: int = 0


SINGLE_FILES = {".mcap": "mcap", ".bag": "ros1"}
"""Bag files that are readable on their own (no ``metadata.yaml``), by suffix -> storage."""


def _bag_folder(path: Path) -> Path:
    """The rosbag2 folder of ``path``, or ``path`` itself when it is a bag file readable on its own."""
    if not path.exists():
        raise BagError(f"{path}: no such bag (file or folder)")
    if path.is_file():
        if path.stat().st_size == 0:
            raise BagError(f"{path}: empty file, not a bag")
        if (path.parent / "metadata.yaml").exists():
            return path.parent
        if path.suffix in SINGLE_FILES:
            return path
        raise BagError(
            f"{path.parent / 'metadata.yaml'}: missing; a rosbag2 bag is a folder holding metadata.yaml "
            f"beside its storage file {path.name} (a bare .mcap or a ROS 1 .bag file is read on its own)"
        )
    if not (path / "metadata.yaml").exists():
        found = sorted(p.name for p in path.iterdir())[:10]
        singles = [name for name in found if Path(name).suffix in SINGLE_FILES]
        hint = f"; to read {singles[0]} on its own, give the file" if singles else ""
        raise BagError(
            f"{path / 'metadata.yaml'}: missing, so {path} is not a readable rosbag2 bag "
            f"(found: {found or 'nothing'}){hint}"
        )
    return path


def ros1_typestore() -> Any:
    """The rosbags type store for ROS 1 bags (their Header has a ``seq``; ROS 2's has none)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS1_NOETIC)


def _read_metadata(folder: Path) -> dict[str, Any]:
    meta_path = folder / "metadata.yaml"
    try:
        data = yaml.safe_load(meta_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise BagError(f"{meta_path}: unreadable metadata ({exc})") from exc
    info = data.get("rosbag2_bagfile_information") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        raise BagError(f"{meta_path}: not rosbag2 metadata (no rosbag2_bagfile_information)")
    return info


def _check_mcap(path: Path) -> bool:
    """Whether the MCAP file at ``path`` is finished (has its footer); BagError if it is no MCAP file."""
    with path.open("rb") as f:
        if f.read(8) != MCAP_MAGIC:
            raise BagError(f"{path}: not an MCAP file (bad magic bytes)")
    return _mcap_finished(path)


def _truncated(path: Path) -> BagError:
    return BagError(
        f"{path}: truncated MCAP (no footer at the end of its {path.stat().st_size} bytes): "
        "the file was cut short or never closed"
    )


def _mcap_finished(path: Path) -> bool:
    size = path.stat().st_size
    if size < 16:
        return False
    with path.open("rb") as f:
        f.seek(-8, 2)
        return f.read(8) == MCAP_MAGIC


def _decompress(data: bytes, compression: str, size: int) -> bytes:
    if compression == "":
        return data
    if compression == "zstd":
        try:
            from compression import zstd  # type: ignore[import-not-found]
        except ImportError:
            from backports import zstd  # type: ignore[import-not-found,no-redef]
        return bytes(zstd.decompress(data))
    if compression == "lz4":
        import lz4.frame

        return bytes(lz4.frame.decompress(data))
    raise ValueError(f"unsupported chunk compression {compression!r}")


def _string(buf: bytes, pos: int) -> tuple[str, int]:
    (n,) = struct.unpack_from("<I", buf, pos)
    return buf[pos + 4 : pos + 4 + n].decode("utf-8"), pos + 4 + n


def _records(buf: bytes, pos: int, out: _Salvaged, schemas: dict[int, str], top: bool) -> int:
    """Parse records from ``pos``; returns where the complete records end."""
    while pos + 9 <= len(buf):
        op = buf[pos]
        (size,) = struct.unpack_from("<Q", buf, pos + 1)
        body_start, end = pos + 9, pos + 9 + size
        if end > len(buf):
            break  # the record being written when the recording was killed
        if op == 0x03:  # schema
            (sid,) = struct.unpack_from("<H", buf, body_start)
            schemas[sid], _ = _string(buf, body_start + 2)
        elif op == 0x04:  # channel
            cid, sid = struct.unpack_from("<HH", buf, body_start)
            topic, _ = _string(buf, body_start + 4)
            out.channels[cid] = (topic, schemas.get(sid, ""))
        elif op == 0x05:  # message
            (cid,) = struct.unpack_from("<H", buf, body_start)
            (log_time,) = struct.unpack_from("<Q", buf, body_start + 6)
            out.messages.append((log_time, cid, bytes(buf[body_start + 22 : end])))
        elif op == 0x06 and top:  # chunk
            uncompressed = struct.unpack_from("<Q", buf, body_start + 16)[0]
            compression, p = _string(buf, body_start + 28)
            (csize,) = struct.unpack_from("<Q", buf, p)
            inner = _decompress(buf[p + 8 : p + 8 + csize], compression, uncompressed)
            _records(inner, 0, out, schemas, top=False)
        elif op == 0x02:  # footer: the file is finished after all
            break
        pos = end
    return pos


def salvage_mcap(path: Path) -> _Salvaged:
    """Every complete record of an MCAP file that has no footer (a killed recording)."""
    buf = path.read_bytes()
    if not buf.startswith(MCAP_MAGIC):
        raise BagError(f"{path}: not an MCAP file (bad magic bytes)")
    out = _Salvaged(total_bytes=len(buf))
    try:
        out.complete_bytes = _records(buf, len(MCAP_MAGIC), out, {}, top=True)
    except (struct.error, ValueError, UnicodeDecodeError) as exc:
        raise BagError(f"{path}: damaged MCAP record while recovering an unfinished recording ({exc})") from exc
    out.messages.sort(key=lambda m: m[0])
    return out


class BagReader:
    """``with BagReader(path) as bag:`` then :attr:`info` and :meth:`messages`.

    ``path`` is a bag folder (or its storage file), a bare ``.mcap`` file or a ROS 1 ``.bag`` file. Raises
    :class:`BagError` on entry for any bag
    that cannot be read.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.folder = _bag_folder(self.path)
        self._reader: Any = None
        self._salvaged: _Salvaged | None = None
        self._typestore: Any = None
        self.info: BagInfo | None = None
        self.undecodable: dict[str, int] = {}
        """topic -> messages skipped because they could not be decoded (see :attr:`undecodable_errors`)."""
        self.undecodable_errors: dict[str, str] = {}
        """topic -> the first decoding error."""

    def __enter__(self) -> BagReader:
        self._typestore = default_typestore()
        if self.folder.is_file():
            return self._open_single_file(self.folder)
        meta = _read_metadata(self.folder)
        storage = str(meta.get("storage_identifier", ""))
        files = [self.folder / str(p) for p in meta.get("relative_file_paths") or []]
        if not files:
            raise BagError(f"{self.folder / 'metadata.yaml'}: lists no storage file")
        for file in files:
            if not file.exists():
                raise BagError(f"{file}: storage file listed in metadata.yaml is missing")
            if file.stat().st_size == 0:
                raise BagError(f"{file}: empty file, no messages")
        custom = meta.get("custom_data") or {}
        in_progress = isinstance(custom, dict) and custom.get(RECORDING_KEY) == IN_PROGRESS
        if storage == "mcap":
            unfinished = [f for f in files if not _check_mcap(f)]
            if unfinished and not in_progress:
                raise _truncated(unfinished[0])
            if unfinished:
                return self._open_salvaged(files)
        notes = ("recording did not close: messages up to its last flush",) if in_progress else ()
        return self._open_any(self.folder, files[0], storage, in_progress, notes)

    def _open_single_file(self, file: Path) -> BagReader:
        """A bare ``.mcap`` or a ROS 1 ``.bag`` file (no ``metadata.yaml``)."""
        storage = SINGLE_FILES[file.suffix]
        if storage == "mcap" and not _check_mcap(file):
            raise _truncated(file)
        if storage == "ros1":
            self._typestore = ros1_typestore()
        note = "a ROS 1 bag" if storage == "ros1" else "a bare MCAP file (no metadata.yaml)"
        return self._open_any(file, file, storage, False, (note,))

    def _open_any(self, source: Path, named: Path, storage: str, recovered: bool, notes: tuple[str, ...]) -> BagReader:
        """Open ``source`` (a rosbag2 folder or a bag file) with ``AnyReader``; errors name ``named``."""
        from rosbags.highlevel import AnyReader, AnyReaderError

        try:
            self._reader = AnyReader([source], default_typestore=self._typestore)
            self._reader.open()
        except (AnyReaderError, OSError, ValueError, KeyError, struct.error) as exc:
            self._reader = None
            raise BagError(f"{named}: cannot read the bag: {exc}") from exc
        topics: dict[str, tuple[str, int]] = {}
        for conn in self._reader.connections:
            kind, n = topics.get(conn.topic, (conn.msgtype, 0))
            topics[conn.topic] = (kind, n + conn.msgcount)
        start, end = self._reader.start_time, self._reader.end_time
        self.info = BagInfo(source, storage, topics, start, end, recovered, notes)
        return self

    def _open_salvaged(self, files: list[Path]) -> BagReader:
        merged = _Salvaged()
        notes = []
        for file in files:
            part = salvage_mcap(file)
            offset = max(merged.channels, default=0) if len(files) > 1 else 0
            merged.channels.update({cid + offset: v for cid, v in part.channels.items()})
            merged.messages.extend((t, cid + offset, d) for t, cid, d in part.messages)
            lost = part.total_bytes - part.complete_bytes
            notes.append(
                f"{file.name}: unfinished recording recovered, {lost} trailing bytes of an incomplete chunk lost"
            )
        merged.messages.sort(key=lambda m: m[0])
        self._salvaged = merged
        counts: dict[str, tuple[str, int]] = {topic: (kind, 0) for topic, kind in merged.channels.values()}
        for _, cid, _ in merged.messages:
            topic, kind = merged.channels[cid]
            counts[topic] = (kind, counts[topic][1] + 1)
        times = [m[0] for m in merged.messages]
        self.info = BagInfo(
            self.folder, "mcap", counts, min(times, default=0), max(times, default=0), True, tuple(notes)
        )
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    def raw_messages(self, topics: Collection[str] | None = None) -> Iterator[tuple[str, str, int, bytes]]:
        """``(topic, message type, log time ns, CDR bytes)`` in log-time order."""
        if self._salvaged is not None:
            for t, cid, data in self._salvaged.messages:
                topic, kind = self._salvaged.channels[cid]
                if topics is None or topic in topics:
                    yield topic, kind, t, data
            return
        if self._reader is None:
            raise RuntimeError("use BagReader as a context manager")
        conns = [c for c in self._reader.connections if topics is None or c.topic in topics]
        if not conns:
            return
        try:
            for conn, t, raw in self._reader.messages(connections=conns):
                yield conn.topic, conn.msgtype, t, raw
        except Exception as exc:  # rosbags raises its own errors for damaged chunks
            raise BagError(f"{self.folder}: damaged data while reading messages: {exc}") from exc

    def deserialize(self, raw: bytes, msgtype: str) -> Any:
        try:
            if self._reader is not None:
                return self._reader.deserialize(raw, msgtype)
            return self._typestore.deserialize_cdr(raw, msgtype)
        except Exception as exc:
            raise BagError(f"{self.folder}: cannot decode a {msgtype} message: {exc}") from exc

    def messages(self, topics: Collection[str] | None = None) -> Iterator[tuple[str, str, int, Any]]:
        """``(topic, message type, log time ns, decoded message)`` in log-time order; a message that cannot
        be decoded is skipped and counted in :attr:`undecodable`."""
        for topic, kind, t, raw in self.raw_messages(topics):
            try:
                msg = self.deserialize(raw, kind)
            except BagError as exc:
                self.undecodable[topic] = self.undecodable.get(topic, 0) + 1
                self.undecodable_errors.setdefault(topic, str(exc))
                continue
            yield topic, kind, t, msg
