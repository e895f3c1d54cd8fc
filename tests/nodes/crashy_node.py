"""A test-only node for the bringup supervisor: it crashes, runs until stopped, or ignores signals.

Parameters: ``mode`` (``crash``: exit with code 3 after ``crash_after`` s; ``steady``: run until
SIGINT/SIGTERM, exit 0; ``stubborn``: ignore SIGINT and SIGTERM, only SIGKILL ends it; ``hang``: beat its
heartbeat as ``run_node`` does, then after ``crash_after`` s stop beating, alive but stuck) and
``crash_after`` (s). It prints one line ``crashy_node <name> pid <pid> mode <mode> config <path>``.
"""

from __future__ import annotations

import os
import signal
import sys
import time

import rclpy
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from nav.graph.liveness import Heartbeat


def main() -> int:
    stop: list[int] = []
    rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
    node = Node("crashy")
    mode = str(node.declare_parameter("mode", "crash").value)
    crash_after = float(node.declare_parameter("crash_after", 0.3).value)
    config = str(node.declare_parameter("config", "").value)
    if mode == "stubborn":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, _frame: stop.append(signum))
    print(f"crashy_node {node.get_name()} pid {os.getpid()} mode {mode} config {config}", flush=True)
    start = time.monotonic()
    heartbeat = Heartbeat.from_env()
    while not stop:
        if mode == "crash" and time.monotonic() - start >= crash_after:
            print("crashy_node: crashing on purpose", flush=True)
            os._exit(3)
        if heartbeat is not None and not (mode == "hang" and time.monotonic() - start >= crash_after):
            heartbeat.beat()
        time.sleep(0.02)
    print(f"crashy_node {node.get_name()}: clean exit on signal {stop[0]}", flush=True)
    node.destroy_node()
    rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
