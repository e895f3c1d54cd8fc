"""Torch's intra-op thread count set for one block and put back after it, whatever the block raised.

``torch.set_num_threads`` is process-wide: an encoder that needs one thread for reproducible last bits, or a
benchmark that measures at a given count, must not leave the caller's models on another count.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block with ``torch.set_num_threads(threads)``; ``None`` or ``0`` leaves the count as it is."""
    import torch

    if not threads:
        yield
        return
    if threads < 0:
        raise ValueError(f"torch thread count must be positive (or 0/None: unchanged), got {threads}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
