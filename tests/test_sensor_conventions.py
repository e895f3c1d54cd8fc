"""Camera images and point clouds as real drivers publish them, recorded into real bags and read back.

No recording from a real robot is committed, so this file makes its own: it encodes a known picture
and a known scene the way drivers do (``sensor_msgs/image_encodings`` names, image_transport's
CompressedImage formats, Velodyne-, PCL- and Ouster-style PointCloud2 layouts, organised clouds with
NaN or zero points where there was no return), writes them into rosbag2 bags (MCAP and sqlite3) with
the recorder's :class:`RecordingWriter`, reads them with :class:`BagReader` and checks what the
perception functions make of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from configs.robot import robot_profile
from nav.bags.reader import BagReader, default_typestore
from nav.bags.writer import RecordingWriter
from perception.camera import DEPTH_ENCODINGS, SUPPORTED_ENCODINGS, decode_compressed, decode_image
from perception.errors import ImageError, PointCloudError
from perception.lidar import beam_angles
from perception.pointcloud import CloudScanConfig, cloud_to_scan, points_from_cloud_buffer, points_from_cloud_message

pytestmark = pytest.mark.unit

TS = default_typestore()
T0 = 1_700_000_000_000_000_000

# --------------------------------------------------------------------------------------------------
# The known picture, and how drivers encode it
# --------------------------------------------------------------------------------------------------

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)
H, W = 16, 32


def picture() -> np.ndarray:
    """``H x W`` RGB: left half red on top and green below, right half blue (any flip or swap shows)."""
    rgb = np.zeros((H, W, 3), np.uint8)
    rgb[: H // 2, : W // 2] = RED
    rgb[H // 2 :, : W // 2] = GREEN
    rgb[:, W // 2 :] = BLUE
    return rgb


REGIONS = {  # region interiors (2 pixels clear of every edge: demosaicing and JPEG blur edges)
    "red": (np.s_[2 : H // 2 - 2, 2 : W // 2 - 2], RED),
    "green": (np.s_[H // 2 + 2 : H - 2, 2 : W // 2 - 2], GREEN),
    "blue": (np.s_[2 : H - 2, W // 2 + 2 : W - 2], BLUE),
}


def assert_regions(rgb: np.ndarray, tolerance: int) -> None:
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    for name, (region, colour) in REGIONS.items():
        worst = np.abs(rgb[region].astype(int) - np.array(colour)).max()
        assert worst <= tolerance, f"{name} region is off by {worst} (> {tolerance}): {rgb[region][0, 0]}"


def grey_picture() -> np.ndarray:
    """``H x W`` grey levels with the same three regions (200, 120, 50)."""
    grey = np.full((H, W), 50, np.uint8)
    grey[: H // 2, : W // 2] = 200
    grey[H // 2 :, : W // 2] = 120
    return grey


def to_yuv422(rgb: np.ndarray, order: str) -> bytes:
    """BT.601 limited-range YUV 4:2:2 as a V4L2 camera delivers it; ``order`` ``'uyvy'`` or ``'yuyv'``."""
    r, g, b = (rgb[..., c].astype(np.float64) for c in range(3))
    y = 16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255
    u = 128 + (-37.797 * r - 74.203 * g + 112.0 * b) / 255
    v = 128 + (112.0 * r - 93.786 * g - 18.214 * b) / 255
    u2 = (u[:, 0::2] + u[:, 1::2]) / 2  # one chroma pair per two pixels
    v2 = (v[:, 0::2] + v[:, 1::2]) / 2
    planes = {"y0": y[:, 0::2], "y1": y[:, 1::2], "u": u2, "v": v2}
    sequence = ("u", "y0", "v", "y1") if order == "uyvy" else ("y0", "u", "y1", "v")
    packed = np.stack([planes[k] for k in sequence], axis=-1)  # H x W/2 x 4
    return np.clip(np.rint(packed), 0, 255).astype(np.uint8).tobytes()


def to_bayer(rgb: np.ndarray, pattern: str) -> np.ndarray:
    """The mosaic a Bayer sensor with ``pattern`` (the top-left 2 x 2 block, ROS naming) records."""
    channel = {"r": 0, "g": 1, "b": 2}
    mosaic = np.zeros(rgb.shape[:2], np.uint8)
    for k, colour in enumerate(pattern):
        dy, dx = divmod(k, 2)
        mosaic[dy::2, dx::2] = rgb[dy::2, dx::2, channel[colour]]
    return mosaic


def pad_rows(rows: np.ndarray, padding: int) -> tuple[bytes, int]:
    """Rows of bytes with ``padding`` bytes after each (as drivers that align rows write them); and the step."""
    flat = rows.reshape(rows.shape[0], -1)
    padded = np.full((flat.shape[0], flat.shape[1] + padding), 0xAB, np.uint8)
    padded[:, : flat.shape[1]] = flat
    return padded.tobytes(), padded.shape[1]


# --------------------------------------------------------------------------------------------------
# The known scene: a 16-ring lidar 0.35 m above the floor with a wall 3 m ahead over the front half
# --------------------------------------------------------------------------------------------------

RINGS, COLUMNS = 16, 1024
WALL_RADIUS, WALL_TOP = 3.0, 2.0  # m, horizontal distance and height above the floor
PROFILE = robot_profile()
SENSOR_HEIGHT = PROFILE.lidar3d.mount.z


def scene() -> np.ndarray:
    """``RINGS x COLUMNS x 3`` points (float64) of an organised cloud; NaN where a ray hits nothing.

    Rings at -15 ... +15 degrees. A ray hits the floor or, over the front half (|azimuth| < 90 deg),
    a cylindrical wall of radius 3 m and 2 m high, whichever is nearer; rays that go up behind the
    robot hit nothing.
    """
    elevation = np.radians(np.linspace(-15.0, 15.0, RINGS))[:, None] * np.ones((1, COLUMNS))
    azimuth = np.radians(np.arange(COLUMNS) * 360.0 / COLUMNS - 180.0)[None, :] * np.ones((RINGS, 1))
    distance = np.full((RINGS, COLUMNS), np.inf)
    down = elevation < 0
    distance[down] = SENSOR_HEIGHT / np.tan(-elevation[down])  # floor
    wall_z = WALL_RADIUS * np.tan(elevation)
    wall = (np.abs(azimuth) < math.pi / 2) & (wall_z > -SENSOR_HEIGHT) & (wall_z < WALL_TOP - SENSOR_HEIGHT)
    distance[wall] = np.minimum(distance[wall], WALL_RADIUS)
    points = np.stack([np.cos(azimuth), np.sin(azimuth), np.tan(elevation)], axis=-1) * distance[..., None]
    points[~np.isfinite(distance)] = np.nan
    return points


def returns() -> np.ndarray:
    """The scene's points that are returns, in buffer (row-major) order, as float32."""
    p = scene().reshape(-1, 3).astype(np.float32)
    return p[np.isfinite(p).all(axis=1)]


FLOAT32, FLOAT64, UINT16, UINT32 = 7, 8, 4, 6
_NUMPY = {FLOAT32: "f4", FLOAT64: "f8", UINT16: "u2", UINT32: "u4"}


@dataclass(frozen=True)
class CloudLayout:
    """A PointCloud2 layout as a driver writes it."""

    fields: tuple[tuple[str, int, int], ...]
    """(name, offset, datatype) of each PointField."""
    point_step: int
    organised: bool = True
    bigendian: bool = False
    row_padding: int = 0
    no_return: str = "nan"
    """How a ray without a return is written in an organised cloud: ``nan`` (Velodyne) or ``zero`` (Ouster)."""

    def pack(self, points: np.ndarray) -> tuple[bytes, int, int, int]:
        """``(data, width, height, row_step)`` of ``RINGS x COLUMNS x 3`` points (NaN: no return)."""
        if not self.organised:
            points = points.reshape(-1, 3)
            points = points[np.isfinite(points).all(axis=1)][None, :, :]
        elif self.no_return == "zero":
            points = np.nan_to_num(points, nan=0.0)
        height, width = points.shape[:2]
        order = ">" if self.bigendian else "<"
        dtype = np.dtype(
            {
                "names": [f[0] for f in self.fields],
                "formats": [order + _NUMPY[f[2]] for f in self.fields],
                "offsets": [f[1] for f in self.fields],
                "itemsize": self.point_step,
            }
        )
        cloud = np.zeros((height, width), dtype)
        for axis, values in zip("xyz", np.moveaxis(points, -1, 0), strict=True):
            cloud[axis] = values
        names = set(dtype.names or ())
        if "intensity" in names:
            cloud["intensity"] = 37.0
        if "ring" in names:
            cloud["ring"] = np.arange(height)[:, None] if self.organised else 0
        data, row_step = pad_rows(cloud.view(np.uint8).reshape(height, -1), self.row_padding)
        return data, width, height, row_step


XYZ32 = (("x", 0, FLOAT32), ("y", 4, FLOAT32), ("z", 8, FLOAT32))
CLOUD_LAYOUTS = {
    # velodyne_pointcloud (ROS 2): x y z intensity ring time, packed
    "velodyne_xyzirt_packed": CloudLayout((*XYZ32, ("intensity", 12, 7), ("ring", 16, UINT16), ("time", 18, 7)), 22),
    # the same point as PCL aligns it (PointXYZIRT with EIGEN_ALIGN16)
    "pcl_xyzirt_aligned": CloudLayout((*XYZ32, ("intensity", 16, 7), ("ring", 20, UINT16), ("time", 24, 7)), 32),
    # ouster-ros: zeros where there is no return
    "ouster": CloudLayout(
        (
            *XYZ32,
            ("intensity", 16, FLOAT32),
            ("t", 20, UINT32),
            ("reflectivity", 24, UINT16),
            ("ring", 26, UINT16),
            ("ambient", 28, UINT16),
            ("range", 32, UINT32),
        ),
        48,
        no_return="zero",
    ),
    "unorganised": CloudLayout((*XYZ32, ("intensity", 12, 7), ("ring", 16, UINT16), ("time", 18, 7)), 22, False),
    "float64_bigendian_padded_rows": CloudLayout(
        (("x", 0, FLOAT64), ("y", 8, FLOAT64), ("z", 16, FLOAT64), ("intensity", 24, FLOAT32)),
        28,
        bigendian=True,
        row_padding=12,
    ),
}


# --------------------------------------------------------------------------------------------------
# The recording
# --------------------------------------------------------------------------------------------------


def _header(t_ns: int, frame: str) -> Any:
    Time = TS.types["builtin_interfaces/msg/Time"]
    return TS.types["std_msgs/msg/Header"](stamp=Time(sec=t_ns // 10**9, nanosec=t_ns % 10**9), frame_id=frame)


def image(encoding: str, data: bytes, step: int, bigendian: bool = False, height: int = H, width: int = W) -> Any:
    return TS.types["sensor_msgs/msg/Image"](
        header=_header(T0, "camera"),
        height=height,
        width=width,
        encoding=encoding,
        is_bigendian=int(bigendian),
        step=step,
        data=np.frombuffer(data, np.uint8),
    )


def compressed(fmt: str, data: bytes) -> Any:
    return TS.types["sensor_msgs/msg/CompressedImage"](
        header=_header(T0, "camera"), format=fmt, data=np.frombuffer(data, np.uint8)
    )


def cloud(layout: CloudLayout) -> Any:
    data, width, height, row_step = layout.pack(scene())
    PointField = TS.types["sensor_msgs/msg/PointField"]
    return TS.types["sensor_msgs/msg/PointCloud2"](
        header=_header(T0, "lidar3d"),
        height=height,
        width=width,
        fields=[PointField(name=n, offset=o, datatype=d, count=1) for n, o, d in layout.fields],
        is_bigendian=layout.bigendian,
        point_step=layout.point_step,
        row_step=row_step,
        data=np.frombuffer(data, np.uint8),
        is_dense=not layout.organised,
    )


def _jpeg(bgr_or_grey: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".jpg", bgr_or_grey, [cv2.IMWRITE_JPEG_QUALITY, 90])
    assert ok
    return data.tobytes()


def _png(bgr: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", bgr)
    assert ok
    return data.tobytes()


def recorded_images() -> dict[str, Any]:
    """topic -> message, each the known picture as one camera driver would publish it."""
    rgb, grey = picture(), grey_picture()
    bgr_padded, bgr_step = pad_rows(rgb[..., ::-1], 32)  # rows aligned by the driver
    grey16 = grey.astype(np.uint16) * 257
    rgb16 = rgb.astype(np.uint16) * 257
    depth = np.full((H, W), 1500, np.uint16)  # 1.5 m, in millimetres (REP 118)
    compressed_depth = b"\x00" * 12 + _png(depth)  # compressed_depth_image_transport: a 12-byte header, then PNG
    return {
        "/camera/bgr8": image("bgr8", bgr_padded, bgr_step),
        "/camera/yuv422": image("yuv422", to_yuv422(rgb, "uyvy"), 2 * W),
        "/camera/yuv422_yuy2": image("yuv422_yuy2", to_yuv422(rgb, "yuyv"), 2 * W),
        "/camera/mono16_le": image("mono16", grey16.astype("<u2").tobytes(), 2 * W, bigendian=False),
        "/camera/mono16_be": image("mono16", grey16.astype(">u2").tobytes(), 2 * W, bigendian=True),
        "/camera/rgb16_be": image("rgb16", rgb16.astype(">u2").tobytes(), 6 * W, bigendian=True),
        "/camera/bayer_rggb8": image("bayer_rggb8", to_bayer(rgb, "rggb").tobytes(), W),
        "/camera/image_raw/compressed": compressed("rgb8; jpeg compressed bgr8", _jpeg(rgb[..., ::-1])),
        "/camera/mono/compressed": compressed("mono8; jpeg compressed mono8", _jpeg(grey)),
        "/camera/png/compressed": compressed("bgr8; png compressed bgr8", _png(rgb[..., ::-1])),
        "/camera/depth/image_raw": image("16UC1", depth.astype("<u2").tobytes(), 2 * W),
        "/camera/depth/image_raw/compressedDepth": compressed("16UC1; compressedDepth png", compressed_depth),
    }


def record(path: Path, storage: str) -> Path:
    writer = RecordingWriter(path, storage, flush_s=3600.0)
    messages = {topic: ("sensor_msgs/msg/Image", msg) for topic, msg in recorded_images().items()}
    messages.update({f"/points/{name}": ("sensor_msgs/msg/PointCloud2", cloud(c)) for name, c in CLOUD_LAYOUTS.items()})
    for k, (topic, (msgtype, msg)) in enumerate(messages.items()):
        if topic.endswith(("compressed", "compressedDepth")):
            msgtype = "sensor_msgs/msg/CompressedImage"
        writer.add_topic(topic, msgtype)
        writer.write(topic, T0 + k * 1000, TS.serialize_cdr(msg, msgtype))
    writer.close()
    return path


@pytest.fixture(scope="module", params=["mcap", "sqlite3"])
def recording(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """topic -> message as :class:`BagReader` decodes it from a bag written in each storage format."""
    path = record(tmp_path_factory.mktemp(request.param) / "sensors", request.param)
    with BagReader(path) as bag:
        assert bag.info is not None and bag.info.storage == request.param
        read = {topic: msg for topic, _, _, msg in bag.messages()}
        assert not bag.undecodable
    return read


def from_bag_image(msg: Any) -> np.ndarray:
    """What the agent node and replay evaluation do with a recorded Image."""
    return decode_image(
        np.asarray(msg.data, np.uint8),
        msg.encoding,
        msg.width,
        msg.height,
        msg.step,
        is_bigendian=bool(msg.is_bigendian),
    )


# --------------------------------------------------------------------------------------------------
# Raw images from a bag
# --------------------------------------------------------------------------------------------------


def test_recorded_bgr8_with_padded_rows_decodes_to_the_exact_picture(recording: dict[str, Any]) -> None:
    msg = recording["/camera/bgr8"]
    assert msg.step > 3 * msg.width  # the padding survived the bag
    np.testing.assert_array_equal(from_bag_image(msg), picture())


@pytest.mark.parametrize("topic", ["/camera/yuv422", "/camera/yuv422_yuy2"])
def test_recorded_yuv422_in_both_byte_orders_decodes_to_the_picture_colours(
    recording: dict[str, Any], topic: str
) -> None:
    assert_regions(from_bag_image(recording[topic]), tolerance=6)


def test_yuv422_is_uyvy_and_yuv422_yuy2_is_yuyv_so_swapping_them_shows() -> None:
    wrong = decode_image(to_yuv422(picture(), "yuyv"), "yuv422", W, H)
    with pytest.raises(AssertionError):
        assert_regions(wrong, tolerance=6)


@pytest.mark.parametrize("topic", ["/camera/mono16_le", "/camera/mono16_be"])
def test_recorded_mono16_in_either_byte_order_decodes_to_the_grey_levels(recording: dict[str, Any], topic: str) -> None:
    out = from_bag_image(recording[topic])
    np.testing.assert_array_equal(out, np.repeat(grey_picture()[..., None], 3, axis=2))


def test_recorded_big_endian_rgb16_decodes_to_the_exact_picture(recording: dict[str, Any]) -> None:
    np.testing.assert_array_equal(from_bag_image(recording["/camera/rgb16_be"]), picture())


def test_recorded_bayer_rggb8_is_demosaiced_to_the_picture_colours(recording: dict[str, Any]) -> None:
    assert_regions(from_bag_image(recording["/camera/bayer_rggb8"]), tolerance=0)


def test_recorded_depth_image_is_refused_as_depth_not_colour(recording: dict[str, Any]) -> None:
    with pytest.raises(ImageError, match=r"'16UC1' is a depth image.*not a colour image"):
        from_bag_image(recording["/camera/depth/image_raw"])


# --------------------------------------------------------------------------------------------------
# Raw image conventions (no bag needed)
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("pattern", ["rggb", "bggr", "gbrg", "grbg"])
def test_each_bayer_pattern_is_demosaiced_with_the_opencv_code_of_the_same_layout(pattern: str) -> None:
    """OpenCV names Bayer patterns differently from ROS; a wrong mapping swaps red and blue or mixes green in."""
    mosaic = to_bayer(picture(), pattern)
    assert_regions(decode_image(mosaic.tobytes(), f"bayer_{pattern}8", W, H), tolerance=0)
    assert_regions(decode_image(mosaic, f"bayer_{pattern}8", None, None), tolerance=0)  # a shaped array too


@pytest.mark.parametrize("pattern", ["rggb", "gbrg"])
def test_bayer16_uses_the_message_byte_order(pattern: str) -> None:
    mosaic16 = to_bayer(picture(), pattern).astype(np.uint16) * 256
    out = decode_image(mosaic16.astype(">u2").tobytes(), f"bayer_{pattern}16", W, H, is_bigendian=True)
    assert_regions(out, tolerance=0)


@pytest.mark.parametrize(("encoding", "bigendian"), [("bgr16", False), ("rgba16", True), ("bgra16", False)])
def test_16_bit_colour_encodings_keep_the_high_byte_and_drop_alpha(encoding: str, bigendian: bool) -> None:
    low = np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint16)
    rgb16 = picture().astype(np.uint16) * 256 + low  # the low bytes must not matter
    channels = {"bgr16": rgb16[..., ::-1], "rgba16": np.dstack([rgb16, np.full((H, W), 9, np.uint16)])}
    channels["bgra16"] = np.dstack([rgb16[..., ::-1], np.full((H, W), 9, np.uint16)])
    samples = channels[encoding]
    data = samples.astype(">u2" if bigendian else "<u2").tobytes()
    np.testing.assert_array_equal(decode_image(data, encoding, W, H, is_bigendian=bigendian), picture())
    np.testing.assert_array_equal(decode_image(samples, encoding, None, None), picture())  # a uint16 array


def test_mono16_read_in_the_wrong_byte_order_is_not_the_picture() -> None:
    data = (grey_picture().astype(np.uint16) * 257 + 1).astype(">u2").tobytes()
    wrong = decode_image(data, "mono16", W, H, is_bigendian=False)
    assert not np.array_equal(wrong[..., 0], grey_picture())


def test_mono16_with_padded_rows_skips_the_padding() -> None:
    data, step = pad_rows((grey_picture().astype(np.uint16) * 256).astype("<u2").view(np.uint8), 6)
    out = decode_image(data, "mono16", W, H, step)
    np.testing.assert_array_equal(out[..., 1], grey_picture())


@pytest.mark.parametrize(
    ("encoding", "as_read"),
    [("8UC1", "mono8"), ("8UC3", "bgr8"), ("8UC4", "bgra8")],
)
def test_opencv_8_bit_types_read_as_cv_bridge_reads_them(encoding: str, as_read: str) -> None:
    rng = np.random.default_rng(0)
    channels = {"mono8": 1, "bgr8": 3, "bgra8": 4}[as_read]
    data = rng.integers(0, 256, H * W * channels, dtype=np.uint8).tobytes()
    np.testing.assert_array_equal(decode_image(data, encoding, W, H), decode_image(data, as_read, W, H))


def test_newer_yuv_names_uyvy_and_yuyv_are_the_same_as_yuv422_and_yuv422_yuy2() -> None:
    uyvy, yuyv = to_yuv422(picture(), "uyvy"), to_yuv422(picture(), "yuyv")
    np.testing.assert_array_equal(decode_image(uyvy, "uyvy", W, H), decode_image(uyvy, "yuv422", W, H))
    np.testing.assert_array_equal(decode_image(yuyv, "yuyv", W, H), decode_image(yuyv, "yuv422_yuy2", W, H))


def test_encoding_names_follow_image_encodings_and_match_case_insensitively() -> None:
    for name in ("rgb8", "bgr8", "mono8", "mono16", "rgb16", "bgra16", "yuv422", "yuv422_yuy2", "bayer_grbg8", "8UC3"):
        assert name in SUPPORTED_ENCODINGS
    assert DEPTH_ENCODINGS == ("16UC1", "32FC1")
    data = picture()[..., ::-1].tobytes()
    np.testing.assert_array_equal(decode_image(data, "BGR8", W, H), picture())


@pytest.mark.parametrize(("encoding", "bytes_per_pixel"), [("16UC1", 2), ("32FC1", 4), ("32fc1", 4)])
def test_depth_encodings_are_refused_as_depth_not_colour(encoding: str, bytes_per_pixel: int) -> None:
    with pytest.raises(ImageError) as err:
        decode_image(b"\x00" * H * W * bytes_per_pixel, encoding, W, H)
    message = str(err.value)
    assert repr(encoding) in message and "depth image" in message and "not a colour image" in message


@pytest.mark.parametrize("encoding", ["nv21", "32FC3", "jpeg", ""])
def test_unsupported_encodings_are_named_with_the_supported_list(encoding: str) -> None:
    with pytest.raises(ImageError, match=rf"unsupported image encoding {encoding!r}.*supported: rgb8, bgr8"):
        decode_image(b"\x00" * 64, encoding, 4, 4)


@pytest.mark.parametrize(
    ("encoding", "row_bytes"), [("bgr8", 3 * W), ("yuv422", 2 * W), ("mono16", 2 * W), ("bayer_bggr8", W)]
)
def test_a_truncated_buffer_names_the_expected_and_actual_sizes(encoding: str, row_bytes: int) -> None:
    expected = row_bytes * H
    with pytest.raises(
        ImageError, match=rf"{encoding} image buffer of {W}x{H}.*must be {expected} bytes.*got {expected - 7}"
    ):
        decode_image(b"\x00" * (expected - 7), encoding, W, H)


def test_a_step_shorter_than_a_16_bit_row_is_an_error() -> None:
    with pytest.raises(ImageError, match=rf"step {W} is shorter than one row of {W} mono16 pixels \({2 * W} bytes\)"):
        decode_image(b"\x00" * W * H, "mono16", W, H, W)


def test_yuv422_needs_an_even_width() -> None:
    with pytest.raises(ImageError, match="yuv422 pairs pixels.*width must be even, got 3"):
        decode_image(b"\x80" * 2 * 3 * 2, "yuv422", 3, 2)


def test_a_16_bit_array_of_the_wrong_dtype_is_an_error() -> None:
    with pytest.raises(ImageError, match="a mono16 image array must be uint16, got dtype uint8"):
        decode_image(np.zeros((H, W), np.uint8), "mono16", None, None)


# --------------------------------------------------------------------------------------------------
# Compressed images
# --------------------------------------------------------------------------------------------------


def test_recorded_image_transport_jpeg_decodes_to_the_picture_colours(recording: dict[str, Any]) -> None:
    msg = recording["/camera/image_raw/compressed"]
    assert_regions(decode_compressed(np.asarray(msg.data, np.uint8), msg.format), tolerance=12)


def test_recorded_grey_jpeg_comes_out_as_three_channel_rgb(recording: dict[str, Any]) -> None:
    msg = recording["/camera/mono/compressed"]
    out = decode_compressed(np.asarray(msg.data, np.uint8), msg.format)
    assert out.shape == (H, W, 3)
    np.testing.assert_array_equal(out[..., 0], out[..., 2])
    assert np.abs(out[..., 1].astype(int) - grey_picture()).max() <= 8


def test_recorded_image_transport_png_decodes_to_the_exact_picture(recording: dict[str, Any]) -> None:
    msg = recording["/camera/png/compressed"]
    np.testing.assert_array_equal(decode_compressed(np.asarray(msg.data, np.uint8), msg.format), picture())


def test_recorded_compressed_depth_is_refused_as_depth(recording: dict[str, Any]) -> None:
    msg = recording["/camera/depth/image_raw/compressedDepth"]
    with pytest.raises(ImageError, match=r"'16UC1; compressedDepth png'.*depth image.*not a colour image"):
        decode_compressed(np.asarray(msg.data, np.uint8), msg.format)


@pytest.mark.parametrize(
    ("fmt", "encode"),
    [
        ("jpeg", lambda bgr: _jpeg(bgr)),
        ("bgr8; jpeg compressed bgr8", lambda bgr: _jpeg(bgr)),
        ("rgb8; jpeg compressed bgr8", lambda bgr: _jpeg(bgr)),
        ("png", lambda bgr: _png(bgr)),
        ("bgr8; png compressed bgr8", lambda bgr: _png(bgr)),
        ("rgba8; png compressed bgra8", lambda bgr: _png(np.dstack([bgr, np.full((H, W), 128, np.uint8)]))),
        ("", lambda bgr: _png(bgr)),  # older drivers leave the format empty: read from the signature
    ],
)
def test_image_transport_format_strings_are_understood(fmt: str, encode: Callable[[np.ndarray], bytes]) -> None:
    out = decode_compressed(encode(picture()[..., ::-1]), fmt)
    assert_regions(out, tolerance=0 if "png" in fmt or not fmt else 12)


def test_mono16_png_keeps_the_high_byte_as_raw_mono16_does() -> None:
    grey16 = grey_picture().astype(np.uint16) * 257
    out = decode_compressed(_png(grey16), "mono16; png compressed mono16")
    np.testing.assert_array_equal(out, decode_image(grey16, "mono16", None, None))


@pytest.mark.parametrize("fmt", ["16UC1; compressedDepth png", "32FC1; compressedDepth", "16UC1; compressedDepth rvl"])
def test_compressed_depth_formats_are_refused_as_depth(fmt: str) -> None:
    with pytest.raises(ImageError, match="depth image"):
        decode_compressed(_png(np.zeros((4, 4), np.uint16)), fmt)


def test_a_truncated_jpeg_is_an_error_naming_the_problem() -> None:
    data = _jpeg(picture()[..., ::-1])
    with pytest.raises(ImageError, match=r"cannot decode \d+ bytes of jpeg: corrupt or truncated"):
        decode_compressed(data[:40], "rgb8; jpeg compressed bgr8")


def test_a_png_labelled_jpeg_is_an_error_naming_both() -> None:
    with pytest.raises(ImageError, match=r"not a jpeg image: it starts with b'\\x89PNG"):
        decode_compressed(_png(picture()), "jpeg")


# --------------------------------------------------------------------------------------------------
# Point clouds
# --------------------------------------------------------------------------------------------------


def expected_scan(config: CloudScanConfig) -> tuple[np.ndarray, np.ndarray]:
    """Beams well inside the wall's span, and beams well behind it (where only floor and sky are)."""
    angles = beam_angles(config.beams)
    return np.abs(angles) < math.radians(85), np.abs(angles) > math.radians(95)


@pytest.mark.parametrize("layout", sorted(CLOUD_LAYOUTS))
def test_recorded_clouds_give_the_returns_and_drop_no_return_points(recording: dict[str, Any], layout: str) -> None:
    msg = recording[f"/points/{layout}"]
    organised = CLOUD_LAYOUTS[layout].organised
    assert (msg.height, msg.width) == ((RINGS, COLUMNS) if organised else (1, len(returns())))
    assert msg.is_dense is not organised
    points = points_from_cloud_message(msg)
    assert points.dtype == np.float32
    assert len(points) < RINGS * COLUMNS  # the scene has rays that hit nothing
    np.testing.assert_allclose(points, returns(), atol=1e-6)


@pytest.mark.parametrize("layout", sorted(CLOUD_LAYOUTS))
def test_recorded_clouds_give_the_wall_ahead_and_free_space_behind(recording: dict[str, Any], layout: str) -> None:
    config = CloudScanConfig.from_profile()
    scan = cloud_to_scan(points_from_cloud_message(recording[f"/points/{layout}"]), config)
    wall, behind = expected_scan(config)
    assert scan.shape == (PROFILE.lidar.beams,)
    np.testing.assert_allclose(scan[wall], WALL_RADIUS, atol=0.01)  # every beam: no gaps between voxels
    np.testing.assert_allclose(scan[behind], config.range_max)  # the floor is not an obstacle


def test_a_near_wall_leaves_no_beam_free() -> None:
    """A voxel (5 cm) is wider than a beam (1 deg) this close: the projection must use every point."""
    azimuth = np.radians(np.arange(2048) * 360.0 / 2048)
    heights = np.linspace(-0.3, 0.6, 10)
    wall = np.array([[0.8 * math.cos(a), 0.8 * math.sin(a), z] for a in azimuth for z in heights])
    floor = np.column_stack([np.random.default_rng(0).uniform(-0.7, 0.7, (3000, 2)), np.full(3000, -SENSOR_HEIGHT)])
    scan = cloud_to_scan(np.vstack([wall, floor]), CloudScanConfig.from_profile())
    np.testing.assert_allclose(scan, 0.8, atol=0.01)


def test_an_organised_cloud_with_no_return_at_all_is_an_error_naming_it() -> None:
    layout = CLOUD_LAYOUTS["ouster"]
    data, width, height, row_step = layout.pack(np.full((2, 8, 3), np.nan))
    with pytest.raises(PointCloudError, match=r"16 points and all are NaN or \(0, 0, 0\): no return"):
        points_from_cloud_buffer(data, layout.fields, layout.point_step, width, height, False, row_step)


def test_a_truncated_cloud_buffer_names_the_expected_and_actual_sizes() -> None:
    layout = CLOUD_LAYOUTS["velodyne_xyzirt_packed"]
    data, width, height, row_step = layout.pack(scene())
    expected = RINGS * COLUMNS * 22
    with pytest.raises(PointCloudError, match=rf"must be {expected} bytes \(row_step {row_step} x height 16\), got"):
        points_from_cloud_buffer(data[:-22], layout.fields, 22, width, height, False, row_step)


def test_cloud_scan_config_from_profile_takes_the_2d_lidar_layout_and_the_3d_lidar_height() -> None:
    config = CloudScanConfig.from_profile(PROFILE)
    assert config.beams == PROFILE.lidar.beams
    assert config.range_min == PROFILE.lidar.range_min
    assert config.range_max == PROFILE.lidar.range_max
    assert config.sensor_height == PROFILE.lidar3d.mount.z
    assert CloudScanConfig.from_profile() == config  # default: the process's profile
