"""Saving and loading trained policies: ``model.safetensors`` + ``manifest.json`` in one folder.

The manifest records what is needed to rebuild and trust the weights: the format version, the
variant, the full architecture (:class:`PolicyConfig` as a mapping), the SHA-256 of the weights
file, the parameter count, the training config, the evaluation metrics and when it was written.

Loading never unpickles anything: weights are read only from ``.safetensors`` files, only after
their hash matches the manifest, the architecture goes through the typed config loader (an unknown
or ill-typed key is an error), and the state dict is loaded with ``strict=True``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save

from configs import from_mapping
from policy.configuration import PolicyConfig
from policy.modeling import NavPolicy, default_device, parameter_count

__all__ = [
    "FORMAT_VERSION",
    "MANIFEST_FILE",
    "WEIGHTS_FILE",
    "ModelFileError",
    "export_model",
    "load_model",
    "read_manifest",
    "save_model",
    "sha256_file",
]

FORMAT_VERSION = 1
"""Version of the folder layout and manifest schema; loading any other version is refused."""
WEIGHTS_FILE = "model.safetensors"
MANIFEST_FILE = "manifest.json"
_MANIFEST_KEYS = frozenset(
    {
        "format_version",
        "variant",
        "config",
        "weights_file",
        "weights_sha256",
        "parameter_count",
        "training_config",
        "metrics",
        "created",
    }
)


_STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class ModelFileError(ValueError):
    """A model folder, manifest or weights file that cannot be trusted or read; the message says why."""


def _reproducible_safetensors(tensors: dict[str, torch.Tensor], metadata: dict[str, str]) -> bytes:
    """``safetensors.torch.save`` with the JSON header's keys sorted: the library writes its metadata map in a
    random order (a hash map), so the same weights could give files, and SHA-256s, that differ run to run.
    The header keeps its length (the same keys, reordered), so every offset stays valid."""
    raw = save(tensors, metadata=metadata)
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + size])
    canonical = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    if len(canonical) > size:
        raise RuntimeError(f"safetensors header re-encoded to {len(canonical)} bytes, more than its {size}")
    return raw[:8] + canonical.ljust(size, b" ") + raw[8 + size :]


def sha256_file(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _json_ready(name: str, value: dict[str, Any]) -> dict[str, Any]:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be JSON-serialisable (str, numbers, bools, lists, dicts): {exc}") from exc


def save_model(
    model: NavPolicy,
    config: PolicyConfig,
    directory: str | Path,
    training_config: dict[str, Any],
    metrics: dict[str, Any],
    weights_dtype: str = "float32",
) -> Path:
    """Write ``model.safetensors`` and ``manifest.json`` into ``directory`` (created); returns the folder.

    ``weights_dtype`` (``float32``, ``float16`` or ``bfloat16``) is how floating-point tensors are
    stored (half the bytes for a model shipped in the repository); they load back into the float32
    model. Both files are written under a temporary name and renamed, so a crash never leaves a
    manifest that describes other weights.
    """
    if weights_dtype not in _STORAGE_DTYPES:
        raise ValueError(f"weights_dtype must be one of {sorted(_STORAGE_DTYPES)}, got {weights_dtype!r}")
    storage = _STORAGE_DTYPES[weights_dtype]
    if model.config != config:
        raise ValueError(f"model was built for variant {model.config.name!r}, not the given config {config.name!r}")
    training_config = _json_ready("training_config", training_config)
    metrics = _json_ready("metrics", metrics)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {
        k: (v.detach().to("cpu", storage) if v.is_floating_point() else v.detach().to("cpu")).contiguous()
        for k, v in model.state_dict().items()
    }
    weights = directory / WEIGHTS_FILE
    tmp_weights = directory / (WEIGHTS_FILE + ".tmp")
    tmp_weights.write_bytes(_reproducible_safetensors(state, {"format": "nav-policy", "variant": config.name}))
    digest = sha256_file(tmp_weights)
    manifest = {
        "format_version": FORMAT_VERSION,
        "variant": config.name,
        "config": dataclasses.asdict(config),
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": digest,
        "weights_dtype": weights_dtype,
        "parameter_count": parameter_count(model),
        "training_config": training_config,
        "metrics": metrics,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    tmp_manifest = directory / (MANIFEST_FILE + ".tmp")
    tmp_manifest.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp_weights.replace(weights)
    tmp_manifest.replace(directory / MANIFEST_FILE)
    return directory


def _model_folder(path: Path) -> Path:
    """The folder holding the manifest, from a folder, its manifest or its ``.safetensors`` path."""
    if path.is_dir():
        return path
    if path.suffix in (".safetensors", ".json"):
        return path.parent
    if path.suffix or path.is_file():
        raise ModelFileError(
            f"refusing to load {path}: only a model folder with {MANIFEST_FILE} and .safetensors weights "
            "is loaded (pickle-based files such as .pt/.pth/.ckpt are never loaded)"
        )
    return path  # a folder that does not exist: read_manifest says so


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The checked manifest of a model folder (schema only; weights are not touched)."""
    manifest_path = Path(directory) / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(f"{manifest_path}: no manifest (is {directory} a saved model folder?)") from None
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{manifest_path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{manifest_path}: the manifest must be a JSON object")
    missing = sorted(_MANIFEST_KEYS - set(manifest))
    if missing:
        raise ModelFileError(f"{manifest_path}: manifest lacks {missing}")
    if manifest["format_version"] != FORMAT_VERSION:
        raise ModelFileError(
            f"{manifest_path}: format_version {manifest['format_version']!r} is not supported "
            f"(expected {FORMAT_VERSION})"
        )
    name = manifest["weights_file"]
    if not isinstance(name, str) or Path(name).name != name or not name.endswith(".safetensors"):
        raise ModelFileError(
            f"{manifest_path}: weights_file {name!r} must be a .safetensors file name inside the folder "
            "(pickle-based weights are never loaded)"
        )
    if not isinstance(manifest["config"], dict):
        raise ModelFileError(f"{manifest_path}: 'config' must be a mapping of the architecture")
    return manifest


def load_model(
    directory: str | Path, device: torch.device | str | None = None
) -> tuple[NavPolicy, PolicyConfig, dict[str, Any]]:
    """Load a model written by :func:`save_model`, in eval mode on ``device`` (default CUDA if available).

    ``directory`` may also be the folder's ``manifest.json`` or ``model.safetensors`` path.

    Raises:
        ModelFileError: a non-safetensors path (``.pt`` and other pickles are refused), a missing or
            malformed manifest, a weights file whose SHA-256 differs from the manifest (the message
            names the file and both hashes), unreadable weights, or weights that do not fit the
            architecture (missing, unexpected or mis-shaped tensors).
        ConfigError: the manifest's architecture has an unknown key, a wrong type or a bad value.
    """
    folder = _model_folder(Path(directory))
    manifest = read_manifest(folder)
    manifest_path = folder / MANIFEST_FILE
    weights = folder / manifest["weights_file"]
    if not weights.is_file():
        raise ModelFileError(f"{weights}: weights file named by {manifest_path} is missing")
    actual = sha256_file(weights)
    expected = manifest["weights_sha256"]
    if actual != expected:
        raise ModelFileError(
            f"{weights}: SHA-256 mismatch, the weights are not the ones the manifest describes "
            f"(expected sha256 {expected}, actual sha256 {actual}); refusing to load"
        )
    config = from_mapping(PolicyConfig, manifest["config"], source=str(manifest_path), prefix="config")
    if config.name != manifest["variant"]:
        raise ModelFileError(f"{manifest_path}: variant {manifest['variant']!r} but config.name {config.name!r}")
    model = NavPolicy(config)
    try:
        state = load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{weights}: not a readable safetensors file ({exc})") from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ModelFileError(f"{weights}: weights do not fit variant {config.name!r}: {exc}") from exc
    if parameter_count(model) != manifest["parameter_count"]:
        raise ModelFileError(
            f"{manifest_path}: parameter_count {manifest['parameter_count']} "
            f"but the weights hold {parameter_count(model)}"
        )
    model.to(device if device is not None else default_device()).eval()
    return model, config, manifest


def export_model(source: str | Path, destination: str | Path, weights_dtype: str = "float16") -> Path:
    """Load a model folder (hash-checked) and write it to ``destination`` with ``weights_dtype``
    storage, keeping its training config and metrics (e.g. a training run's model into ``models/``)."""
    model, config, manifest = load_model(source, device="cpu")
    return save_model(model, config, destination, manifest["training_config"], manifest["metrics"], weights_dtype)
