"""Learned navigation policies (no ROS): the multi-modal encoder, the model ladder and training."""
