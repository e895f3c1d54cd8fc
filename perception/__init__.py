"""Sensor and language pre-processing shared by training and the robot (no ROS imports).

* :mod:`perception.camera`: raw/compressed image decoding to RGB, and the model's image normalisation.
* :mod:`perception.lidar`: laser scans resampled onto the model's beam layout (REP 103 / REP 117).
* :mod:`perception.pointcloud`: 3D clouds (and PointCloud2 buffers) projected to the same 2D scan.
* :mod:`perception.language`: instruction normalisation and cached MiniLM sentence embeddings.
* :mod:`perception.threads`: torch's CPU thread count set for a block and put back after it.
* :mod:`perception.errors`: :class:`PerceptionError` and its subclasses.

Importing this package loads no model and imports neither open3d nor sentence-transformers.
"""

from perception.camera import decode_compressed, decode_image, prepare_image, prepare_images
from perception.errors import (
    ImageError,
    InstructionError,
    PerceptionError,
    PointCloudError,
    ScanError,
)
from perception.language import SentenceEncoder, default_encoder, normalise_instruction
from perception.lidar import Scan, beam_angles, prepare_scan, resample_scan, resample_scan_with_mask
from perception.pointcloud import (
    CloudField,
    CloudScanConfig,
    cloud_to_scan,
    cloud_to_scan_with_mask,
    points_from_cloud_buffer,
    points_from_cloud_message,
)

__all__ = [
    "CloudField",
    "CloudScanConfig",
    "ImageError",
    "InstructionError",
    "PerceptionError",
    "PointCloudError",
    "Scan",
    "ScanError",
    "SentenceEncoder",
    "beam_angles",
    "cloud_to_scan",
    "cloud_to_scan_with_mask",
    "decode_compressed",
    "decode_image",
    "default_encoder",
    "normalise_instruction",
    "points_from_cloud_buffer",
    "points_from_cloud_message",
    "prepare_image",
    "prepare_images",
    "prepare_scan",
    "resample_scan",
    "resample_scan_with_mask",
]
