"""The node graph.

- :mod:`.declaration`: ``configs/graph.yaml``, read by the launch file and ``nav bringup``.
- :mod:`.paths`: where the configs are found (repository, colcon ``share/``, ``$NAV_CONFIG_DIR``).
- :mod:`.supervisor`: ``nav bringup``, one process per node, crashed nodes restarted.
"""
