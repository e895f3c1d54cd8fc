"""Rosbag2 recordings: reading (MCAP, sqlite3), writing, the bag topic map, replay, replay evaluation and its report.

ROS-free: bags are read and written with ``rosbags``; only :mod:`.replay` publishes on live topics
(it imports rclpy when it runs).
"""
