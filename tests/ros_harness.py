"""The test side of a DDS test: one node in its own rclpy context and ROS domain, spinning in a thread.

The ``test_*_node`` and graph tests subclass :class:`SpinningNode` for the robot, operator or
listener they play. (pytest's default import mode puts ``tests/`` on ``sys.path``, so the test
modules import this as ``ros_harness``.)
"""

from __future__ import annotations

import threading

import rclpy
from rclpy.executors import SingleThreadedExecutor


class SpinningNode:
    """A node named ``name`` on ROS domain ``domain``, in its own context, with its own executor.

    With ``start`` (the default) the executor spins in a daemon thread from the start; a subclass
    that creates its publishers, subscriptions and timers first passes ``start=False`` and calls
    :meth:`start` when they exist. :meth:`close` stops the spinning and shuts the context down.
    """

    def __init__(self, domain: int, name: str, *, start: bool = True) -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context, domain_id=domain)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self.thread = threading.Thread(target=self.executor.spin, daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)
        self.thread.join(timeout=2.0)
