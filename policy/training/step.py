"""One optimiser step of the policy on the CPU or a CUDA GPU: the step of ``nav train`` and of ``nav bench train``.

``device: auto`` (:class:`~policy.training.config.TrainConfig`) trains on CUDA when torch sees a GPU, else on
the CPU. With ``mixed_precision`` the forward pass and the loss run under bf16 autocast on CUDA; the weights,
their gradients and AdamW's state stay float32, and bf16 needs no loss scaling. On the CPU the step is float32
whatever ``mixed_precision`` says (bf16 autocast is slower than float32 on CPUs without bf16 units). The
batch is made on the CPU (:func:`policy.training.dataset.make_batch`) and copied to the device; images go
channels-last (:func:`policy.training.loss.sequence_loss`). With ``batch_threads`` the next batches are made
in threads while the device steps (:func:`prefetched`): on a GPU the CPU-side batch otherwise takes most of
the step (``nav bench train``); on a CPU the cores are busy with the step itself and auto makes none ahead.
"""

from __future__ import annotations

import contextlib
import re
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

import torch

from policy.modeling import NavPolicy
from policy.training.config import TrainConfig
from policy.training.loss import sequence_loss

__all__ = ["Batch", "autocast_dtype", "batch_threads", "optimiser_step", "prefetched", "resolve_device"]

T = TypeVar("T")
AUTO_BATCH_THREADS_CUDA = 2
"""Threads making batches ahead on CUDA when ``batch_threads`` is -1 (auto)."""

Batch = tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor, int, torch.Tensor]
"""What :func:`policy.training.dataset.make_batch` returns: inputs, labels, valid, weights, burn-in, aux."""

_DEVICE = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device_name(name: str) -> None:
    """Raise ``ValueError`` unless ``name`` is ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
    if not _DEVICE.fullmatch(name):
        raise ValueError(f"device must be auto, cpu, cuda or cuda:N, got {name!r}")


def check_batch_threads(value: int) -> None:
    """Raise ``ValueError`` unless ``value`` is a thread count (>= 0) or -1 (auto, :func:`batch_threads`)."""
    if value < -1:
        raise ValueError(f"batch_threads must be >= 0, or -1 for auto; got {value}")


def resolve_device(name: str) -> torch.device:
    """The device ``name`` means here: ``auto`` is CUDA when torch sees a GPU, else the CPU.

    Raises:
        ValueError: a malformed name, or CUDA asked for where torch sees none (or not that many).
    """
    check_device_name(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r}: torch {torch.__version__} sees no CUDA GPU here; use auto or cpu")
        if (device.index or 0) >= torch.cuda.device_count():
            raise ValueError(f"device {name!r}: torch sees {torch.cuda.device_count()} CUDA GPU(s)")
    return device


def autocast_dtype(device: torch.device, mixed_precision: bool) -> torch.dtype | None:
    """bf16 where mixed precision is asked for and the device is a CUDA GPU that has it; else None (float32)."""
    if mixed_precision and device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return None


def optimiser_step(
    model: NavPolicy,
    optimizer: torch.optim.Optimizer,
    batch: Batch,
    config: TrainConfig,
    lr: float,
    amp: torch.dtype | None = None,
    reduce: Callable[[NavPolicy], None] | None = None,
) -> tuple[float, dict[str, float], int]:
    """One AdamW step at ``lr`` on ``batch`` (on the model's device) under ``config``'s loss weights and
    gradient clip, the forward pass under ``amp`` autocast (None: float32); ``reduce`` runs between the
    backward pass and the clip (data-parallel training averages the gradients there). Returns the loss, its
    parts and the number of samples trained on."""
    inputs, labels, valid, weights, burn, aux = batch
    for group in optimizer.param_groups:
        group["lr"] = lr
    autocast = (
        torch.autocast(device_type=labels.device.type, dtype=amp) if amp is not None else contextlib.nullcontext()
    )
    with autocast:
        loss, parts = sequence_loss(
            model,
            inputs,
            labels,
            valid,
            weights,
            burn,
            aux,
            config.aux_weight,
            config.stop_weight,
            config.aux_distance_scale,
        )
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if reduce is not None:
        reduce(model)
    if config.grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
    optimizer.step()
    return loss.item(), parts, int((weights > 0).sum())


def batch_threads(device: torch.device, configured: int) -> int:
    """Threads that make batches ahead: ``configured``, or for -1 (auto) :data:`AUTO_BATCH_THREADS_CUDA` on
    CUDA and none on the CPU."""
    if configured >= 0:
        return configured
    return AUTO_BATCH_THREADS_CUDA if device.type == "cuda" else 0


def prefetched(make: Callable[[T], Batch], items: Iterable[T], threads: int) -> Generator[Batch, None, None]:
    """``make(item)`` for each item, in order; with ``threads`` > 0 up to that many made ahead in a thread pool
    while the caller uses the current one (a batch is a pure function of its item: the same batches either
    way). Closing the iterator early waits for the ones in flight."""
    if threads <= 0:
        yield from map(make, items)
        return
    source = iter(items)
    with ThreadPoolExecutor(threads, thread_name_prefix="nav-batch") as pool:
        pending: deque[Future[Batch]] = deque()

        def submit_next() -> None:
            for item in source:
                pending.append(pool.submit(make, item))
                return

        for _ in range(threads):
            submit_next()
        while pending:
            batch = pending.popleft().result()
            submit_next()
            yield batch
