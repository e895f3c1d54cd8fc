"""Sensors against hand-built PyBullet scenes whose true answer is known."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sim.bullet import p
from sim.config import CameraConfig, Lidar2DConfig, Lidar3DConfig, OdometryConfig, RobotConfig
from sim.robot import DiffDriveRobot, Pose2D
from sim.scene import connect
from sim.sensors import Camera, Lidar2D, Lidar3D, Odometry

pytestmark = pytest.mark.unit

WALL_X = 2.0
"""The near face of the test wall (m)."""
ROBOT_RADIUS = 0.18
ORIGIN = Pose2D(0.0, 0.0, 0.0)


@pytest.fixture
def client():
    cid = connect()
    yield cid
    p.disconnect(physicsClientId=cid)


@pytest.fixture
def wall(client) -> int:
    """A 4 m wide, 2 m tall box wall whose near face is the plane x = 2.0; nothing else in the client."""
    half = [0.05, 2.0, 1.0]
    shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=client)
    return p.createMultiBody(0, shape, -1, [WALL_X + half[0], 0.0, 0.5], physicsClientId=client)


def beam_at(lidar: Lidar2D, angle: float) -> int:
    return int(np.argmin(np.abs(np.angle(np.exp(1j * (lidar.angles - angle))))))


def test_the_lidar_beam_at_angle_zero_reads_the_distance_to_the_wall(client, wall):
    lidar = Lidar2D(client, Lidar2DConfig(noise_std=0.0), ROBOT_RADIUS)

    ranges = lidar.scan(ORIGIN, rng=None)

    assert ranges[beam_at(lidar, 0.0)] == pytest.approx(WALL_X, abs=0.02)


def test_lidar_noise_stays_small_around_the_true_range(client, wall):
    lidar = Lidar2D(client, Lidar2DConfig(noise_std=0.005), ROBOT_RADIUS)

    ranges = lidar.scan(ORIGIN, rng=np.random.default_rng(0))

    assert ranges[beam_at(lidar, 0.0)] == pytest.approx(WALL_X, abs=0.03)


def test_a_lidar_beam_into_empty_space_reads_plus_infinity(client, wall):
    lidar = Lidar2D(client, Lidar2DConfig(noise_std=0.0), ROBOT_RADIUS)

    ranges = lidar.scan(ORIGIN, rng=None)

    assert ranges[beam_at(lidar, math.pi)] == np.inf
    assert ranges[beam_at(lidar, math.pi / 2)] == np.inf


def test_an_object_closer_than_range_min_reads_minus_infinity(client, wall):
    lidar = Lidar2D(client, Lidar2DConfig(noise_std=0.0, range_min=0.5), ROBOT_RADIUS)

    ranges = lidar.scan(Pose2D(WALL_X - 0.3, 0.0, 0.0), rng=None)

    assert ranges[beam_at(lidar, 0.0)] == -np.inf


def test_lidar_ranges_are_float32_with_one_per_beam(client, wall):
    config = Lidar2DConfig(beams=90, noise_std=0.0)
    lidar = Lidar2D(client, config, ROBOT_RADIUS)

    ranges = lidar.scan(ORIGIN, rng=None)

    assert ranges.dtype == np.float32
    assert ranges.shape == (config.beams,)


def test_lidar_beams_are_counter_clockwise_in_the_robot_frame(client, wall):
    lidar = Lidar2D(client, Lidar2DConfig(noise_std=0.0), ROBOT_RADIUS)

    ranges = lidar.scan(Pose2D(0.0, 0.0, math.pi / 2), rng=None)  # facing +y: the wall is on the right

    assert ranges[beam_at(lidar, -math.pi / 2)] == pytest.approx(WALL_X, abs=0.02)
    assert ranges[beam_at(lidar, 0.0)] == np.inf
    assert ranges[beam_at(lidar, math.pi / 2)] == np.inf


def test_lidar3d_points_from_the_wall_lie_on_its_face_in_the_level_ring(client, wall):
    lidar = Lidar3D(client, Lidar3DConfig(noise_std=0.0))

    points = lidar.points(ORIGIN, rng=None)
    level = points[np.abs(points[:, 2]) < 1e-6]

    assert points.dtype == np.float32 and points.shape[1] == 3
    assert len(level) > 0
    np.testing.assert_allclose(level[:, 0], WALL_X, atol=0.02)


def test_lidar3d_points_are_in_the_sensor_frame(client, wall):
    lidar = Lidar3D(client, Lidar3DConfig(noise_std=0.0))

    points = lidar.points(Pose2D(0.0, 0.0, math.pi / 2), rng=None)  # facing +y: the wall is on the right

    assert len(points) > 0
    np.testing.assert_allclose(points[:, 1], -WALL_X, atol=0.02)


def red_cube(client: int, x: float, y: float) -> int:
    half = [0.15, 0.15, 0.15]
    shape = p.createCollisionShape(p.GEOM_BOX, halfExtents=half, physicsClientId=client)
    visual = p.createVisualShape(p.GEOM_BOX, halfExtents=half, rgbaColor=[0.85, 0.1, 0.1, 1], physicsClientId=client)
    return p.createMultiBody(0, shape, visual, [x, y, half[2]], physicsClientId=client)


def red_mask(rgb: np.ndarray) -> np.ndarray:
    c = rgb.astype(int)
    return (c[..., 0] > 100) & (c[..., 1] < 60) & (c[..., 2] < 60)


@pytest.mark.parametrize("yaw", [0.0, math.pi / 2, -2.5], ids=["facing-x", "facing-y", "facing-back-right"])
@pytest.mark.parametrize(("y", "side"), [(0.6, "left"), (-0.6, "right")], ids=["ahead-left", "ahead-right"])
def test_a_red_cube_appears_on_the_side_of_the_image_it_stands_on(client, yaw, y, side):
    config = CameraConfig()
    camera = Camera(client, config)
    x_ahead = 1.5  # the cube's place in the robot frame is (1.5, y); the robot stands at the origin facing yaw
    body = red_cube(client, x_ahead * math.cos(yaw) - y * math.sin(yaw), x_ahead * math.sin(yaw) + y * math.cos(yaw))

    frame = camera.capture(Pose2D(0.0, 0.0, yaw))

    assert frame.rgb.shape == (config.height, config.width, 3) and frame.rgb.dtype == np.uint8
    mask = red_mask(frame.rgb)
    assert mask.sum() >= 10
    mean_column = np.nonzero(mask)[1].mean()
    if side == "left":
        assert mean_column < config.width / 2
    else:
        assert mean_column > config.width / 2
    assert np.array_equal(frame.segmentation == body, mask)


def test_a_red_cube_behind_the_camera_is_not_seen(client):
    camera = Camera(client, CameraConfig())
    red_cube(client, -1.5, 0.0)

    frame = camera.capture(ORIGIN)

    assert red_mask(frame.rgb).sum() == 0


def test_odometry_measures_the_commanded_speed_when_driving_straight(client):
    robot_cfg = RobotConfig()
    hz, physics_hz = 10.0, 120.0
    p.setTimeStep(1.0 / physics_hz, physicsClientId=client)
    shape = p.createCollisionShape(
        p.GEOM_CYLINDER, radius=robot_cfg.radius, height=robot_cfg.height, physicsClientId=client
    )
    body = p.createMultiBody(robot_cfg.mass, shape, -1, [0, 0, robot_cfg.height / 2 + 0.01], physicsClientId=client)
    robot = DiffDriveRobot(client, body, robot_cfg)
    robot.place(Pose2D(0.0, 0.0, 0.3))
    odometry = Odometry(OdometryConfig())
    rng = np.random.default_rng(0)
    odometry.update(robot.pose(), 1.0 / hz, rng)

    readings = [odometry.update(robot.step(0.3, 0.0, round(physics_hz / hz)), 1.0 / hz, rng) for _ in range(20)]

    linear = np.array([r.linear for r in readings])
    angular = np.array([r.angular for r in readings])
    assert np.all(np.abs(linear - 0.3) < 0.3 * 0.1)
    assert np.all(np.abs(angular) < 0.05)
    assert readings[-1].x == pytest.approx(0.3 * 2.0, rel=0.1)  # odom frame: starts at 0, heading 0
    assert abs(readings[-1].y) < 0.05


def test_a_lidar_mounted_behind_the_centre_and_turned_reads_from_where_it_sits(client, wall):
    # 32 mm behind the centre (a TurtleBot3's LDS), turned a quarter left: the wall ahead of the robot is on
    # the sensor's right (-90 degrees), 32 mm further than from the centre.
    config = Lidar2DConfig(noise_std=0.0, mount_x=-0.032, mount_yaw_deg=90.0)
    lidar = Lidar2D(client, config, ROBOT_RADIUS)
    ranges = lidar.scan(ORIGIN, rng=None)
    assert ranges[beam_at(lidar, -math.pi / 2)] == pytest.approx(WALL_X + 0.032, abs=0.01)
    assert np.isinf(ranges[beam_at(lidar, math.pi / 2)])  # behind the robot: nothing
