"""The PyBullet simulator as a ROS 2 node: it stands in for the robot (its sensors and its base).

A thin adapter over :class:`sim.env.LangNavEnv`. Each step (``sim_node.rate_hz`` steps per second
of simulated time, paced to the wall clock when ``real_time``) it applies the latest
``geometry_msgs/Twist`` from ``topics.cmd_out`` (the mux output; a command older than
``cmd_timeout`` of simulated time counts as zero, as a real base controller would stop) and
publishes the camera (``Image`` rgb8 and a JPEG ``CompressedImage``), the 2D ``LaserScan``, the 3D
``PointCloud2`` (when ``publish_points``), wheel ``Odometry``, ``/clock`` and, where ``tf2_msgs``
exists, ``/tf`` (see :mod:`nav.nodes.sim_msgs`). Sensors use best-effort, keep-last-1 QoS: subscribe
with sensor QoS. With the sensors, once per step, it publishes the privileged teacher's
(:class:`sim.teacher.Teacher`) command for the state just published on ``topics.teacher_cmd``
(``Twist``, reliable): a label for recorded bags (the reference of ``nav replay-eval``), never a
command that drives the robot. The instruction goes out on ``topics.instruction`` (reliable, transient local, and
again every few seconds).

When the env reports success, a collision that ends the episode, or the time limit, the node
publishes the outcome as JSON on ``topics.outcome`` (reliable, transient local), writes
``camera.mp4``, ``trajectory.png`` and ``metrics.json`` into ``artifacts_dir`` (when given; before
the outcome, so the files exist once it is heard), and keeps publishing sensors with the robot
stopped. The world is not reset.

With ``task.action_latency`` in the sim config, a new command acts as late in its step as it came
after the last sensor publish (the stack's real compute and transport time); until then the
previous command drives, as on a robot.

Stamps and ``/clock``: simulated time, counted from the wall time at which the node started, so
stamps read sensibly with or without ``use_sim_time`` (they match the wall clock in real time).

Parameters (``--ros-args -p name:=value``):
  config         ros.yaml path (relative: inside ``configs/``); topics, frames and the ``sim_node`` defaults
  sim_config     sim.yaml path; empty: ``sim.yaml`` beside ``config`` if it is there, else ``configs/sim.yaml``
  instruction    what the robot is asked (empty: ``task.default_instruction`` of sim.yaml)
  goal           the object it means, "<colour> <shape>" (for example "red cube"); empty: read from the
                 instruction with the simulator's own phrase table (``nav demo`` grounds it as the agent does)
  world_seed     world to build; -1: the first world from ``seed`` on that holds the named object
  seed           episode seed (start pose, sensor noise)
  artifacts_dir  folder for the episode artifacts; empty: none
  rate_hz, real_time, publish_points, cmd_timeout   override ``sim_node`` of ros.yaml
"""

from __future__ import annotations

import math
import signal
import sys
import time
from typing import Any

import rclpy
from geometry_msgs.msg import Twist
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.signals import SignalHandlerOptions
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CompressedImage, Image, LaserScan, PointCloud2
from std_msgs.msg import String

from configs.robot import robot_profile
from nav.nodes import sim_msgs
from nav.nodes.common import EVENT_QOS, LATCHED_QOS, SENSOR_QOS
from nav.nodes.msgs import command_class, command_twist, twist
from nav.runtime.config import load_ros_config
from nav.runtime.sim_session import SimNodeParams, SimSession

INSTRUCTION_REPEAT_S = 2.0


# ================================================================================================ ROS
TF_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE)


class SimNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("sim", **kwargs)
        self.params = self._read_params()
        p = self.params
        self.ros = load_ros_config(p.config)
        self.session = SimSession(p)
        s = self.session
        topics, self.frames = self.ros.topics, self.ros.frames
        self.epoch = time.time()
        self._cmd = (0.0, 0.0)
        self._cmd_tick: int | None = None
        self._sensors_at = time.monotonic()
        self._cmd_delay: float | None = None
        """With ``task.action_latency``: how long after the last sensor publish the newest command came."""
        self._artifacts_written = False
        self._started = False
        self.pub_image = self.create_publisher(Image, topics.camera, SENSOR_QOS)
        self.pub_jpeg = self.create_publisher(CompressedImage, topics.camera_compressed, SENSOR_QOS)
        self.pub_scan = self.create_publisher(LaserScan, topics.scan, SENSOR_QOS)
        self.pub_points = self.create_publisher(PointCloud2, topics.points, SENSOR_QOS) if p.publish_points else None
        self.pub_odom = self.create_publisher(Odometry, topics.odom, EVENT_QOS)
        self.pub_clock = self.create_publisher(Clock, "/clock", EVENT_QOS)
        self.pub_instruction = self.create_publisher(String, topics.instruction, LATCHED_QOS)
        self.pub_outcome = self.create_publisher(String, topics.outcome, LATCHED_QOS)
        self.pub_teacher = self.create_publisher(Twist, topics.teacher_cmd, EVENT_QOS)
        # the simulated base takes what the robot profile's base takes (Twist or TwistStamped)
        self.create_subscription(command_class(robot_profile().base_command), topics.cmd_out, self._on_cmd, SENSOR_QOS)
        self.pub_tf = None
        if sim_msgs.tf_available():
            self.pub_tf = self.create_publisher(sim_msgs.TFMessage, "/tf", TF_QOS)
            self.pub_tf_static = self.create_publisher(sim_msgs.TFMessage, "/tf_static", LATCHED_QOS)
            self.pub_tf_static.publish(self._static_tf())
        else:
            self.get_logger().info(f"TF skipped: {sim_msgs.TF_UNAVAILABLE_REASON}")
        self._publish_instruction()
        self.create_timer(INSTRUCTION_REPEAT_S, self._publish_instruction)
        cfg = s.env.config
        self.get_logger().info(
            f"world {s.world_seed}, instruction {s.instruction!r}, {p.rate_hz:g} Hz "
            f"{'real time' if p.real_time else 'as fast as possible'}, camera {cfg.camera.width}x"
            f"{cfg.camera.height}, {cfg.lidar.beams} beams, points {'on' if p.publish_points else 'off'}, "
            f"time limit {s.time_limit_s:g} s, commands from {topics.cmd_out}"
        )
        self.publish_sensors()

    def _read_params(self) -> SimNodeParams:
        config = str(self.declare_parameter("config", "ros.yaml").value)
        defaults = load_ros_config(config).sim_node

        def read(name: str, default: Any, description: str) -> Any:
            """A start-up parameter (read-only: a new world needs a new node), described for ``ros2 param describe``;
            numbers accept 10 and 10.0 alike."""
            number = isinstance(default, (int, float)) and not isinstance(default, bool)
            descriptor = ParameterDescriptor(description=description, read_only=True, dynamic_typing=number)
            return self.declare_parameter(name, default, descriptor).value

        values = {
            "sim_config": str(read("sim_config", "", "sim.yaml path (empty: beside config, else configs/sim.yaml)")),
            "instruction": str(read("instruction", "", "what the robot is asked (empty: task.default_instruction)")),
            "goal": str(read("goal", "", "the object meant, '<colour> <shape>' (empty: read from the instruction)")),
            "world_seed": int(read("world_seed", defaults.world_seed, "the world (-1: the first holding the goal)")),
            "seed": int(read("seed", 0, "episode seed: start pose, sensor noise")),
            "artifacts_dir": str(read("artifacts_dir", "", "folder for camera.mp4, trajectory.png, metrics.json")),
            "rate_hz": float(read("rate_hz", defaults.rate_hz, "control steps per second of simulated time")),
            "real_time": bool(read("real_time", defaults.real_time, "pace simulated time with the wall clock")),
            "publish_points": bool(read("publish_points", defaults.publish_points, "publish the 3D point cloud")),
            "cmd_timeout": float(read("cmd_timeout", defaults.cmd_timeout, "s: an older command stops the base")),
            "start_on_motion": bool(
                read("start_on_motion", defaults.start_on_motion, "the world waits, frozen, for the first command")
            ),
        }
        return SimNodeParams(config=config, **values)

    # ---------------------------------------------------------------- inputs
    def _on_cmd(self, msg: Any) -> None:
        command = command_twist(msg)
        linear, angular = float(command.linear.x), float(command.angular.z)
        if not (math.isfinite(linear) and math.isfinite(angular)):
            self.get_logger().warning("ignoring a non-finite command", throttle_duration_sec=5.0)
            return
        self._cmd = (linear, angular)
        self._cmd_tick = self.session.ticks
        self._cmd_delay = time.monotonic() - self._sensors_at

    def current_command(self) -> tuple[float, float]:
        """The latest command, or zero once it is older than cmd_timeout (simulated time)."""
        if self._cmd_tick is None:
            return (0.0, 0.0)
        age = (self.session.ticks - self._cmd_tick) * self.session.dt
        return self._cmd if age <= self.params.cmd_timeout else (0.0, 0.0)

    # ---------------------------------------------------------------- one step
    def tick(self) -> None:
        s = self.session
        if self.params.start_on_motion and not self._started:
            if self.current_command() == (0.0, 0.0):
                self.publish_sensors()  # the world waits, frozen, for the stack to come up
                return
            self._started = True
            self.get_logger().info("first motion command: the episode clock starts")
        was_running = not s.ended
        if s.env.config.task.action_latency:  # a new command acts as late as it came; an old one is in effect
            s.env.set_action_delay(self._cmd_delay if self._cmd_delay is not None else 0.0)
            self._cmd_delay = None
        s.step(*self.current_command())
        self.publish_sensors()
        self._sensors_at = time.monotonic()
        if was_running and s.ended:
            self._finish(s.metrics())

    def _finish(self, metrics: dict[str, Any]) -> None:
        if self.params.artifacts_dir and not self._artifacts_written:
            try:
                metrics["artifacts"] = self.session.write_artifacts(self.params.artifacts_dir, metrics)
            except (OSError, RuntimeError, ValueError) as exc:
                self.get_logger().error(f"could not write artifacts to {self.params.artifacts_dir}: {exc}")
            self._artifacts_written = True
        if metrics["end_reason"] != "running":
            self.pub_outcome.publish(sim_msgs.json_msg(metrics))
            self.get_logger().info(
                f"episode over ({metrics['end_reason']}): success={metrics['success']} in {metrics['time_s']} s, "
                f"path {metrics['path_length_m']} m (shortest {metrics['shortest_path_length_m']} m), "
                f"collisions {metrics['collisions']}; the robot stays stopped"
            )

    def write_artifacts_if_pending(self) -> None:
        """At shutdown: the artifacts of an episode that did not end (``end_reason`` "running")."""
        if self.params.artifacts_dir and not self._artifacts_written:
            self._finish(self.session.metrics())

    def publish_sensors(self) -> None:
        s, f, cfg = self.session, self.frames, self.session.env.config
        t = self.epoch + s.sim_time
        rgb = s.obs["image"]
        self.pub_image.publish(sim_msgs.image_msg(rgb, t, f.camera))
        self.pub_jpeg.publish(sim_msgs.compressed_image_msg(rgb, t, f.camera))
        lidar = s.env.lidar
        self.pub_scan.publish(
            sim_msgs.laser_scan_msg(
                s.obs["scan"],
                t,
                f.laser,
                angle_min=float(lidar.angles[0]),
                angle_increment=lidar.angle_increment,
                range_min=cfg.lidar.range_min,
                range_max=cfg.lidar.range_max,
                scan_time=s.dt,
            )
        )
        if self.pub_points is not None:
            self.pub_points.publish(sim_msgs.point_cloud_msg(s.points(), t, f.lidar3d))
        x, y, yaw, linear, angular = s.odometry()
        self.pub_odom.publish(sim_msgs.odometry_msg(x, y, yaw, linear, angular, t, f.odom, f.base))
        if self.pub_tf is not None:
            odom_tf = sim_msgs.transform_stamped(f.odom, f.base, x, y, 0.0, yaw, t)
            self.pub_tf.publish(sim_msgs.tf_msg([odom_tf]))
        self.pub_clock.publish(sim_msgs.clock_msg(t))
        self.pub_teacher.publish(twist(*s.teacher_command))

    def _static_tf(self) -> Any:
        cfg, f, t = self.session.env.config, self.frames, self.epoch
        return sim_msgs.tf_msg(
            [
                sim_msgs.transform_stamped(
                    f.base,
                    f.laser,
                    cfg.lidar.mount_x,
                    cfg.lidar.mount_y,
                    cfg.lidar.mount_z,
                    math.radians(cfg.lidar.mount_yaw_deg),
                    t,
                ),
                sim_msgs.transform_stamped(f.base, f.lidar3d, 0.0, 0.0, cfg.lidar3d.mount_z, 0.0, t),
                sim_msgs.transform_stamped(
                    f.base,
                    f.camera,
                    cfg.camera.mount_x,
                    0.0,
                    cfg.camera.mount_z,
                    0.0,
                    t,
                    pitch=-math.radians(cfg.camera.pitch_deg),  # sim: negative looks down; ROS: +pitch
                ),
            ]
        )

    def _publish_instruction(self) -> None:
        self.pub_instruction.publish(sim_msgs.string_msg(self.session.instruction))

    def destroy_node(self) -> None:
        self.session.close()
        super().destroy_node()


def spin(node: Any, executor: Any, should_stop: Any) -> tuple[int, float]:
    """Step ``node`` at its rate (paced to the wall clock when real_time) until ``should_stop()``.

    Returns the steps taken and the wall seconds they took.
    """
    period = 1.0 / node.params.rate_hz
    real_time = node.params.real_time
    start = next_step = time.monotonic()
    steps = 0
    while not should_stop():
        now = time.monotonic()
        if real_time and now < next_step:
            executor.spin_once(timeout_sec=min(next_step - now, 0.05))
            continue
        executor.spin_once(timeout_sec=0.0)
        node.tick()
        steps += 1
        if real_time:
            next_step += period
            if time.monotonic() - next_step > 1.0:  # far behind (a stall): don't race to catch up
                node.get_logger().warning("the simulation runs slower than real time", throttle_duration_sec=10.0)
                next_step = time.monotonic()
    return steps, time.monotonic() - start


def main(args: list[str] | None = None) -> int:
    stop = {"signal": None}

    def on_signal(signum: int, _frame: Any) -> None:
        stop["signal"] = signum

    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    node = None
    try:
        try:
            node = SimNode()
        except (ValueError, LookupError) as exc:  # ConfigError, InstructionError, bad parameters
            print(f"sim_node: error: {exc}", file=sys.stderr, flush=True)
            return 2
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        steps, wall = spin(node, executor, lambda: stop["signal"] is not None)
        node.get_logger().info(
            f"shutting down ({signal.Signals(stop['signal']).name}): {steps} steps in {wall:.1f} s "
            f"({steps / max(wall, 1e-9):.1f} Hz, simulated {node.session.sim_time:.1f} s)"
        )
        node.write_artifacts_if_pending()
        executor.remove_node(node)
        return 0
    finally:
        if node is not None:
            node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


if __name__ == "__main__":
    sys.exit(main())
