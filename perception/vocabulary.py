"""The held-out grounding vocabulary and the measurement of a grounder on it (``nav eval-grounding``).

``configs/vocabulary.yaml`` (written by ``scripts/make_vocabulary.py``, never by hand) holds colour names
labelled by their name (a held colour, or null: no colour the worlds hold), shape words (a held shape, or
null) and sentence forms, each in the half ``tune`` (thresholds may be tuned on it) or ``report`` (the
figures are read on it). :func:`compose` draws instructions from one half; :func:`score` grounds each and
counts what came out:

* ``accuracy``: grounded to the expected (colour, shape), over the cases whose object exists;
* ``wrong_object_rate``: grounded to any other object, over all cases (a case whose object does not exist
  and that was grounded to something counts here);
* ``refusal_rate``: refused (:class:`~perception.errors.InstructionError`), over the cases whose object exists;
* ``correct_refusal_rate``: refused, over the cases whose object does not exist.
"""

from __future__ import annotations

import contextlib
import functools
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from configs.loader import load
from perception.errors import InstructionError

__all__ = [
    "phrase_goal",
    "report_half",
    "HALVES",
    "Case",
    "ColourEntry",
    "FormEntry",
    "GroundingEvalConfig",
    "ShapeEntry",
    "Vocabulary",
    "compose",
    "evaluate",
    "load_vocabulary",
    "score",
    "without_colour_slot",
]

Half = Literal["tune", "report"]
HALVES: tuple[Half, ...] = ("tune", "report")
DEFAULT_PATH = "vocabulary.yaml"
"""The vocabulary file, relative to ``configs/``."""
OBJECT = "{object}"
COLOUR = "{colour}"


def without_colour_slot(text: str) -> str:
    """A shape entry's words without its ``{colour}`` slot ("round {colour} ball" -> "round ball")."""
    return " ".join(text.replace(COLOUR, " ").split())


@dataclass(frozen=True)
class ColourEntry:
    text: str
    """The colour name as a person says it ("cobalt blue")."""
    colour: str | None
    """The held colour its name names, or None: no colour the worlds hold (must be refused)."""
    half: Half
    source: str = ""
    """Where the name came from ("xkcd:cobalt blue"; "from:cobalt blue" for the part before its head)."""

    def __post_init__(self) -> None:
        if not self.text.strip():
            raise ValueError("a colour entry has an empty text")


@dataclass(frozen=True)
class ShapeEntry:
    text: str
    """The shape's words; ``{colour}`` marks where the colour goes when it is not first ("round {colour} ball")."""
    shape: str | None
    """The held shape it names, or None: no shape the worlds hold (must be refused)."""
    half: Half

    def __post_init__(self) -> None:
        if not self.text.replace(COLOUR, "").strip():
            raise ValueError(f"shape entry {self.text!r} has no words")
        if self.text.count(COLOUR) > 1:
            raise ValueError(f"shape entry {self.text!r} has {COLOUR} more than once")

    @property
    def words(self) -> str:
        """The shape's words alone ("round ball"): what a grounder compares a head noun with."""
        return without_colour_slot(self.text)

    def phrase(self, colour: str) -> str:
        """The noun phrase with ``colour`` ("cobalt blue" + "round {colour} ball" -> "round cobalt blue ball")."""
        return self.text.replace(COLOUR, colour) if COLOUR in self.text else f"{colour} {self.text}"


@dataclass(frozen=True)
class FormEntry:
    text: str
    """A sentence with ``{object}`` where the noun phrase goes (the determiner is in the form)."""
    half: Half

    def __post_init__(self) -> None:
        if self.text.count(OBJECT) != 1:
            raise ValueError(f"form {self.text!r} must contain {OBJECT} exactly once")

    def fill(self, phrase: str) -> str:
        return self.text.replace(OBJECT, phrase)


@dataclass(frozen=True)
class Vocabulary:
    """``configs/vocabulary.yaml``: every key is checked (:func:`configs.loader.from_mapping`)."""

    colours: tuple[ColourEntry, ...]
    shapes: tuple[ShapeEntry, ...]
    forms: tuple[FormEntry, ...]
    sources: dict[str, str] = field(default_factory=dict)
    counts: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    """Entries per label and half, as the generator wrote them (for the reader; :meth:`sizes` counts)."""

    def __post_init__(self) -> None:
        for name in ("colours", "shapes", "forms"):
            texts = [e.text for e in getattr(self, name)]
            if not texts:
                raise ValueError(f"the vocabulary has no {name}")
            repeated = sorted(t for t, k in Counter(texts).items() if k > 1)
            if repeated:
                raise ValueError(f"{name} lists {repeated[0]!r} more than once")

    def half(self, name: str) -> Vocabulary:
        """Only the entries of half ``name`` (``tune`` or ``report``)."""
        if name not in HALVES:
            raise ValueError(f"unknown vocabulary half {name!r}; expected one of {list(HALVES)}")
        return Vocabulary(
            tuple(e for e in self.colours if e.half == name),
            tuple(e for e in self.shapes if e.half == name),
            tuple(e for e in self.forms if e.half == name),
            self.sources,
        )

    def sizes(self) -> dict[str, Any]:
        """Entries per label (``null``: none the worlds hold) and in all."""

        def per_label(labels: list[str | None]) -> dict[str, int]:
            return {"total": len(labels)} | dict(sorted(Counter(lab or "null" for lab in labels).items()))

        return {
            "colours": per_label([e.colour for e in self.colours]),
            "shapes": per_label([e.shape for e in self.shapes]),
            "forms": len(self.forms),
        }


def load_vocabulary(path: str | Path | None = None) -> Vocabulary:
    """The vocabulary in ``path`` (default ``configs/vocabulary.yaml``); ConfigError naming a bad key."""
    return load(Vocabulary, DEFAULT_PATH if path is None else path)


# -- cases -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One instruction and what it should ground to."""

    text: str
    colour: str | None
    """The colour entry's label (None: no such colour in the worlds)."""
    shape: str | None
    colour_entry: ColourEntry
    shape_entry: ShapeEntry
    form: FormEntry

    @property
    def expected(self) -> tuple[str, str] | None:
        """The (colour, shape) to ground to, or None: the instruction must be refused."""
        if self.colour is None or self.shape is None:
            return None
        return (self.colour, self.shape)

    @property
    def phrase(self) -> str:
        """The noun phrase without the form ("cobalt blue tin can")."""
        return self.shape_entry.phrase(self.colour_entry.text)

    @property
    def kind(self) -> str:
        """``object``, or which part names nothing the worlds hold: ``colour null``, ``shape null``, ``both null``."""
        if self.colour is None and self.shape is None:
            return "both null"
        if self.colour is None:
            return "colour null"
        return "shape null" if self.shape is None else "object"


def _cycled(rng: np.random.Generator, size: int, n: int) -> list[int]:
    """``n`` indices into ``size`` items: shuffled rounds of all of them, so each is drawn n/size times (±1)."""
    out: list[int] = []
    while len(out) < n:
        out.extend(int(i) for i in rng.permutation(size))
    return out[:n]


def compose(vocabulary: Vocabulary, half: str, n: int, seed: int) -> list[Case]:
    """``n`` instructions from half ``half``: a colour entry, a shape entry and a form, each drawn uniformly
    (in shuffled rounds, so every entry is used equally often, ±1) and independently; seeded, reproducible."""
    if n < 0:
        raise ValueError(f"the number of cases must be >= 0, got {n}")
    part = vocabulary.half(half)
    rng = np.random.default_rng(seed)
    colours = _cycled(rng, len(part.colours), n)
    shapes = _cycled(rng, len(part.shapes), n)
    forms = _cycled(rng, len(part.forms), n)
    cases = []
    for c, s, f in zip(colours, shapes, forms, strict=True):
        colour, shape, form = part.colours[c], part.shapes[s], part.forms[f]
        text = form.fill(shape.phrase(colour.text))
        cases.append(Case(text, colour.colour, shape.shape, colour, shape, form))
    return cases


@functools.lru_cache(maxsize=1)
def report_half() -> Vocabulary:
    """The ``report`` half of the shipped vocabulary (read once)."""
    return load_vocabulary().half("report")


def phrase_goal(vocabulary: Vocabulary, colour: str, shape: str, rng: np.random.Generator) -> str:
    """An instruction naming the object (``colour``, ``shape``) in ``vocabulary``'s words: a colour entry labelled
    ``colour``, a shape entry labelled ``shape`` and a form, each drawn uniformly with ``rng``."""
    colours = [e for e in vocabulary.colours if e.colour == colour]
    shapes = [e for e in vocabulary.shapes if e.shape == shape]
    if not colours or not shapes:
        raise ValueError(f"the vocabulary has no words for the {colour} {shape}")
    c = colours[int(rng.integers(len(colours)))]
    s = shapes[int(rng.integers(len(shapes)))]
    form = vocabulary.forms[int(rng.integers(len(vocabulary.forms)))]
    return form.fill(s.phrase(c.text))


# -- the measurement ---------------------------------------------------------------------------------------


class GroundingLike(Protocol):
    """What a grounder answers (:class:`perception.grounding.Grounding` is one)."""

    @property
    def colour(self) -> str: ...

    @property
    def shape(self) -> str: ...


Ground = Callable[[str], GroundingLike]


def _percentiles(values_s: Sequence[float]) -> dict[str, float | None]:
    if not values_s:
        return {"p50": None, "p99": None}
    ms = np.asarray(values_s, dtype=np.float64) * 1000.0
    return {"p50": round(float(np.percentile(ms, 50)), 4), "p99": round(float(np.percentile(ms, 99)), 4)}


def _rate(k: int, n: int) -> float | None:
    return round(k / n, 4) if n else None


def score(
    cases: Sequence[Case],
    ground: Ground,
    clear: Callable[[], None] | None = None,
    top: int = 20,
    clock: Callable[[], float] = time.perf_counter,
    first_call_cases: int | None = None,
) -> dict[str, Any]:
    """Ground every case's text with ``ground`` and count the outcomes (the module docstring's rates).

    A refusal is an :class:`InstructionError`; any other exception is a bug and propagates. Each case is
    grounded twice: after ``clear()`` (the grounder's caches emptied: ``first_call`` latency; only the first
    ``first_call_cases`` cases when given, a sample: a fresh grounder re-embeds its word lists) and at once
    again (``cached``). ``by_colour`` / ``by_shape`` / ``by_kind`` / ``by_form`` count, per expected label,
    ``right`` (the expected object; for a null label, a refusal), ``wrong`` (another object) and ``refused``.
    ``top_wrong`` and ``top_refused`` are the ``top`` most frequent noun phrases grounded wrongly, and
    refused though their object exists, with example instructions.
    """
    right = wrong = refused = 0
    n_object = n_null = refused_object = refused_null = 0
    first: list[float] = []
    cached: list[float] = []
    by: dict[str, dict[str, dict[str, int]]] = {
        k: defaultdict(lambda: {"n": 0, "right": 0, "wrong": 0, "refused": 0})
        for k in ("by_colour", "by_shape", "by_kind", "by_form")
    }
    wrong_counts: Counter[tuple[str, str, str]] = Counter()
    refused_counts: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, ...], list[str]] = defaultdict(list)
    reasons: dict[tuple[str, str], str] = {}

    for index, case in enumerate(cases):
        timed_first = clear is not None and (first_call_cases is None or index < first_call_cases)
        if timed_first:
            clear()  # type: ignore[misc]
        start = clock()
        got: tuple[str, str] | None
        reason = ""
        try:
            g = ground(case.text)
            got = (g.colour, g.shape)
        except InstructionError as exc:
            got, reason = None, str(exc)
        if timed_first:
            first.append(clock() - start)
        start = clock()
        with contextlib.suppress(InstructionError):
            ground(case.text)
        cached.append(clock() - start)

        expected = case.expected
        if expected is None:
            n_null += 1
        else:
            n_object += 1
        if got is None:
            refused += 1
            if expected is None:
                refused_null += 1
                outcome = "right"
            else:
                refused_object += 1
                outcome = "refused"
                key2 = (case.phrase, " ".join(expected))
                refused_counts[key2] += 1
                reasons.setdefault(key2, reason)
                if len(examples[key2]) < 2:
                    examples[key2].append(case.text)
        elif got == expected:
            right += 1
            outcome = "right"
        else:
            wrong += 1
            outcome = "wrong"
            key3 = (case.phrase, " ".join(expected) if expected else "refusal", " ".join(got))
            wrong_counts[key3] += 1
            if len(examples[key3]) < 2:
                examples[key3].append(case.text)
        labels = {
            "by_colour": case.colour or "null",
            "by_shape": case.shape or "null",
            "by_kind": case.kind,
            "by_form": case.form.text,
        }
        for table, lab in labels.items():
            row = by[table][lab]
            row["n"] += 1
            row[outcome] += 1
            if outcome == "right" and got is None:
                row["refused"] += 1

    result: dict[str, Any] = {
        "accuracy": _rate(right, n_object),
        "wrong_object_rate": _rate(wrong, len(cases)),
        "refusal_rate": _rate(refused_object, n_object),
        "correct_refusal_rate": _rate(refused_null, n_null),
        "counts": {
            "cases": len(cases),
            "object_exists": n_object,
            "object_null": n_null,
            "right": right,
            "wrong_object": wrong,
            "refused": refused,
            "refused_object_exists": refused_object,
            "refused_object_null": refused_null,
        },
        "top_wrong": [
            {"phrase": p, "expected": e, "got": g, "count": k, "examples": examples[(p, e, g)]}
            for (p, e, g), k in wrong_counts.most_common(top)
        ],
        "top_refused": [
            {"phrase": p, "expected": e, "count": k, "reason": reasons[(p, e)], "examples": examples[(p, e)]}
            for (p, e), k in refused_counts.most_common(top)
        ],
        "latency_ms": {"first_call": _percentiles(first), "cached": _percentiles(cached)},
    }
    for table, rows in by.items():
        result[table] = {lab: dict(row) for lab, row in sorted(rows.items())}
    return result


# -- the command's config and function -------------------------------------------------------------------------


@dataclass(frozen=True)
class GroundingEvalConfig:
    """``nav eval-grounding``: which half of which vocabulary, how many cases."""

    half: Half = "report"
    """``report`` (the figures; nothing is tuned on it) or ``tune``."""
    cases: int = 3000
    """Instructions composed and grounded."""
    seed: int = 0
    """Seeds the composition (the same seed, the same instructions)."""
    vocabulary: str = DEFAULT_PATH
    """The vocabulary file (relative paths resolve in ``configs/``)."""
    top: int = 20
    """How many of the most frequent wrong groundings (and refusals) to list."""
    first_call_cases: int = 200
    """Cases whose first call is timed on an emptied cache (a fresh grounder re-embeds its word lists)."""

    def __post_init__(self) -> None:
        if self.half not in HALVES:
            raise ValueError(f"half must be one of {list(HALVES)}, got {self.half!r}")
        if self.cases < 1:
            raise ValueError(f"cases must be >= 1, got {self.cases}")
        if self.top < 0:
            raise ValueError(f"top must be >= 0, got {self.top}")


def evaluate(config: GroundingEvalConfig, ground: Ground, clear: Callable[[], None] | None = None) -> dict[str, Any]:
    """Compose ``config.cases`` instructions of ``config.half`` and :func:`score` ``ground`` on them."""
    vocabulary = load_vocabulary(config.vocabulary)
    cases = compose(vocabulary, config.half, config.cases, config.seed)
    result = score(cases, ground, clear=clear, top=config.top, first_call_cases=config.first_call_cases)
    result.update(
        half=config.half,
        seed=config.seed,
        vocabulary=config.vocabulary,
        vocabulary_sizes=vocabulary.half(config.half).sizes(),
    )
    return result
