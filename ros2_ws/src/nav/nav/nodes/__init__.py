"""The rclpy nodes and message conversion.

Thin adapters: they read parameters, convert messages at the edge and call :mod:`nav.runtime`.

- nodes: :mod:`.agent_node`, :mod:`.mux_node`, :mod:`.sim_node`, :mod:`.resource_monitor_node`,
  :mod:`.joy_teleop_node`, :mod:`.recorder_node`; :mod:`.keyboard_teleop` (``nav teleop``);
  :mod:`.bench_nodes` (``nav bench loop``).
- :mod:`.msgs` (sensor messages -> numpy, Twist), :mod:`.sim_msgs` (the simulator's messages),
  :mod:`.common` (QoS profiles, running a node).
"""
