"""Runtime decisions of the robot, without ROS: each takes its inputs and its clock and returns what to do and why.

- :mod:`.agent`: one control tick of the agent (staleness, the policy, a zero with its reason).
- :mod:`.mux`: the command mux (teleop over navigation, e-stop latch, timeouts, limits).
- :mod:`.guard`: the lidar collision guard the mux applies to every command.
- :mod:`.monitor` and :mod:`.resources`: the resource monitor that picks the model variant, and its CPU/memory sampler.
- :mod:`.teleop`: keyboard and joystick teleop decisions.
- :mod:`.config`: ``ros.yaml`` as typed dataclasses (topics, frames, node parameters).

Nothing here needs a ROS graph: the nodes in :mod:`nav.nodes` are thin adapters over these.
"""
