"""Specification of ``perception``: the pre-processing shared by training and the robot."""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Callable

import cv2
import numpy as np
import pytest

from perception import (
    CloudField,
    CloudScanConfig,
    ImageError,
    InstructionError,
    PerceptionError,
    PointCloudError,
    ScanError,
    SentenceEncoder,
    beam_angles,
    cloud_to_scan,
    cloud_to_scan_with_mask,
    decode_compressed,
    decode_image,
    normalise_instruction,
    points_from_cloud_buffer,
    points_from_cloud_message,
    prepare_image,
    prepare_images,
    prepare_scan,
    resample_scan,
    resample_scan_with_mask,
)
from perception.camera import IMAGENET_MEAN, IMAGENET_STD
from perception.lidar import MESSAGE_DEFINITION, ScanConventions
from perception.pointcloud import estimate_ground
from perception.threads import torch_threads

pytestmark = pytest.mark.unit

# --------------------------------------------------------------------------------------------------
# Camera
# --------------------------------------------------------------------------------------------------

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


@pytest.fixture
def rgb() -> np.ndarray:
    """A 2 x 3 RGB image whose pixels are all different, so any channel or axis swap shows."""
    return np.array(
        [[RED, GREEN, BLUE], [WHITE, (10, 20, 30), (200, 100, 50)]],
        dtype=np.uint8,
    )


def test_rgb8_buffer_decodes_unchanged(rgb: np.ndarray) -> None:
    out = decode_image(rgb.tobytes(), "rgb8", width=3, height=2)
    assert out.dtype == np.uint8
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out, rgb)


def test_bgr8_buffer_is_returned_in_rgb_order(rgb: np.ndarray) -> None:
    bgr_bytes = rgb[..., ::-1].tobytes()
    out = decode_image(bgr_bytes, "bgr8", width=3, height=2)
    np.testing.assert_array_equal(out, rgb)
    assert tuple(out[0, 0]) == RED  # the first pixel is red, not blue


@pytest.mark.parametrize(
    ("encoding", "to_buffer"),
    [
        ("rgba8", lambda im: np.dstack([im, np.full(im.shape[:2], 7, np.uint8)])),
        ("bgra8", lambda im: np.dstack([im[..., ::-1], np.full(im.shape[:2], 7, np.uint8)])),
    ],
)
def test_alpha_encodings_drop_alpha(
    rgb: np.ndarray, encoding: str, to_buffer: Callable[[np.ndarray], np.ndarray]
) -> None:
    out = decode_image(to_buffer(rgb).tobytes(), encoding, width=3, height=2)
    np.testing.assert_array_equal(out, rgb)


def test_mono8_is_replicated_to_three_channels() -> None:
    grey = np.array([[0, 128], [200, 255]], dtype=np.uint8)
    out = decode_image(grey.tobytes(), "mono8", width=2, height=2)
    assert out.shape == (2, 2, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c], grey)


def test_row_step_padding_is_skipped(rgb: np.ndarray) -> None:
    step = 3 * 3 + 4  # 4 bytes of padding per row
    padded = np.full((2, step), 0xEE, dtype=np.uint8)
    padded[:, :9] = rgb.reshape(2, 9)
    out = decode_image(padded.tobytes(), "rgb8", width=3, height=2, step=step)
    np.testing.assert_array_equal(out, rgb)


def test_decoded_image_is_a_writable_copy(rgb: np.ndarray) -> None:
    data = rgb.tobytes()
    out = decode_image(data, "rgb8", width=3, height=2)
    out[0, 0] = 0  # must not raise (read-only view of the message) nor change the message
    assert data == rgb.tobytes()


def test_shaped_array_is_accepted_and_checked(rgb: np.ndarray) -> None:
    np.testing.assert_array_equal(decode_image(rgb[..., ::-1], "bgr8", None, None), rgb)
    with pytest.raises(ImageError, match="4 channels"):
        decode_image(np.zeros((2, 3, 4), np.uint8), "rgb8", None, None)


def test_wrong_buffer_size_names_expected_and_actual(rgb: np.ndarray) -> None:
    with pytest.raises(ImageError) as err:
        decode_image(rgb.tobytes()[:-1], "rgb8", width=3, height=2)
    assert "18" in str(err.value)  # expected 3 * 2 * 3 bytes
    assert "17" in str(err.value)  # got one short
    with pytest.raises(ImageError, match=r"must be 26 bytes.*got 18"):
        decode_image(rgb.tobytes(), "rgb8", width=3, height=2, step=13)


def test_step_shorter_than_a_row_is_an_error(rgb: np.ndarray) -> None:
    with pytest.raises(ImageError, match="step 8"):
        decode_image(rgb.tobytes(), "rgb8", width=3, height=2, step=8)


def test_unsupported_encoding_is_named_with_the_supported_list(rgb: np.ndarray) -> None:
    with pytest.raises(ImageError) as err:
        decode_image(rgb.tobytes(), "16UC1", width=3, height=2)
    message = str(err.value)
    assert "16UC1" in message
    assert "rgb8" in message
    assert "bgr8" in message
    assert "mono8" in message
    assert isinstance(err.value, PerceptionError)
    assert isinstance(err.value, ValueError)


def _smooth_image(h: int = 32, w: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    return np.dstack([xx * 255 // w, yy * 255 // h, np.full((h, w), 90)]).astype(np.uint8)


def test_png_roundtrip_is_exact() -> None:
    image = _smooth_image()
    ok, png = cv2.imencode(".png", image[..., ::-1])  # OpenCV (and image_transport) write BGR
    assert ok
    np.testing.assert_array_equal(decode_compressed(png.tobytes(), "png"), image)


def test_jpeg_roundtrip_is_close_and_rgb() -> None:
    image = _smooth_image()
    image[:8, :8] = RED
    ok, jpg = cv2.imencode(".jpg", image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    out = decode_compressed(jpg.tobytes(), "rgb8; jpeg compressed bgr8")
    assert out.shape == image.shape
    assert np.abs(out.astype(int) - image.astype(int)).mean() < 3
    r, g, b = out[3, 3]
    assert r > 200 and g < 60 and b < 60  # still red: channels not swapped


def test_corrupt_or_truncated_compressed_bytes_are_errors() -> None:
    ok, jpg = cv2.imencode(".jpg", _smooth_image())
    assert ok
    data = jpg.tobytes()
    with pytest.raises(ImageError, match="corrupt or truncated"):
        decode_compressed(data[: len(data) // 2], "jpeg")
    with pytest.raises(ImageError, match="corrupt or truncated"):
        decode_compressed(data[:3] + b"\x00" * 200, "jpeg")
    with pytest.raises(ImageError, match="not a jpeg"):
        decode_compressed(b"definitely not an image", "jpeg")
    with pytest.raises(ImageError, match="empty"):
        decode_compressed(b"", "png")
    with pytest.raises(ImageError, match="unsupported compressed image format 'webp'"):
        decode_compressed(data, "webp")


def test_prepare_image_is_chw_float32_imagenet_normalised() -> None:
    image = np.zeros((4, 6, 3), np.uint8)
    image[..., 0] = 255  # pure red
    out = prepare_image(image, (4, 6))
    assert out.dtype == np.float32
    assert out.shape == (3, 4, 6)  # size is (height, width)
    expected = [
        (1.0 - IMAGENET_MEAN[0]) / IMAGENET_STD[0],
        -IMAGENET_MEAN[1] / IMAGENET_STD[1],
        -IMAGENET_MEAN[2] / IMAGENET_STD[2],
    ]
    np.testing.assert_allclose(out[:, 0, 0], expected, rtol=1e-6)


def test_prepare_image_resizes_to_height_width_and_batches_agree() -> None:
    image = _smooth_image(48, 64)
    out = prepare_image(image, (24, 16))
    assert out.shape == (3, 24, 16)
    # Area averaging of a smooth ramp keeps the mean (within rounding).
    np.testing.assert_allclose(out.mean(axis=(1, 2)), prepare_image(image, (48, 64)).mean(axis=(1, 2)), atol=0.02)
    batch = prepare_images(np.stack([image, image[::-1]]), (24, 16))
    assert batch.shape == (2, 3, 24, 16)
    np.testing.assert_array_equal(batch[0], out)


def test_prepare_image_rejects_non_uint8_or_wrong_shape() -> None:
    with pytest.raises(ImageError, match="uint8"):
        prepare_image(np.zeros((4, 4, 3), np.float32), (2, 2))
    with pytest.raises(ImageError, match="H x W x 3"):
        prepare_image(np.zeros((4, 4), np.uint8), (2, 2))


# --------------------------------------------------------------------------------------------------
# 2D lidar
# --------------------------------------------------------------------------------------------------


def _beam_at(angle: float, beams: int) -> int:
    return int(np.argmin(np.abs(np.angle(np.exp(1j * (beam_angles(beams) - angle))))))


def test_beam_layout_starts_at_minus_pi_counter_clockwise() -> None:
    angles = beam_angles(4)
    np.testing.assert_allclose(angles, [-math.pi, -math.pi / 2, 0.0, math.pi / 2])


def test_full_scan_resampled_to_fewer_beams_keeps_a_wall_at_its_angle_and_distance() -> None:
    n = 720
    inc = 2 * math.pi / n
    angles = -math.pi + np.arange(n) * inc
    ranges = np.full(n, 6.0)
    wall = np.abs(angles - math.pi / 2) < math.radians(5)  # a wall 1.5 m to the left (+y)
    ranges[wall] = 1.5
    out = resample_scan(ranges, -math.pi, inc, 0.1, 10.0, beams=360, out_range_max=8.0)
    assert out.dtype == np.float32
    assert out.shape == (360,)
    left = _beam_at(math.pi / 2, 360)
    assert out[left] == pytest.approx(1.5)
    assert out[left + 4] == pytest.approx(1.5) and out[left + 7] == pytest.approx(6.0)
    assert out[_beam_at(0.0, 360)] == pytest.approx(6.0)  # straight ahead is clear
    assert out[_beam_at(-math.pi / 2, 360)] == pytest.approx(6.0)  # not mirrored to the right


def test_scan_in_the_model_layout_maps_one_to_one() -> None:
    ranges = np.linspace(0.5, 7.5, 360)
    scan = resample_scan_with_mask(ranges, -math.pi, 2 * math.pi / 360, 0.1, 10.0, beams=360, out_range_max=8.0)
    assert scan.valid.all()
    np.testing.assert_allclose(scan.ranges, ranges, rtol=1e-6)


def test_several_rays_in_one_beam_keep_the_minimum() -> None:
    # 8 rays around 0 rad, one of them close: the beam straight ahead must see it.
    inc = math.radians(0.1)
    ranges = np.array([5.0, 5.0, 5.0, 0.7, 5.0, 5.0, 5.0, 5.0])
    scan = resample_scan_with_mask(ranges, -4 * inc, inc, 0.1, 10.0, beams=360, out_range_max=8.0)
    assert scan.ranges[_beam_at(0.0, 360)] == pytest.approx(0.7)


def test_coarser_scan_fills_beams_between_rays() -> None:
    n = 90  # 4 degrees apart, resampled to 1 degree
    inc = 2 * math.pi / n
    ranges = np.linspace(1.0, 5.0, n)
    scan = resample_scan_with_mask(ranges, -math.pi, inc, 0.1, 10.0, beams=360, out_range_max=8.0)
    assert scan.valid.all()
    assert scan.ranges.min() >= 1.0 and scan.ranges.max() <= 5.0


def test_270_degree_scan_marks_uncovered_beams_invalid() -> None:
    n = 1081  # Hokuyo UTM-30LX: -135..135 degrees in 0.25 degree steps
    angle_min, inc = -3 * math.pi / 4, math.radians(0.25)
    scan = resample_scan_with_mask(np.full(n, 3.0), angle_min, inc, 0.1, 30.0, beams=360, out_range_max=8.0)
    angles = beam_angles(360)
    behind = np.abs(angles) > 3 * math.pi / 4 + 1e-6
    assert not scan.valid[behind].any()
    assert scan.valid[~behind].all()
    np.testing.assert_allclose(scan.ranges[behind], 8.0)  # documented fill: out_range_max
    np.testing.assert_allclose(scan.ranges[~behind], 3.0)
    filled = resample_scan(np.full(n, 3.0), angle_min, inc, 0.1, 30.0, beams=360, out_range_max=8.0, fill_value=0.0)
    np.testing.assert_allclose(filled[behind], 0.0)


def one_reading(value: float, conventions: ScanConventions = MESSAGE_DEFINITION) -> tuple[float, bool]:
    """(range, valid) of the model beam a reading of ``value`` fills, on a scan with range_min 0.2, range_max 10."""
    ranges = np.array([2.0, 2.0, value, 2.0])  # four rays, one per beam of a 4-beam layout (-pi, -pi/2, 0, pi/2)
    scan = resample_scan_with_mask(
        ranges, -math.pi, math.pi / 2, 0.2, 10.0, beams=4, out_range_max=8.0, conventions=conventions
    )
    return float(scan.ranges[2]), bool(scan.valid[2])


def test_rep117_semantics() -> None:
    assert one_reading(math.inf) == (8.0, True)  # no return: free out to out_range_max
    assert one_reading(-math.inf) == (0.0, True)  # too close
    assert one_reading(9.0) == (8.0, True)  # valid but beyond what the model sees: clipped
    assert one_reading(math.nan) == (8.0, False)  # invalid measurement: filled, marked invalid
    assert one_reading(3.5) == (3.5, True)


def test_readings_outside_the_sensor_range_are_discarded_as_the_message_definition_says() -> None:
    assert one_reading(0.1) == (8.0, False)  # below range_min: not an obstacle at 0 m
    assert one_reading(0.0) == (8.0, False)  # "no return" on many drivers: not an obstacle either
    assert one_reading(12.0) == (8.0, False)  # above range_max


def test_the_robot_profile_states_a_drivers_own_habits_for_them() -> None:
    assert one_reading(0.1, ScanConventions(below_range_min="too_close")) == (0.0, True)
    assert one_reading(0.0, ScanConventions(zero="no_return")) == (8.0, True)
    assert one_reading(12.0, ScanConventions(above_range_max="no_return")) == (8.0, True)
    with pytest.raises(ScanError, match="zero must be one of"):
        ScanConventions(zero="too_close")  # type: ignore[arg-type]


def test_a_clockwise_scan_resamples_to_the_same_beams_as_its_counter_clockwise_twin() -> None:
    rng = np.random.default_rng(4)
    n, inc = 270, math.radians(1.0)
    ccw = rng.uniform(0.3, 6.0, n)
    ccw[rng.integers(0, n, 20)] = np.inf
    angle_min = -math.radians(135)
    angle_max = angle_min + (n - 1) * inc
    # The same rays listed from the other end: an upside-down lidar's LaserScan.
    expected = resample_scan_with_mask(ccw, angle_min, inc, 0.1, 10.0, beams=360, out_range_max=8.0)
    clockwise = resample_scan_with_mask(ccw[::-1], angle_max, -inc, 0.1, 10.0, beams=360, out_range_max=8.0)
    np.testing.assert_array_equal(clockwise.ranges, expected.ranges)
    np.testing.assert_array_equal(clockwise.valid, expected.valid)
    assert expected.valid.sum() < 360  # the rear 90 degrees are unseen in both


def test_nan_does_not_hide_a_valid_ray_in_the_same_beam() -> None:
    inc = math.radians(0.5)
    scan = resample_scan_with_mask([math.nan, 1.2, math.nan], -inc, inc, 0.1, 10.0, beams=360, out_range_max=8.0)
    ahead = _beam_at(0.0, 360)
    assert scan.valid[ahead]
    assert scan.ranges[ahead] == pytest.approx(1.2)


@pytest.mark.parametrize(("rays", "increment_deg"), [(360, 1.0), (720, 0.5), (228, 1.0), (90, 4.0), (1081, -0.25)])
def test_the_cached_sector_layout_gives_the_minima_of_pairing_each_scan_afresh(rays, increment_deg) -> None:
    """A centred lidar's rays are paired with beams once per geometry; the beams equal pairing the rays of each scan."""
    from perception.lidar import _ray_beam_pairs, counter_clockwise, min_per_beam

    rng = np.random.default_rng(rays)
    inc = math.radians(increment_deg)
    angle_min = -math.pi / 3 if rays < 360 else -math.pi
    for _ in range(5):
        values = rng.uniform(0.0, 8.0, rays)
        values[rng.random(rays) < 0.2] = np.nan  # discarded readings
        scan = resample_scan_with_mask(values, angle_min, inc, 0.0, 10.0, beams=360, out_range_max=8.0)
        ordered, first, step = counter_clockwise(values, angle_min, inc)
        measured = ~np.isnan(ordered)
        angles = (first + np.arange(rays) * step)[measured]
        ray, beam = _ray_beam_pairs(angles, step, 360)
        expected, hit = min_per_beam(beam, ordered[measured][ray], 360)
        np.testing.assert_array_equal(scan.valid, hit)
        np.testing.assert_array_equal(scan.ranges, np.where(hit, expected, 8.0).astype(np.float32))


def test_scan_errors() -> None:
    args = (-math.pi, 0.01, 0.1, 10.0)
    with pytest.raises(ScanError, match="empty"):
        resample_scan([], *args, beams=360, out_range_max=8.0)
    with pytest.raises(ScanError, match=r"declares 10 beams but ranges has 9"):
        resample_scan(np.ones(9), *args, beams=360, out_range_max=8.0, count=10)
    for bad in (0.0, math.nan, math.inf):  # a negative increment is a clockwise scan, not an error
        with pytest.raises(ScanError, match="angle_increment"):
            resample_scan(np.ones(9), -math.pi, bad, 0.1, 10.0, beams=360, out_range_max=8.0)
    with pytest.raises(ScanError, match="all 5 ranges are NaN"):
        resample_scan(np.full(5, np.nan), *args, beams=360, out_range_max=8.0)
    with pytest.raises(ScanError, match="beams"):
        resample_scan(np.ones(9), *args, beams=0, out_range_max=8.0)
    with pytest.raises(ScanError, match="range_max"):
        resample_scan(np.ones(9), -math.pi, 0.01, 1.0, 0.5, beams=360, out_range_max=8.0)


def test_prepare_scan_normalises_to_unit_interval() -> None:
    out = prepare_scan([0.0, 4.0, 8.0, 20.0, math.inf, -math.inf, math.nan], range_max=8.0)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [0.0, 0.5, 1.0, 1.0, 1.0, 0.0, 1.0])
    batch = prepare_scan(np.array([[2.0, 4.0], [8.0, 0.0]]), range_max=8.0)
    np.testing.assert_allclose(batch, [[0.25, 0.5], [1.0, 0.0]])


def test_prepare_scan_rejects_all_nan_and_empty() -> None:
    with pytest.raises(ScanError, match="all NaN"):
        prepare_scan(np.full(360, np.nan), range_max=8.0)
    with pytest.raises(ScanError, match="non-empty"):
        prepare_scan([], range_max=8.0)


# --------------------------------------------------------------------------------------------------
# Point cloud
# --------------------------------------------------------------------------------------------------

SENSOR_HEIGHT = 0.35


@pytest.fixture
def room_cloud() -> np.ndarray:
    """A 3D lidar 0.35 m above a noisy floor, facing a wall at x = 2.0 m (points in the sensor frame)."""
    rng = np.random.default_rng(0)
    floor = np.column_stack(
        [rng.uniform(-4, 4, 6000), rng.uniform(-4, 4, 6000), rng.normal(-SENSOR_HEIGHT, 0.005, 6000)]
    )
    wall = np.column_stack(
        [np.full(1500, 2.0), rng.uniform(-1.0, 1.0, 1500), rng.uniform(-SENSOR_HEIGHT, 1.0 - SENSOR_HEIGHT, 1500)]
    )
    return np.vstack([floor, wall])


def test_cloud_to_scan_sees_the_wall_ahead_and_not_the_floor(room_cloud: np.ndarray) -> None:
    config = CloudScanConfig(sensor_height=SENSOR_HEIGHT, beams=360, range_max=8.0)
    scan = cloud_to_scan(room_cloud, config)
    assert scan.dtype == np.float32 and scan.shape == (360,)
    assert scan[_beam_at(0.0, 360)] == pytest.approx(2.0, abs=0.05)
    wall_beams = np.abs(beam_angles(360)) < math.atan2(0.9, 2.0)
    floor_only = np.abs(beam_angles(360)) > math.atan2(1.1, 2.0)
    assert np.all(np.abs(scan[wall_beams] - 2.0 / np.cos(beam_angles(360)[wall_beams])) < 0.06)
    np.testing.assert_allclose(scan[floor_only], 8.0)  # floor is not an obstacle: no return


def test_ground_plane_is_fitted_and_a_wall_is_never_taken_for_ground(room_cloud: np.ndarray) -> None:
    ground = estimate_ground(room_cloud, CloudScanConfig(sensor_height=SENSOR_HEIGHT))
    assert ground.fitted
    assert ground.normal[2] > 0.99
    assert ground.offset == pytest.approx(SENSOR_HEIGHT, abs=0.02)
    wall_only = room_cloud[-1500:]
    assert not estimate_ground(wall_only, CloudScanConfig(sensor_height=SENSOR_HEIGHT)).fitted


def test_a_steep_slope_at_floor_height_is_not_taken_for_ground() -> None:
    rng = np.random.default_rng(3)
    xy = rng.uniform(-3, 3, (4000, 2))
    slope = np.column_stack([xy, -SENSOR_HEIGHT + math.tan(math.radians(20)) * xy[:, 0]])
    assert not estimate_ground(slope, CloudScanConfig(sensor_height=SENSOR_HEIGHT)).fitted
    assert estimate_ground(slope, CloudScanConfig(sensor_height=SENSOR_HEIGHT, plane_max_tilt_deg=25)).fitted


def test_a_large_table_top_is_an_obstacle_not_the_ground() -> None:
    rng = np.random.default_rng(2)
    table = np.column_stack(
        [rng.uniform(1.0, 3.0, 4000), rng.uniform(-1.5, 1.5, 4000), np.full(4000, 0.4 - SENSOR_HEIGHT)]
    )  # 0.4 m high, no floor visible
    config = CloudScanConfig(sensor_height=SENSOR_HEIGHT)
    assert not estimate_ground(table, config).fitted
    assert cloud_to_scan(table, config)[_beam_at(0.0, 360)] == pytest.approx(1.0, abs=0.05)


def test_a_tilted_floor_is_removed_by_the_plane_not_by_the_height_threshold() -> None:
    # Sensor pitched by 3 degrees: the floor rises to 0.2 m above the nominal height 4 m away.
    rng = np.random.default_rng(1)
    xy = rng.uniform(-4, 4, (6000, 2))
    floor = np.column_stack([xy, -SENSOR_HEIGHT + math.tan(math.radians(3)) * xy[:, 0]])
    config = CloudScanConfig(sensor_height=SENSOR_HEIGHT)
    np.testing.assert_allclose(cloud_to_scan(floor, config), 8.0)
    no_plane = CloudScanConfig(sensor_height=SENSOR_HEIGHT, ground_plane=False)
    assert cloud_to_scan(floor, no_plane)[_beam_at(0.0, 360)] < 8.0  # the fallback would see a ramp


def test_cloud_scan_clips_far_points_and_marks_all_beams_valid() -> None:
    points = np.array([[20.0, 0.0, 0.3], [0.0, 1.0, 0.3], [math.nan, 0.0, 0.0]])
    config = CloudScanConfig(voxel_size=0.0, ground_plane=False, beams=4, range_max=8.0)
    scan = cloud_to_scan_with_mask(points, config)
    np.testing.assert_allclose(scan.ranges, [8.0, 8.0, 8.0, 1.0])  # beams at -pi, -pi/2, 0, pi/2
    assert scan.valid.all()


def test_cloud_errors() -> None:
    with pytest.raises(PointCloudError, match=r"\(N, 3\)"):
        cloud_to_scan(np.zeros((5, 2)))
    with pytest.raises(PointCloudError, match="empty"):
        cloud_to_scan(np.zeros((0, 3)))
    with pytest.raises(PointCloudError, match="none is finite"):
        cloud_to_scan(np.full((4, 3), np.nan))
    with pytest.raises(PointCloudError, match="band_min_z"):
        CloudScanConfig(band_min_z=1.0, band_max_z=0.5)


def _cloud_buffer(points: np.ndarray, *, bigendian: bool, pad: int = 4) -> tuple[bytes, list, int]:
    """Pack x, y, z FLOAT32 plus an intensity FLOAT64 and ``pad`` unused bytes per point."""
    order = ">" if bigendian else "<"
    fmt = f"{order}fffd{pad}x"
    data = b"".join(struct.pack(fmt, *p, 42.0) for p in points)
    fields = [("x", 0, 7), ("y", 4, 7), ("z", 8, 7), ("intensity", 12, 8)]
    return data, fields, struct.calcsize(fmt)


@pytest.mark.parametrize("bigendian", [False, True])
def test_pointcloud2_buffer_roundtrip_drops_nan_points(bigendian: bool) -> None:
    points = np.array([[1.0, 2.0, 3.0], [np.nan, 0.0, 0.0], [-0.5, 0.25, 8.0]], dtype=np.float32)
    data, fields, step = _cloud_buffer(points, bigendian=bigendian)
    out = points_from_cloud_buffer(data, fields, step, width=3, height=1, is_bigendian=bigendian)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, points[[0, 2]])


def test_a_pointcloud2_like_message_is_read_from_its_attributes() -> None:
    """The agent node (rclpy messages) and replay evaluation (messages from a bag) share this reader."""
    from types import SimpleNamespace

    points = np.array([[1.0, 2.0, 3.0], [-0.5, 0.25, 8.0]], dtype=np.float32)
    data, fields, step = _cloud_buffer(points, bigendian=False)
    msg = SimpleNamespace(
        data=np.frombuffer(data, dtype=np.uint8),
        fields=[SimpleNamespace(name=n, offset=o, datatype=d, count=1) for n, o, d in fields],
        point_step=step,
        width=2,
        height=1,
        is_bigendian=False,
        row_step=2 * step,
    )
    np.testing.assert_array_equal(points_from_cloud_message(msg), points)


def test_pointcloud2_float64_fields_organised_with_row_padding() -> None:
    points = np.arange(12, dtype=np.float64).reshape(4, 3)  # 2 x 2 organised cloud
    rows = [b"".join(struct.pack("<ddd", *p) for p in points[r * 2 : (r + 1) * 2]) + b"\x00" * 8 for r in range(2)]
    fields = [CloudField("x", 0, 8), CloudField("y", 8, 8), CloudField("z", 16, 8)]
    out = points_from_cloud_buffer(b"".join(rows), fields, 24, width=2, height=2, is_bigendian=False, row_step=56)
    np.testing.assert_array_equal(out, points.astype(np.float32))


def test_pointcloud2_errors() -> None:
    data, fields, step = _cloud_buffer(np.ones((2, 3), np.float32), bigendian=False)
    with pytest.raises(PointCloudError, match="no field z"):
        points_from_cloud_buffer(data, fields[:2], step, 2, 1, is_bigendian=False)
    with pytest.raises(PointCloudError, match=rf"must be {2 * step} bytes.*got {2 * step - 1}"):
        points_from_cloud_buffer(data[:-1], fields, step, 2, 1, is_bigendian=False)
    with pytest.raises(PointCloudError, match="empty"):
        points_from_cloud_buffer(b"", fields, step, 0, 1, is_bigendian=False)
    with pytest.raises(PointCloudError, match="datatype 2"):
        points_from_cloud_buffer(data, [("x", 0, 2), *fields[1:]], step, 2, 1, is_bigendian=False)
    with pytest.raises(PointCloudError, match="does not fit"):
        points_from_cloud_buffer(data, [*fields[:2], ("z", step - 2, 7)], step, 2, 1, is_bigendian=False)
    nan_data, _, _ = _cloud_buffer(np.full((2, 3), np.nan, np.float32), bigendian=False)
    with pytest.raises(PointCloudError, match="none is finite"):
        points_from_cloud_buffer(nan_data, fields, step, 2, 1, is_bigendian=False)


# --------------------------------------------------------------------------------------------------
# Language
# --------------------------------------------------------------------------------------------------


def test_normalise_instruction() -> None:
    assert normalise_instruction("  Go to\tthe  RED\ncube ") == "go to the red cube"
    with pytest.raises(InstructionError, match="empty"):
        normalise_instruction(" \n\t ")
    with pytest.raises(InstructionError, match="str"):
        normalise_instruction(42)  # type: ignore[arg-type]
    with pytest.raises(InstructionError, match="limit is 40 words"):
        normalise_instruction("go " * 41)
    with pytest.raises(InstructionError, match="limit is 200 characters"):
        normalise_instruction("a" * 201)
    with pytest.raises(InstructionError, match="limit is 5 words"):
        normalise_instruction("one two three four five six", max_words=5)


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    """One model load for all language tests (bundled weights, offline, CPU)."""
    return SentenceEncoder(device="cpu")


def test_encoder_loads_without_touching_the_network(encoder: SentenceEncoder) -> None:
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert os.environ["TRANSFORMERS_OFFLINE"] == "1"
    assert encoder.dim == 384


def test_embedding_is_unit_norm_float32(encoder: SentenceEncoder) -> None:
    vector = encoder.encode("go to the red cube")
    assert vector.dtype == np.float32
    assert vector.shape == (384,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-4)


def test_paraphrases_are_closer_than_a_different_goal(encoder: SentenceEncoder) -> None:
    a = encoder.encode("go to the red cube")
    b = encoder.encode("drive to the red cube")
    c = encoder.encode("find the blue ball")
    assert float(a @ b) > float(a @ c)
    assert float(a @ b) > float(b @ c)


def test_repeated_instruction_is_served_from_cache(encoder: SentenceEncoder) -> None:
    first = encoder.encode("Navigate to the yellow cylinder")
    before = encoder.cache_stats()
    again = encoder.encode("  navigate to the   YELLOW cylinder ")  # same after normalisation
    after = encoder.cache_stats()
    assert after.misses == before.misses
    assert after.hits == before.hits + 1
    np.testing.assert_array_equal(first, again)
    again[:] = 0  # callers get a copy; the cache is unharmed
    np.testing.assert_array_equal(encoder.encode("navigate to the yellow cylinder"), first)


def test_batch_encoding_matches_single_and_uses_the_cache(encoder: SentenceEncoder) -> None:
    single = encoder.encode("stop next to the green sphere")
    misses = encoder.cache_stats().misses
    batch = encoder.encode_batch(["stop next to the green sphere", "turn towards the red cube"])
    assert batch.shape == (2, 384)
    np.testing.assert_allclose(batch[0], single)
    assert encoder.cache_stats().misses == misses + 1
    encoder.clear_cache()
    np.testing.assert_array_equal(batch[1], encoder.encode("turn towards the red cube"))  # batched or not


def test_an_embedding_does_not_depend_on_the_process_s_torch_threads(encoder: SentenceEncoder) -> None:
    """A cache filled under one thread count must hold what a fresh process with another one computes: a
    closed loop turns a last-bit difference in the instruction's embedding into a different episode."""
    import torch

    text = "head for the yellow cube by the wall"
    embeddings = []
    for n in (1, 2, 3):
        with torch_threads(n):
            encoder.clear_cache()
            embeddings.append(encoder.encode(text))
            assert torch.get_num_threads() == n  # the caller's setting is left as it was
    np.testing.assert_array_equal(embeddings[0], embeddings[1])
    np.testing.assert_array_equal(embeddings[0], embeddings[2])


def test_a_thread_count_set_for_a_block_is_put_back_even_when_the_block_raises() -> None:
    import torch

    before = torch.get_num_threads()
    other = 1 if before != 1 else 2
    seen = []

    def block() -> None:
        with torch_threads(other):
            seen.append(torch.get_num_threads())
            raise RuntimeError("inside")

    with pytest.raises(RuntimeError, match="inside"):
        block()
    assert seen == [other]
    assert torch.get_num_threads() == before
    for unchanged in (None, 0):
        with torch_threads(unchanged):
            assert torch.get_num_threads() == before
    with pytest.raises(ValueError, match="positive"), torch_threads(-1):
        pass


def test_encoder_rejects_bad_instructions(encoder: SentenceEncoder) -> None:
    with pytest.raises(InstructionError, match="empty"):
        encoder.encode("   ")
    with pytest.raises(InstructionError, match="limit is 200 characters"):
        encoder.encode("x" * 300)


def _cuda_available() -> bool:
    import torch

    return bool(torch.cuda.is_available())


@pytest.mark.skipif(not _cuda_available(), reason="needs a CUDA GPU")
def test_encoder_on_cuda_matches_cpu(encoder: SentenceEncoder) -> None:
    gpu = SentenceEncoder()  # device=None picks CUDA when available
    assert gpu.device == "cuda"
    text = "go to the red cube"
    np.testing.assert_allclose(gpu.encode(text), encoder.encode(text), atol=1e-4)
