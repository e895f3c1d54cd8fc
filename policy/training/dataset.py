"""Training data as sequences: the episodes' raw arrays cut into truncated-BPTT sequences, and their batches.

Episodes are cut into chunks of ``sequence_length`` steps. A chunk that starts an episode starts from the
zero GRU memory, exactly as on the robot. A later chunk starts from a memory *burned in* without gradient
over the ``burn_in`` steps before it (from zero), an approximation of the memory the robot would carry
that needs no stored state. Raw observations are kept; every batch goes through ``PolicyProcessor.batch``
(each row through ``PolicyProcessor.prepare``, as on the robot), the instruction embeddings passed in as
arrays computed once per unique instruction string.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from policy.data import AUX_COLUMNS, Episode
from policy.processing import PolicyProcessor, ScanGeometry


class SequenceDataset:
    """Episodes as one set of raw arrays, cut into training sequences with burn-in.

    Args:
        episodes: The demonstration episodes.
        embeddings: Instruction string -> ``(text_dim,)`` embedding, for every episode's instruction.
        sequence_length: Steps per sequence.
        burn_in: Steps of gradient-free memory warm-up before a sequence that does not start an episode.
    """

    def __init__(
        self,
        episodes: Sequence[Episode],
        embeddings: dict[str, np.ndarray],
        sequence_length: int,
        burn_in: int,
    ) -> None:
        if not episodes:
            raise ValueError("no episodes to train on")
        self.images = np.concatenate([e.images for e in episodes])
        self.scans = np.concatenate([e.scans for e in episodes])
        self.odom = np.concatenate([e.odom for e in episodes])
        self.labels = np.concatenate([e.labels for e in episodes])
        missing = np.full((1, len(AUX_COLUMNS)), np.nan, dtype=np.float32)
        self.aux = np.concatenate(
            [e.aux if e.aux is not None else np.repeat(missing, len(e), axis=0) for e in episodes]
        ).astype(np.float32)
        names = sorted({e.instruction for e in episodes})
        self.text_table = np.stack([embeddings[n] for n in names]).astype(np.float32)
        lengths = np.array([len(e) for e in episodes])
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self.text_index = np.repeat([names.index(e.instruction) for e in episodes], lengths)
        self.sequence_length = sequence_length
        self.burn_in = burn_in
        chunk_starts, chunk_offsets, chunk_ends = [], [], []
        for start, n in zip(starts, lengths, strict=True):
            for offset in range(0, int(n), sequence_length):
                chunk_starts.append(start + offset)
                chunk_offsets.append(offset)
                chunk_ends.append(start + n)
        self.chunk_start = np.array(chunk_starts, dtype=np.int64)
        self.chunk_offset = np.array(chunk_offsets, dtype=np.int64)
        self.chunk_end = np.array(chunk_ends, dtype=np.int64)
        self.weights = np.ones(len(self.labels), dtype=np.float32)
        """Loss weight of each step (all 1 unless the trainer sets them, e.g.
        :func:`policy.training.loss.near_obstacle_weights`)."""

    def __len__(self) -> int:
        """Number of sequences."""
        return len(self.chunk_start)

    @property
    def samples(self) -> int:
        return len(self.labels)

    def epoch_batches(self, rng: np.random.Generator, batch_sequences: int) -> list[np.ndarray]:
        """A shuffled split of the sequences into batches (a last batch of one sequence is dropped:
        BatchNorm needs two rows)."""
        order = rng.permutation(len(self))
        batches = [order[i : i + batch_sequences] for i in range(0, len(order), batch_sequences)]
        return [b for b in batches if len(b) >= 2]

    def layout(self, chunks: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Row indices ``(B, W)``, ``valid`` and ``train`` masks ``(B, W)`` and the burn-in width.

        Column ``burn`` is every sequence's first training step; a sequence with a shorter burn-in
        (near its episode start) or that ends early is padded with its nearest real row (masked out).
        """
        start, offset, end = self.chunk_start[chunks], self.chunk_offset[chunks], self.chunk_end[chunks]
        burn_each = np.minimum(offset, self.burn_in)
        burn = int(burn_each.max())
        width = burn + self.sequence_length
        cols = np.arange(width)[None, :] - burn  # relative to the first training step
        rows = start[:, None] + cols
        first = (start - burn_each)[:, None]
        valid = (rows >= first) & (rows < end[:, None])
        train = valid & (cols >= 0)
        rows = np.clip(rows, first, end[:, None] - 1)
        return rows, valid, train, burn


def make_batch(
    dataset: SequenceDataset,
    chunks: np.ndarray,
    processor: PolicyProcessor,
    geometry: ScanGeometry,
    device: torch.device | str = "cpu",
) -> tuple[Any, torch.Tensor, torch.Tensor, torch.Tensor, int, torch.Tensor]:
    """Pre-process the rows of ``chunks`` through ``PolicyProcessor.batch`` (each distinct row once, on the
    CPU), the tensors then on ``device``. The ``train`` mask it returns carries the dataset's step weights."""
    rows, valid, train, burn = dataset.layout(chunks)
    unique, inverse = np.unique(rows.reshape(-1), return_inverse=True)
    prepared = processor.batch(
        dataset.images[unique],
        dataset.scans[unique],
        geometry,
        dataset.text_table[dataset.text_index[unique]],
        dataset.odom[unique],
    )
    gather = torch.from_numpy(inverse.reshape(-1)).to(device)
    inputs = type(prepared)(*(x.to(device)[gather] for x in prepared.as_tuple()))  # distinct rows copied once
    labels = torch.from_numpy(processor.normalise_action(dataset.labels[rows])).to(device)
    aux = torch.from_numpy(dataset.aux[rows]).to(device)
    weights = torch.from_numpy(train * dataset.weights[rows]).to(device)
    return inputs, labels, torch.from_numpy(valid).to(device), weights, burn, aux


def embed_instructions(processor: PolicyProcessor, episodes: Sequence[Episode], cache: dict[str, np.ndarray]) -> None:
    """Add to ``cache`` the embedding of every instruction of ``episodes`` it lacks (the sentence encoder
    runs once per distinct string)."""
    for instruction in sorted({e.instruction for e in episodes} - set(cache)):
        cache[instruction] = processor.text(instruction)
