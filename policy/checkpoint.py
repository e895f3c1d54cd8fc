"""Training checkpoints without pickle: weights and optimizer state as safetensors, the rest as JSON.

A checkpoint is a folder ``<root>/step-<global step, 9 digits>/`` holding

* ``state.safetensors``: every model tensor under ``model.<name>`` and every tensor of the
  optimizer's per-parameter state under ``optim.<param index>.<key>`` (Adam's ``exp_avg``,
  ``exp_avg_sq`` and ``step``);
* ``state.json``: the optimizer's ``param_groups`` and non-tensor per-parameter values, plus the
  caller's training progress (stage, epoch, batch, global step, RNG states as plain ints/lists).

The folder is written under a temporary name and renamed into place, so a kill leaves either the
previous checkpoint or the new one, never half of one (:func:`latest_checkpoint` ignores leftovers).
Nothing here calls ``torch.save``/``torch.load``: a checkpoint cannot run code when it is read.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

__all__ = [
    "CHECKPOINT_FORMAT",
    "Checkpoint",
    "CheckpointError",
    "latest_checkpoint",
    "load_checkpoint",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = 1
"""Version of the checkpoint layout; loading another version is refused."""
_TENSORS = "state.safetensors"
_SIDECAR = "state.json"
_PREFIX = "step-"


class CheckpointError(ValueError):
    """A checkpoint folder that is incomplete, of another format or does not fit the model/optimizer."""


@dataclass
class Checkpoint:
    """What :func:`load_checkpoint` read (apply it with :meth:`restore`)."""

    path: Path
    model_state: dict[str, torch.Tensor]
    optimizer_state: dict[str, Any]
    progress: dict[str, Any]
    """The ``progress`` mapping given to :func:`save_checkpoint`."""

    def restore(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer | None = None) -> None:
        """Load the weights (``strict=True``) and, if given, the optimizer state into live objects."""
        try:
            model.load_state_dict(self.model_state, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(f"{self.path}: weights do not fit the model: {exc}") from exc
        if optimizer is not None:
            try:
                optimizer.load_state_dict(self.optimizer_state)
            except (ValueError, KeyError) as exc:
                raise CheckpointError(f"{self.path}: optimizer state does not fit: {exc}") from exc


def _flatten_optimizer(state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for index, per_param in state["state"].items():
        for key, value in per_param.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim.{index}.{key}"] = value.detach().to("cpu").contiguous()
            else:
                scalars.setdefault(str(index), {})[key] = value
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(tensors: dict[str, torch.Tensor], sidecar: dict[str, Any]) -> dict[str, Any]:
    per_param: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        _, index, key = name.split(".", 2)
        per_param.setdefault(int(index), {})[key] = value
    for index, values in sidecar["scalars"].items():
        per_param.setdefault(int(index), {}).update(values)
    groups = [{k: tuple(v) if k == "betas" else v for k, v in group.items()} for group in sidecar["param_groups"]]
    return {"state": per_param, "param_groups": groups}


def save_checkpoint(
    root: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    progress: dict[str, Any],
    keep: int = 2,
) -> Path:
    """Write ``<root>/step-<progress['global_step']>/`` atomically; keep the newest ``keep`` checkpoints.

    ``progress`` must hold an int ``global_step`` and be JSON-serialisable (plain ints, floats,
    strings, lists, dicts).
    """
    root = Path(root)
    step = int(progress["global_step"])
    final = root / f"{_PREFIX}{step:09d}"
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    tensors = {f"model.{k}": v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    optim_tensors, optim_json = _flatten_optimizer(optimizer.state_dict())
    tensors.update(optim_tensors)
    save_file(tensors, str(tmp / _TENSORS), metadata={"format": "nav-train-checkpoint"})
    sidecar = {"format": CHECKPOINT_FORMAT, "optimizer": optim_json, "progress": progress}
    (tmp / _SIDECAR).write_text(json.dumps(sidecar, indent=1) + "\n", encoding="utf-8")
    if final.exists():  # the same step saved twice (e.g. a step that is also an epoch end)
        shutil.rmtree(final)
    tmp.rename(final)
    for old in _complete(root)[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


def _complete(root: Path) -> list[Path]:
    if not root.is_dir():
        return []
    found = [
        d
        for d in root.iterdir()
        if d.is_dir() and d.name.startswith(_PREFIX) and (d / _TENSORS).is_file() and (d / _SIDECAR).is_file()
    ]
    return sorted(found, key=lambda d: d.name)


def latest_checkpoint(root: str | Path) -> Path | None:
    """The newest complete checkpoint folder under ``root``, or ``None``."""
    found = _complete(Path(root))
    return found[-1] if found else None


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint folder written by :func:`save_checkpoint` (CPU tensors)."""
    path = Path(path)
    try:
        sidecar = json.loads((path / _SIDECAR).read_text(encoding="utf-8"))
        tensors = load_file(str(path / _TENSORS), device="cpu")
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc})") from exc
    if sidecar.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"{path}: checkpoint format {sidecar.get('format')!r}, expected {CHECKPOINT_FORMAT}")
    model_state = {k.removeprefix("model."): v for k, v in tensors.items() if k.startswith("model.")}
    optim_tensors = {k: v for k, v in tensors.items() if k.startswith("optim.")}
    return Checkpoint(
        path=path,
        model_state=model_state,
        optimizer_state=_unflatten_optimizer(optim_tensors, sidecar["optimizer"]),
        progress=sidecar["progress"],
    )
