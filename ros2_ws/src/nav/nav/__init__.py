"""The ROS 2 layer of nav-stack (nodes over the pure cores) and the ``nav`` command line."""
