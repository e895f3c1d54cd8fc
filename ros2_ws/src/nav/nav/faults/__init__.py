"""The fault-injection suite (``nav faults``): the graph in robot mode, a scripted robot, faults in turn.

:mod:`.judge` (pure: how a row is judged and printed), :mod:`.robot` (the scripted robot, rclpy),
:mod:`.session` (the graph, the robot, the log and the configured limits), :mod:`.catalogue` (the
faults), :mod:`.suite` (set-up, the run, the rows).
"""
