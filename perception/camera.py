"""Camera pre-processing: raw and compressed image decoding, and the model's image normalisation.

The same functions run on ``sensor_msgs/Image`` / ``sensor_msgs/CompressedImage`` payloads on the
robot and on simulator frames in training, so the model always sees identically prepared pixels.

* :func:`decode_image` turns a raw buffer (``data``, ``encoding``, ``width``, ``height``, ``step``)
  into an ``H x W x 3`` ``uint8`` RGB array.
* :func:`decode_compressed` does the same for JPEG/PNG bytes (via ``cv2.imdecode``).
* :func:`prepare_image` / :func:`prepare_images` resize and normalise RGB into float32 ``CHW``.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from perception.errors import ImageError

__all__ = [
    "CHANNELS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SUPPORTED_ENCODINGS",
    "decode_compressed",
    "decode_image",
    "prepare_image",
    "prepare_images",
]

CHANNELS: Final[dict[str, int]] = {"rgb8": 3, "bgr8": 3, "mono8": 1, "rgba8": 4, "bgra8": 4}
"""Bytes per pixel of each supported raw encoding (all 8 bits per channel)."""

SUPPORTED_ENCODINGS: Final[tuple[str, ...]] = tuple(CHANNELS)

IMAGENET_MEAN: Final[tuple[float, float, float]] = (0.485, 0.456, 0.406)
"""Per-channel (R, G, B) mean subtracted after scaling pixels to [0, 1]."""
IMAGENET_STD: Final[tuple[float, float, float]] = (0.229, 0.224, 0.225)
"""Per-channel (R, G, B) standard deviation divided by after subtracting the mean."""

_COMPRESSED_SIGNATURES: Final[dict[str, bytes]] = {
    "jpeg": b"\xff\xd8\xff",
    "png": b"\x89PNG\r\n\x1a\n",
}

Bytes = bytes | bytearray | memoryview
RGBImage = npt.NDArray[np.uint8]


def _as_byte_array(data: Bytes | npt.NDArray[np.uint8], what: str) -> npt.NDArray[np.uint8]:
    if isinstance(data, bytes | bytearray | memoryview):
        return np.frombuffer(data, dtype=np.uint8)
    if isinstance(data, np.ndarray):
        if data.dtype != np.uint8:
            raise ImageError(f"{what} must be uint8 bytes, got an array of dtype {data.dtype}")
        return data.reshape(-1)
    raise ImageError(f"{what} must be bytes or a uint8 numpy array, got {type(data).__name__}")


def _to_rgb(pixels: npt.NDArray[np.uint8], encoding: str) -> RGBImage:
    """Convert ``H x W x C`` pixels in ``encoding`` to a new, writable ``H x W x 3`` RGB array."""
    if encoding == "bgr8":
        pixels = pixels[..., ::-1]
    elif encoding == "rgba8":
        pixels = pixels[..., :3]
    elif encoding == "bgra8":
        pixels = pixels[..., 2::-1]
    elif encoding == "mono8":
        pixels = np.repeat(pixels[..., :1], 3, axis=2)
    return np.array(pixels, dtype=np.uint8, order="C")  # always a copy: never a view of msg.data


def _check_encoding(encoding: str) -> str:
    if not isinstance(encoding, str) or encoding.lower() not in CHANNELS:
        raise ImageError(f"unsupported image encoding {encoding!r}; supported: {', '.join(SUPPORTED_ENCODINGS)}")
    return encoding.lower()


def _decode_array(data: npt.NDArray[np.uint8], encoding: str, width: int | None, height: int | None) -> RGBImage:
    """An already-shaped ``H x W`` (mono) or ``H x W x C`` pixel array."""
    channels = CHANNELS[encoding]
    pixels = data[..., np.newaxis] if data.ndim == 2 else data
    if pixels.shape[2] != channels:
        raise ImageError(
            f"image array of shape {data.shape} has {pixels.shape[2]} channels, "
            f"but encoding {encoding!r} has {channels}"
        )
    if (height is not None and pixels.shape[0] != height) or (width is not None and pixels.shape[1] != width):
        raise ImageError(
            f"image array is {pixels.shape[1]}x{pixels.shape[0]} (width x height), expected {width}x{height}"
        )
    return _to_rgb(pixels, encoding)


def decode_image(
    data: Bytes | npt.NDArray[np.uint8],
    encoding: str,
    width: int | None,
    height: int | None,
    step: int | None = None,
) -> RGBImage:
    """Decode a raw ``sensor_msgs/Image``-style buffer into ``H x W x 3`` uint8 RGB.

    Args:
        data: The pixel bytes (``msg.data``), a flat uint8 array, or an already-shaped
            ``H x W`` / ``H x W x C`` uint8 array (then ``width``/``height`` may be ``None`` and,
            when given, are checked against its shape).
        encoding: One of :data:`SUPPORTED_ENCODINGS` (case-insensitive).
        width: Pixels per row.
        height: Number of rows.
        step: Bytes per row (``msg.step``), at least ``width * channels``; bytes past the pixels
            of a row are padding and are skipped. ``None`` means rows are unpadded.

    Returns:
        A new, writable, C-contiguous ``(height, width, 3)`` uint8 array in RGB order. ``mono8`` is
        replicated to three channels; the alpha channel of ``rgba8``/``bgra8`` is dropped.

    Raises:
        ImageError: unsupported encoding, non-positive size, ``step`` shorter than a row, or a
            buffer whose size is not ``step * height`` (the message names both sizes).
    """
    encoding = _check_encoding(encoding)
    if isinstance(data, np.ndarray) and data.ndim in (2, 3):
        if data.dtype != np.uint8:
            raise ImageError(f"image array must be uint8, got dtype {data.dtype}")
        return _decode_array(data, encoding, width, height)
    buffer = _as_byte_array(data, "image data")
    if width is None or height is None:
        raise ImageError("width and height are required to decode a flat image buffer")
    if width <= 0 or height <= 0:
        raise ImageError(f"image size must be positive, got width={width}, height={height}")
    channels = CHANNELS[encoding]
    row_bytes = width * channels
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
    return _to_rgb(rows.reshape(height, width, channels), encoding)


def _compressed_kind(fmt: str) -> str:
    """``'jpeg'`` or ``'png'`` from a CompressedImage ``format`` such as ``'rgb8; jpeg compressed bgr8'``."""
    text = fmt.lower() if isinstance(fmt, str) else ""
    if "png" in text:
        return "png"
    if "jpeg" in text or "jpg" in text:
        return "jpeg"
    raise ImageError(f"unsupported compressed image format {fmt!r}; supported: jpeg, png")


def decode_compressed(data: Bytes | npt.NDArray[np.uint8], fmt: str) -> RGBImage:
    """Decode JPEG or PNG bytes (``sensor_msgs/CompressedImage``) into ``H x W x 3`` uint8 RGB.

    Args:
        data: The compressed bytes (``msg.data``).
        fmt: The message's ``format`` string: ``'jpeg'``, ``'png'``, or image_transport's
            ``'<encoding>; jpeg compressed bgr8'`` form. Only the compression kind is used: OpenCV
            decodes colour data as BGR (what image_transport compresses), and we return RGB.

    Raises:
        ImageError: unknown format, empty data, data whose signature is not that of ``fmt``, or
            bytes OpenCV cannot decode (corrupt or truncated).
    """
    kind = _compressed_kind(fmt)
    buffer = _as_byte_array(data, "compressed image data")
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
