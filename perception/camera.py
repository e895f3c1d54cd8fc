"""Camera pre-processing: raw and compressed image decoding, and the model's image normalisation.

The same functions run on ``sensor_msgs/Image`` / ``sensor_msgs/CompressedImage`` payloads on the
robot and on simulator frames in training, so the model always sees identically prepared pixels.

* :func:`decode_image` turns a raw buffer (``data``, ``encoding``, ``width``, ``height``, ``step``,
  ``is_bigendian``) into an ``H x W x 3`` ``uint8`` RGB array. It reads the encodings of
  ``sensor_msgs/image_encodings.hpp`` that camera drivers publish: 8- and 16-bit RGB/BGR(A) and mono,
  YUV 4:2:2 (``yuv422`` is UYVY, ``yuv422_yuy2`` is YUYV), 8- and 16-bit Bayer, and OpenCV's
  ``8UC1``/``8UC3``/``8UC4`` read as cv_bridge reads them (mono8, bgr8, bgra8). Depth images
  (``16UC1``, ``32FC1``: distances, REP 118) are refused: they are not colour pictures.
* :func:`decode_compressed` does the same for JPEG/PNG bytes (via ``cv2.imdecode``), with
  image_transport's ``format`` strings; ``compressedDepth`` is refused as depth.
* :func:`prepare_image` / :func:`prepare_images` resize and normalise RGB into float32 ``CHW``.

16-bit samples are read in the message's byte order (``is_bigendian``) and brought to 8 bits by
keeping the high byte (``value >> 8``: full scale stays full scale, and an 8-bit picture stored as
``v * 256`` or ``v * 257`` comes back exactly). A camera that puts 10- or 12-bit samples in a 16-bit
encoding without scaling them up therefore looks dark, as it does in every ROS viewer.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Final, NamedTuple

import cv2
import numpy as np
import numpy.typing as npt

from perception.errors import ImageError

__all__ = [
    "CHANNELS",
    "MIN_SIDE",
    "too_small",
    "DEPTH_ENCODINGS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SUPPORTED_ENCODINGS",
    "decode_compressed",
    "decode_image",
    "prepare_image",
    "prepare_images",
]

Bytes = bytes | bytearray | memoryview
RGBImage = npt.NDArray[np.uint8]
_ToRGB = Callable[[npt.NDArray[np.uint8]], npt.NDArray[np.uint8]]


def _rgb(p: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return p


def _bgr(p: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return p[..., ::-1]


def _rgba(p: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return p[..., :3]


def _bgra(p: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return p[..., 2::-1]


def _mono(p: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
    return np.repeat(p[..., :1], 3, axis=2)


def _cv2(code: int) -> _ToRGB:
    """An OpenCV colour conversion of ``H x W x C`` 8-bit samples (``C == 1`` passed as ``H x W``)."""

    def convert(p: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint8]:
        samples = np.ascontiguousarray(p[..., 0] if p.shape[2] == 1 else p)
        return np.asarray(cv2.cvtColor(samples, code), dtype=np.uint8)

    return convert


class _Layout(NamedTuple):
    """How one encoding lays out a pixel, and how its 8-bit samples become RGB."""

    samples: int
    """Samples per pixel in the buffer (``yuv422``: 2, a Y and every other pixel's U or V)."""
    bits: int
    """Bits per sample: 8 or 16 (16-bit samples follow the message's ``is_bigendian``)."""
    to_rgb: _ToRGB
    """``H x W x samples`` uint8 -> ``H x W x 3`` RGB (possibly a view)."""
    even_width: bool = False
    """Pixels come in pairs sharing their chroma (YUV 4:2:2): the width must be even."""


# OpenCV names a Bayer pattern by the second row's second and third pixels, not by the top-left 2 x 2
# block as ROS does: ROS bayer_rggb8 (R G / G B) is OpenCV's BayerBG (cv_bridge makes the same
# mapping). tests/test_sensor_conventions.py checks each pattern on a mosaiced synthetic picture.
_BAYER_CODES: Final[dict[str, int]] = {
    "rggb": cv2.COLOR_BayerBG2RGB,
    "bggr": cv2.COLOR_BayerRG2RGB,
    "gbrg": cv2.COLOR_BayerGR2RGB,
    "grbg": cv2.COLOR_BayerGB2RGB,
}

_LAYOUTS: Final[dict[str, _Layout]] = {
    "rgb8": _Layout(3, 8, _rgb),
    "bgr8": _Layout(3, 8, _bgr),
    "rgba8": _Layout(4, 8, _rgba),
    "bgra8": _Layout(4, 8, _bgra),
    "mono8": _Layout(1, 8, _mono),
    "rgb16": _Layout(3, 16, _rgb),
    "bgr16": _Layout(3, 16, _bgr),
    "rgba16": _Layout(4, 16, _rgba),
    "bgra16": _Layout(4, 16, _bgra),
    "mono16": _Layout(1, 16, _mono),
    # OpenCV matrix types: cv_bridge reads 1, 3 and 4 channels of 8 bits as OpenCV's grey, BGR and BGRA.
    "8UC1": _Layout(1, 8, _mono),
    "8UC3": _Layout(3, 8, _bgr),
    "8UC4": _Layout(4, 8, _bgra),
    # YUV 4:2:2, 8 bits (BT.601, as V4L2 cameras deliver it). image_encodings' "yuv422" is UYVY
    # (U Y0 V Y1), "yuv422_yuy2" is YUYV (Y0 U Y1 V); newer distros also name them "uyvy" and "yuyv".
    "yuv422": _Layout(2, 8, _cv2(cv2.COLOR_YUV2RGB_UYVY), even_width=True),
    "uyvy": _Layout(2, 8, _cv2(cv2.COLOR_YUV2RGB_UYVY), even_width=True),
    "yuv422_yuy2": _Layout(2, 8, _cv2(cv2.COLOR_YUV2RGB_YUYV), even_width=True),
    "yuyv": _Layout(2, 8, _cv2(cv2.COLOR_YUV2RGB_YUYV), even_width=True),
    **{f"bayer_{p}{bits}": _Layout(1, bits, _cv2(code)) for bits in (8, 16) for p, code in _BAYER_CODES.items()},
}

SUPPORTED_ENCODINGS: Final[tuple[str, ...]] = tuple(_LAYOUTS)
"""The raw encodings :func:`decode_image` reads, spelt as ``sensor_msgs/image_encodings.hpp`` spells them
(matched case-insensitively)."""

CHANNELS: Final[dict[str, int]] = {name: layout.samples for name, layout in _LAYOUTS.items()}
"""Samples per pixel of each supported raw encoding (bytes per pixel are ``samples * bits / 8``)."""

DEPTH_ENCODINGS: Final[tuple[str, ...]] = ("16UC1", "32FC1")
"""Depth image encodings (REP 118: millimetres as uint16, metres as float32): refused, they are not colour."""

_BY_LOWER: Final[dict[str, str]] = {name.lower(): name for name in (*SUPPORTED_ENCODINGS, *DEPTH_ENCODINGS)}
_OPENCV_TYPE = re.compile(r"^(8|16|32|64)[USF]C\d+$", re.IGNORECASE)

IMAGENET_MEAN: Final[tuple[float, float, float]] = (0.485, 0.456, 0.406)
"""Per-channel (R, G, B) mean subtracted after scaling pixels to [0, 1]."""
IMAGENET_STD: Final[tuple[float, float, float]] = (0.229, 0.224, 0.225)
"""Per-channel (R, G, B) standard deviation divided by after subtracting the mean."""

_COMPRESSED_SIGNATURES: Final[dict[str, bytes]] = {
    "jpeg": b"\xff\xd8\xff",
    "png": b"\x89PNG\r\n\x1a\n",
}


def _as_byte_array(data: Bytes | npt.NDArray[Any], what: str) -> npt.NDArray[np.uint8]:
    if isinstance(data, bytes | bytearray | memoryview):
        return np.frombuffer(data, dtype=np.uint8)
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ImageError(f"{what} must be uint8 bytes, got an array of dtype {data.dtype}")
        return data.reshape(-1)
    raise ImageError(f"{what} must be bytes or a uint8 numpy array, got {type(data).__name__}")


def _depth_error(what: str) -> ImageError:
    return ImageError(
        f"{what} is a depth image (distance per pixel, REP 118), not a colour image: the camera input "
        f"takes a colour or grey picture; supported encodings: {', '.join(SUPPORTED_ENCODINGS)}"
    )


def _check_encoding(encoding: str) -> str:
    """The encoding's name as image_encodings spells it; ImageError for depth and unknown encodings."""
    if not isinstance(encoding, str):
        raise ImageError(f"image encoding must be a string, got {type(encoding).__name__}")
    name = _BY_LOWER.get(encoding.strip().lower())
    if name in DEPTH_ENCODINGS:
        raise _depth_error(f"encoding {encoding!r}")
    if name is None:
        kind = " (an OpenCV matrix type that says nothing about colour)" if _OPENCV_TYPE.match(encoding) else ""
        raise ImageError(f"unsupported image encoding {encoding!r}{kind}; supported: {', '.join(SUPPORTED_ENCODINGS)}")
    return name


def _to_rgb(samples: npt.NDArray[np.uint8] | npt.NDArray[np.uint16], encoding: str) -> RGBImage:
    """``H x W x samples`` values of ``encoding`` (uint16 for 16-bit encodings) -> a new ``H x W x 3`` RGB array."""
    layout = _LAYOUTS[encoding]
    if layout.even_width and samples.shape[1] % 2:
        raise ImageError(
            f"{encoding} pairs pixels that share their chroma, so its width must be even, got {samples.shape[1]}"
        )
    eight = (samples >> 8).astype(np.uint8) if layout.bits == 16 else samples.astype(np.uint8, copy=False)
    return np.array(layout.to_rgb(eight), dtype=np.uint8, order="C")  # always a copy: never a view of msg.data


def _decode_array(
    data: npt.NDArray[np.uint8] | npt.NDArray[np.uint16], encoding: str, width: int | None, height: int | None
) -> RGBImage:
    """An already-shaped ``H x W`` (one sample per pixel) or ``H x W x samples`` array of sample values."""
    layout = _LAYOUTS[encoding]
    dtype = np.dtype(np.uint16 if layout.bits == 16 else np.uint8)
    if data.dtype.kind != "u" or data.dtype.itemsize != dtype.itemsize:
        raise ImageError(f"a {encoding} image array must be {dtype}, got dtype {data.dtype}")
    samples = data[..., np.newaxis] if data.ndim == 2 else data
    if samples.shape[2] != layout.samples:
        raise ImageError(
            f"image array of shape {data.shape} has {samples.shape[2]} channels, "
            f"but encoding {encoding!r} has {layout.samples}"
        )
    if (height is not None and samples.shape[0] != height) or (width is not None and samples.shape[1] != width):
        raise ImageError(
            f"image array is {samples.shape[1]}x{samples.shape[0]} (width x height), expected {width}x{height}"
        )
    return _to_rgb(samples, encoding)


def decode_image(
    data: Bytes | npt.NDArray[np.uint8] | npt.NDArray[np.uint16],
    encoding: str,
    width: int | None,
    height: int | None,
    step: int | None = None,
    *,
    is_bigendian: bool = False,
) -> RGBImage:
    """Decode a raw ``sensor_msgs/Image``-style buffer into ``H x W x 3`` uint8 RGB.

    Args:
        data: The pixel bytes (``msg.data``), a flat uint8 array, or an already-shaped
            ``H x W`` / ``H x W x C`` array of samples (uint8, or uint16 for a 16-bit encoding; then
            ``width``/``height`` may be ``None`` and, when given, are checked against its shape).
        encoding: One of :data:`SUPPORTED_ENCODINGS` (case-insensitive), the names of
            ``sensor_msgs/image_encodings.hpp``.
        width: Pixels per row.
        height: Number of rows.
        step: Bytes per row (``msg.step``), at least ``width`` times the bytes per pixel; bytes past
            the pixels of a row are padding and are skipped. ``None`` means rows are unpadded.
        is_bigendian: ``msg.is_bigendian``: the byte order of 16-bit samples (ignored for 8-bit
            encodings and for shaped arrays, whose values are already numbers).

    Returns:
        A new, writable, C-contiguous ``(height, width, 3)`` uint8 array in RGB order. Mono is
        replicated to three channels; alpha is dropped; 16-bit samples keep their high byte; YUV is
        converted (BT.601) and Bayer demosaiced by OpenCV.

    Raises:
        ImageError: a depth encoding (``16UC1``, ``32FC1``) or an unsupported one, non-positive size,
            an odd width for YUV 4:2:2, ``step`` shorter than a row, or a buffer whose size is not
            ``step * height`` (the message names both sizes).
    """
    encoding = _check_encoding(encoding)
    if isinstance(data, np.ndarray) and data.ndim in (2, 3):
        return _decode_array(data, encoding, width, height)
    buffer = _as_byte_array(data, "image data")
    if width is None or height is None:
        raise ImageError("width and height are required to decode a flat image buffer")
    if width <= 0 or height <= 0:
        raise ImageError(f"image size must be positive, got width={width}, height={height}")
    layout = _LAYOUTS[encoding]
    pixel_bytes = layout.samples * layout.bits // 8
    row_bytes = width * pixel_bytes
    if step is None:
        step = row_bytes
    if step < row_bytes:
        raise ImageError(f"step {step} is shorter than one row of {width} {encoding} pixels ({row_bytes} bytes)")
    expected = step * height
    if buffer.size != expected:
        raise ImageError(
            f"{encoding} image buffer of {width}x{height} (step {step}) must be {expected} bytes "
            f"(step x height), got {buffer.size}"
        )
    rows = buffer.reshape(height, step)[:, :row_bytes]
    if layout.bits == 16:
        order = ">" if is_bigendian else "<"
        samples: npt.NDArray[np.uint8] | npt.NDArray[np.uint16] = np.ascontiguousarray(rows).view(f"{order}u2")
    else:
        samples = rows
    return _to_rgb(samples.reshape(height, width, layout.samples), encoding)


def _compressed_kind(fmt: str, data: npt.NDArray[np.uint8]) -> str:
    """``'jpeg'`` or ``'png'`` from a CompressedImage ``format``.

    image_transport writes ``'<raw encoding>; <jpeg|png> compressed <encoding compressed>'``
    (``'rgb8; jpeg compressed bgr8'``), drivers that compress themselves ``'jpeg'`` or ``'png'``;
    compressed_depth_image_transport writes ``'16UC1; compressedDepth png'`` (refused, as a raw depth
    encoding before the ``;`` is). An empty format (older drivers) is read from the data's signature.
    """
    if not isinstance(fmt, str):
        raise ImageError(f"compressed image format must be a string, got {type(fmt).__name__}")
    text = fmt.strip().lower()
    original = text.split(";", 1)[0].strip() if ";" in text else ""
    if "compresseddepth" in text or _BY_LOWER.get(original) in DEPTH_ENCODINGS:
        raise _depth_error(f"compressed image of format {fmt!r}")
    if not text:
        for kind, signature in _COMPRESSED_SIGNATURES.items():
            if data[: len(signature)].tobytes() == signature:
                return kind
        start = data[:8].tobytes()
        raise ImageError(f"compressed image has no format and its data (starting {start!r}) is neither jpeg nor png")
    compression = text.rsplit(";", 1)[-1]
    if "png" in compression:
        return "png"
    if "jpeg" in compression or "jpg" in compression:
        return "jpeg"
    raise ImageError(f"unsupported compressed image format {fmt!r}; supported: jpeg, png")


def decode_compressed(data: Bytes | npt.NDArray[np.uint8], fmt: str) -> RGBImage:
    """Decode JPEG or PNG bytes (``sensor_msgs/CompressedImage``) into ``H x W x 3`` uint8 RGB.

    Args:
        data: The compressed bytes (``msg.data``).
        fmt: The message's ``format`` string: ``'jpeg'``, ``'png'``, or image_transport's
            ``'<encoding>; jpeg compressed bgr8'`` form. Only the compression kind is used: OpenCV
            decodes colour data as BGR (what image_transport compresses), and we return RGB. A grey
            picture (``'mono8; jpeg compressed mono8'``) comes back as three equal channels, a
            16-bit PNG with the high byte of each sample, as :func:`decode_image` reads ``mono16``.

    Raises:
        ImageError: a depth image (``compressedDepth``, or a depth encoding before the ``;``), an
            unknown format, empty data, data whose signature is not that of ``fmt``, or bytes
            OpenCV cannot decode (corrupt or truncated).
    """
    buffer = _as_byte_array(data, "compressed image data")
    kind = _compressed_kind(fmt, buffer)
    if buffer.size == 0:
        raise ImageError(f"compressed {kind} image is empty (0 bytes)")
    signature = _COMPRESSED_SIGNATURES[kind]
    if buffer[: len(signature)].tobytes() != signature:
        raise ImageError(f"data is not a {kind} image: it starts with {buffer[:8].tobytes()!r}, expected {signature!r}")
    bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    if bgr is None:
        raise ImageError(f"cannot decode {buffer.size} bytes of {kind}: corrupt or truncated image")
    return np.ascontiguousarray(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def _check_rgb(rgb: npt.NDArray[np.uint8]) -> None:
    if not isinstance(rgb, np.ndarray) or rgb.dtype != np.uint8:
        got = rgb.dtype if isinstance(rgb, np.ndarray) else type(rgb).__name__
        raise ImageError(f"expected a uint8 RGB image, got {got}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageError(f"expected an H x W x 3 RGB image, got shape {rgb.shape}")


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    if len(size) != 2 or min(int(s) for s in size) <= 0:
        raise ImageError(f"size must be (height, width) with both > 0, got {size}")
    return int(size[0]), int(size[1])


_MEAN = np.asarray(IMAGENET_MEAN, dtype=np.float32).reshape(3, 1, 1)
_STD = np.asarray(IMAGENET_STD, dtype=np.float32).reshape(3, 1, 1)


MIN_SIDE = 16
"""Fewest pixels on a camera frame's side that a model input is made from (the smallest ``image_size`` a
variant may have): a 1x1 frame is a broken driver or a wrong topic, not a picture to enlarge."""


def too_small(rgb: RGBImage) -> str | None:
    """Why a decoded frame is too small to use, or None."""
    h, w = rgb.shape[:2]
    if min(h, w) < MIN_SIDE:
        return f"camera frame is {w}x{h} px, fewer than {MIN_SIDE} px on a side: a broken driver or the wrong topic?"
    return None


def prepare_image(rgb: RGBImage, size: tuple[int, int]) -> npt.NDArray[np.float32]:
    """Resize and normalise one RGB image into the model's float32 ``(3, height, width)`` input.

    Resizing uses ``cv2.INTER_AREA`` when shrinking (anti-aliased) and ``cv2.INTER_LINEAR`` when
    enlarging. Normalisation: ``x = (pixel / 255 - IMAGENET_MEAN[c]) / IMAGENET_STD[c]`` per RGB
    channel ``c``, so a black pixel maps to about -2.1 and a white one to about 2.6.

    Args:
        rgb: ``H x W x 3`` uint8 RGB (the output of :func:`decode_image` or the simulator).
        size: Output ``(height, width)`` in pixels (the same order as the output array's shape,
            not OpenCV's ``(width, height)``).
    """
    _check_rgb(rgb)
    out_h, out_w = _check_size(size)
    in_h, in_w = rgb.shape[:2]
    if (in_h, in_w) != (out_h, out_w):
        shrinking = out_h * out_w < in_h * in_w
        interp = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
        rgb = np.asarray(cv2.resize(rgb, (out_w, out_h), interpolation=interp), dtype=np.uint8)
    chw = rgb.transpose(2, 0, 1).astype(np.float32) * np.float32(1.0 / 255.0)
    return np.ascontiguousarray((chw - _MEAN) / _STD, dtype=np.float32)


def prepare_images(batch: npt.NDArray[np.uint8], size: tuple[int, int]) -> npt.NDArray[np.float32]:
    """:func:`prepare_image` over an ``N x H x W x 3`` uint8 batch, giving ``(N, 3, height, width)``."""
    if not isinstance(batch, np.ndarray) or batch.ndim != 4:
        shape = batch.shape if isinstance(batch, np.ndarray) else type(batch).__name__
        raise ImageError(f"expected an N x H x W x 3 batch, got {shape}")
    out_h, out_w = _check_size(size)
    out = np.empty((batch.shape[0], 3, out_h, out_w), dtype=np.float32)
    for i, image in enumerate(batch):
        out[i] = prepare_image(image, (out_h, out_w))
    return out
