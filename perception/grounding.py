"""Instruction grounding: any phrasing -> the (colour, shape) the policy knows -> one canonical phrase.

The policy is trained on a small object vocabulary (the simulator's target colours and shapes). A
robot's operator uses words training never saw: "head over to the cobalt crate". The sentence
encoder alone does not carry such words to the right object (measured with all-MiniLM-L6-v2, the
words "scarlet", "navy" and "lime" are nearer "orange", "orange" and "purple" than "red", "blue" and
"green": ``tests/test_grounding.py``), so the instruction is grounded before it reaches the policy,
and what cannot be grounded with confidence is refused: a wrong object is worse than a refusal.

**The noun phrase.** Words are split into colour runs (colour names, their modifiers "dark",
"pale", ..., and "-ish" forms) and the rest. The object is the head of the noun phrase that
follows a colour run: the last word before a word that ends the phrase (a preposition, a verb, a
conjunction: :data:`PHRASE_ENDS`), so "the red round ball near the wall" has the head "ball" and
the modifier "round". A colour given after its noun ("the ball that is green") is taken with the
clearest shape word of the sentence. Two different objects named ("the red cube and the blue ball")
are refused.

**Colour.** A run holding a basic colour term is that term ("sky blue", "blood red", "dark blue");
its last term decides ("bluish green" is green), two terms of equal standing are ambiguous ("blue
green"); a basic term the worlds do not hold ("purple", "pink", ...: :data:`OTHER_COLOUR_TERMS`) is
refused. A run of other colour names ("cobalt", "navy", "crimson") is looked up in the colour-name
lexicons (the 949 names of the XKCD colour survey, then the CSS4 names, both shipped with
matplotlib) and its sRGB is classified by the nearest named colours of the grounding vocabulary's
``tune`` half (``configs/vocabulary.yaml``: names labelled by the colour term people put in them,
"cobalt blue" -> blue), in Oklab with lightness down-weighted (a shaded object keeps its hue): a
clear majority of a known colour grounds it, anything else is refused with the nearest candidates.

**Shape.** A shape word of the vocabulary's ``tune`` half is labelled there. Any other head noun (first
the compound it ends, when WordNet holds it: "beach ball") is read by what WordNet says it is
(:mod:`perception.shape_words`): a kind of a labelled word ("a crate is a box"), or defined as
cylindrical, spherical or cubic, or a kind of something so defined; the common senses must agree. A closed
compound of a labelled word is read by it ("lunchbox": a box). A modifier that says a shape
("cylindrical", "cube-shaped") names it when the head does not ("the spherical object"), and a
modifier and a head that disagree are refused. A word WordNet lacks, or holds but says nothing of the
thing's shape in ("bauble": cheap showy jewelry; its singular read first), is compared by sentence-encoder
cosine with the labelled words: a clear majority of the nearest, close enough, grounds it; less close,
it grounds only the shape WordNet leans to ("pearl": a jewel, or "a small sphere"). The encoder's vote for a
word WordNet holds stands only when the labelled words nearest it in WordNet's tree hold that shape too (the
encoder puts "cup" nearest "ball"; a cup's kin are boxes and cans). "the red container" is too general to
name a shape unless a modifier does. Words for
things the worlds do not hold are labelled as such and refuse. "the red one" names no shape: refused
with the candidates, unless the caller knows the objects present and only one is red (``present``).

The policy then sees the embedding of ``canonical`` filled with the grounded colour and shape
(:meth:`InstructionGrounder.canonical`), the same in training and on the robot. Refusals are
:class:`~perception.errors.InstructionError` naming what was missing and offering candidates.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from perception.errors import InstructionError
from perception.language import TextEncoder, normalise_instruction
from perception.shape_words import ShapeLexicon, shape_of_adjective

__all__ = [
    "OTHER_COLOUR_TERMS",
    "PHRASE_ENDS",
    "Grounding",
    "GroundingConfig",
    "InstructionGrounder",
    "lexicon_rgb",
    "oklab",
]

OTHER_COLOUR_TERMS = frozenset(
    [
        "purple",
        "violet",
        "pink",
        "magenta",
        "orange",
        "brown",
        "grey",
        "gray",
        "black",
        "white",
        "beige",
        "tan",
        "maroon",
        "lavender",
        "lilac",
        "mauve",
        "indigo",
        "cyan",
        "teal",
        "turquoise",
        "aqua",
        "olive",
        "khaki",
        "silver",
        "cream",
        "ivory",
        "peach",
        "salmon",
    ]
)
"""Colour terms that name a colour of their own (not a kind of red, green, blue or yellow): refused unless known."""
MODIFIERS = frozenset(
    [
        "dark",
        "light",
        "pale",
        "bright",
        "deep",
        "vivid",
        "pastel",
        "dull",
        "soft",
        "rich",
        "muted",
        "neon",
        "medium",
        "hot",
        "dusty",
        "faded",
        "warm",
        "cool",
        "lighter",
        "darker",
        "brighter",
        "paler",
        "deeper",
        "very",
        "really",
        "pure",
        "true",
        "electric",
        "fluorescent",
        "dim",
        "strong",
        "intense",
        "royal",
        "baby",
        "dirty",
    ]
)
"""Words that shade a colour without naming one ("dark blue" is blue)."""
_ISH = re.compile(r"^(.+?)(?:ish|y)$")
PHRASE_ENDS = frozenset(
    [
        ".",
        ",",
        ";",
        ":",
        "!",
        "?",
        "by",
        "near",
        "next",
        "beside",
        "on",
        "in",
        "at",
        "with",
        "to",
        "from",
        "of",
        "behind",
        "under",
        "over",
        "that",
        "which",
        "who",
        "is",
        "are",
        "was",
        "please",
        "now",
        "there",
        "then",
        "and",
        "or",
        "but",
        "for",
        "so",
        "right",
        "left",
        "again",
        "first",
        "into",
        "onto",
        "towards",
        "toward",
        "past",
        "after",
        "before",
        "around",
        "across",
        "where",
        "if",
        "when",
        "it",
        "its",
        "this",
        "go",
        "take",
        "drive",
        "head",
        "move",
        "find",
        "get",
        "come",
        "bring",
        "navigate",
        "approach",
        "reach",
        "stop",
        "roll",
        "make",
        "see",
        "want",
        "need",
    ]
)
"""Words that end a noun phrase: what follows them is not the object's head."""
DETERMINERS = frozenset(["the", "a", "an", "that", "this", "those", "these", "my", "your", "our", "some"])
PRONOUN_HEADS = frozenset(["one", "ones", "thing", "things", "object", "objects", "item", "items", "shape", "shapes"])
"""Heads that name no shape ("the red one")."""
GENERIC_HEADS = frozenset(["container", "containers", "piece", "pieces", "form", "forms", "figure"])
"""Heads too general to name a shape, whose modifier may ("the cylindrical container")."""


@dataclass(frozen=True)
class GroundingConfig:
    """How instructions are grounded (``configs/language.yaml``, section ``grounding``)."""

    canonical: str = "go to the {colour} {shape}"
    """The phrase the policy sees, filled with the grounded colour and shape."""
    vocabulary: str = "vocabulary.yaml"
    """The labelled colour names and shape words (in ``configs/``, or a path) whose ``tune`` half grounds."""
    colour_neighbours: int = 7
    """Named colours of the vocabulary that vote on a lexicon colour's category."""
    min_colour_share: float = 0.7
    """Least (distance-weighted) share of those votes for a known colour to ground it."""
    lightness_weight: float = 0.5
    """Weight of Oklab lightness in the colour distance (hue and chroma weigh 1)."""
    min_sense_share: float = 0.55
    """Least share of a noun's WordNet senses (weighted by how common each is) that must name one known shape
    (:class:`perception.shape_words.ShapeLexicon`)."""
    shape_neighbours: int = 5
    """Shape words of the vocabulary that vote on the shape of a word WordNet does not hold."""
    min_shape_similarity: float = 0.5
    """Least sentence-encoder cosine between a head noun and its nearest shape word."""
    min_shape_share: float = 0.5
    """Least (cosine-weighted) share of the vote for a known shape to ground it."""
    min_lean_share: float = 0.25
    """Least share of a noun's WordNet senses for the shape they lean to (naming it, while the rest say nothing
    of their shape) for the encoder's agreeing vote to ground it below ``min_shape_similarity``."""
    cache_size: int = 256
    """Grounded instructions remembered (a robot receives the same one every tick)."""

    def __post_init__(self) -> None:
        if "{colour}" not in self.canonical or "{shape}" not in self.canonical:
            raise ValueError(f"grounding.canonical must contain {{colour}} and {{shape}}, got {self.canonical!r}")
        for name in ("colour_neighbours", "shape_neighbours"):
            if getattr(self, name) < 1:
                raise ValueError(f"grounding.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("min_colour_share", "min_shape_share", "min_sense_share", "min_lean_share", "lightness_weight"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"grounding.{name} must be in [0, 1], got {getattr(self, name)}")
        if not -1.0 <= self.min_shape_similarity <= 1.0:
            raise ValueError(f"grounding.min_shape_similarity must be in [-1, 1], got {self.min_shape_similarity}")
        if self.cache_size < 0:
            raise ValueError(f"grounding.cache_size must be >= 0, got {self.cache_size}")


@dataclass(frozen=True)
class Grounding:
    """What an instruction was grounded to, and the evidence."""

    colour: str
    shape: str
    colour_words: str
    """The instruction's words that named the colour."""
    colour_share: float
    """Share of the vote for the colour (1 for a colour term)."""
    shape_words: str
    """The instruction's words that named the shape."""
    shape_similarity: float
    """Confidence in the shape: 1 for a shape word of the vocabulary, the share of WordNet's senses for another
    noun, the cosine to the nearest shape word for a word WordNet lacks."""


@lru_cache(maxsize=8192)
def lexicon_rgb(name: str) -> tuple[float, float, float] | None:
    """sRGB in ``[0, 1]`` of a colour name (the XKCD survey first: what people call the colour, then the CSS4
    names, whose "azure" is nearly white; words joined by spaces), or None."""
    import matplotlib.colors as mcolors  # the lexicons ship with matplotlib

    hex_value = mcolors.XKCD_COLORS.get(f"xkcd:{name}") or mcolors.CSS4_COLORS.get(name.replace(" ", ""))
    if hex_value is None and re.search(r"\w s\b", name):  # the tokens of "robin's egg" are robin, s, egg
        return lexicon_rgb(re.sub(r"(\w) s\b", r"\1's", name))
    if hex_value is None:
        return None
    r, g, b = mcolors.to_rgb(hex_value)
    return (float(r), float(g), float(b))


def oklab(rgb: Sequence[Sequence[float]]) -> npt.NDArray[np.float64]:
    """Oklab (L, a, b) of sRGB colours in ``[0, 1]`` (Ottosson 2020: hue nearly constant along a colour's
    shades, where CIELAB bends blue toward purple)."""
    c = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)
    linear = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    lms = np.cbrt(
        linear
        @ np.array(
            [
                [0.4122214708, 0.5363325363, 0.0514459929],
                [0.2119034982, 0.6806995451, 0.1073969566],
                [0.0883024619, 0.2817188376, 0.6299787005],
            ]
        ).T
    )
    return (
        lms
        @ np.array(
            [
                [0.2104542553, 0.7936177850, -0.0040720468],
                [1.9779984951, -2.4285922050, 0.4505937099],
                [0.0259040371, 0.7827717662, -0.8086757660],
            ]
        ).T
    )


@dataclass(frozen=True)
class _Run:
    """A run of colour words: where it is, its words, and the colour it names (or why not)."""

    start: int
    end: int
    words: str
    colour: str | None
    share: float
    problem: str | None
    nearest: tuple[str, ...] = ()
    """Known colours nearest what the run names, nearest first (the candidates of a refusal)."""


class InstructionGrounder:
    """Grounds instructions to ``colours`` x ``shapes`` (see the module docstring).

    Args:
        colours: Known colour names (basic colour terms: the simulator's target colours).
        shapes: Known shape names.
        encoder: Embeds words for the shape comparison (the policy's sentence encoder).
        config: Thresholds, the vocabulary file and the canonical phrase.
        named_colours: ``(name, colour or None)`` pairs that classify lexicon colours; default the vocabulary's
            ``tune`` half.
        shape_words: ``(word, shape or None)`` pairs the head noun is compared with; default the vocabulary's
            ``tune`` half. The shape names themselves are always among them.
    """

    def __init__(
        self,
        colours: Sequence[str],
        shapes: Sequence[str],
        encoder: TextEncoder,
        config: GroundingConfig | None = None,
        named_colours: Iterable[tuple[str, str | None]] | None = None,
        shape_words: Iterable[tuple[str, str | None]] | None = None,
    ) -> None:
        if not colours or not shapes:
            raise ValueError("the grounding vocabulary needs at least one colour and one shape")
        unknown = [c for c in colours if lexicon_rgb(c) is None]
        if unknown:
            raise ValueError(f"known colours {unknown} are not colour names of the lexicon (CSS4 / XKCD)")
        self.colours = tuple(colours)
        self.shapes = tuple(shapes)
        self.config = config or GroundingConfig()
        self._encoder = encoder
        if named_colours is None or shape_words is None:
            tune_colours, tune_shapes = _tune_half(self.config.vocabulary)
            named_colours = tune_colours if named_colours is None else named_colours
            shape_words = tune_shapes if shape_words is None else shape_words
        points = [(n, c) for n, c in named_colours if lexicon_rgb(n) is not None and (c is None or c in self.colours)]
        points += [(c, c) for c in self.colours]
        self._colour_labels = [c for _, c in points]
        self._colour_points = self._weigh(oklab([lexicon_rgb(n) for n, _ in points]))  # type: ignore[misc]
        self._known_points = self._colour_points[-len(self.colours) :]
        """The known colours' own points (the last ones), for the candidates of a refusal."""
        words = {**{w: s for w, s in shape_words if s is None or s in self.shapes}, **{s: s for s in self.shapes}}
        self._shape_words = list(words)
        self._shape_labels = [words[w] for w in self._shape_words]
        self._lexicon = ShapeLexicon(self.shapes, words.items(), min_share=self.config.min_sense_share)
        self._shape_vectors: npt.NDArray[np.float32] | None = None
        self._cache: dict[str, Grounding] = {}
        self._lock = threading.Lock()

    # -- public ------------------------------------------------------------------------------------

    def ground(self, instruction: str, present: Sequence[tuple[str, str]] | None = None) -> Grounding:
        """The (colour, shape) ``instruction`` names; InstructionError if it names none, or several, or is not a
        valid instruction (:func:`perception.language.normalise_instruction`). ``present``: the (colour, shape)
        objects known to be there, which settle "the red one" when only one is red."""
        key = normalise_instruction(instruction)
        if present is not None:
            return self._ground(key, present)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        grounding = self._ground(key, None)
        if self.config.cache_size:
            with self._lock:
                if len(self._cache) >= self.config.cache_size:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = grounding
        return grounding

    def warm(self) -> InstructionGrounder:
        """Read WordNet's index and embed the shape words now (about 70 sentence-encoder calls), so the first
        instruction costs milliseconds, not the half second that would hold up a node's callbacks when it arrives."""
        self._lexicon.warm()
        if self._shape_vectors is None:
            self._shape_vectors = np.stack([self._encoder.encode(w) for w in self._shape_words])
        return self

    def clear_cache(self) -> None:
        """Forget grounded instructions and the shape words' embeddings (a fresh grounder, for timing)."""
        with self._lock:
            self._cache.clear()
            self._shape_vectors = None

    def canonical(self, instruction: str) -> str:
        """The phrase the policy sees for ``instruction`` (``config.canonical``, filled in)."""
        g = self.ground(instruction)
        return self.config.canonical.format(colour=g.colour, shape=g.shape)

    # -- the sentence --------------------------------------------------------------------------------

    def _ground(self, text: str, present: Sequence[tuple[str, str]] | None) -> Grounding:
        tokens = re.findall(r"[a-z]+|[.,;:!?]", text)  # punctuation ends a phrase
        if not any(t[0].isalpha() for t in tokens):
            raise InstructionError(f"instruction {text!r} has no words")
        runs = self._colour_runs(tokens)
        pairs = [(run, head) for run in runs if (head := self._head_after(tokens, run.end)) is not None]
        run: _Run | None
        if pairs:
            named = {(run.colour or run.words, head[0] or head[1]) for run, head in pairs}
            if len(named) > 1:
                things = " and ".join(sorted(f"the {c} {s}" for c, s in named))
                raise InstructionError(f"instruction {text!r} names several objects ({things}); name one")
            run, (shape, words, similarity) = pairs[0]
        else:  # the colour is not before a noun: "the ball that is green"
            shape, words, similarity = self._clearest_shape(tokens, runs)
            run = self._only_run(text, runs)
        return self._decide(text, run, shape, words, similarity, present)

    def _decide(
        self,
        text: str,
        run: _Run | None,
        shape: str | None,
        shape_words: str,
        similarity: float,
        present: Sequence[tuple[str, str]] | None,
    ) -> Grounding:
        colour = run.colour if run is not None else None
        if colour is None:
            why = run.problem if run is not None and run.problem else "it names no colour"
            colours = run.nearest if run is not None and run.nearest else self.colours
            options = [f"the {c} {s}" for c in colours for s in ([shape] if shape else self.shapes)]
            if len(options) > 3:
                options = self._nearest_objects(text, options)
            raise InstructionError(
                f"instruction {text!r}: {why} (known colours: {', '.join(self.colours)}); did you mean "
                f"{_either(options)}?"
            )
        if shape is None:
            matching = sorted({s for c, s in present or () if c == colour})
            if len(matching) == 1:
                shape, similarity = matching[0], 0.0
            else:
                why = f"'{shape_words}' names no shape" if shape_words else "it names no shape"
                raise InstructionError(
                    f"instruction {text!r}: {why} (known shapes: {', '.join(self.shapes)}); did you mean "
                    f"{_either([f'the {colour} {s}' for s in self.shapes])}?"
                )
        assert run is not None
        return Grounding(colour, shape, run.words, run.share, shape_words, similarity)

    def _nearest_objects(self, text: str, options: list[str], n: int = 3) -> list[str]:
        """The ``n`` options whose phrase is nearest the instruction's (sentence-encoder cosine)."""
        said = self._encoder.encode(text)
        scores = [float(self._encoder.encode(f"go to {o}") @ said) for o in options]
        return [options[k] for k in np.argsort(scores)[::-1][:n]]

    def _only_run(self, text: str, runs: list[_Run]) -> _Run | None:
        """The colour of a sentence whose colour is not before a noun ("the ball that is green")."""
        named = {r.colour for r in runs if r.colour is not None}
        if len(named) > 1:
            raise InstructionError(f"instruction {text!r} names several colours {sorted(named)}; name one object")
        with_colour = [r for r in runs if r.colour is not None]
        return with_colour[0] if with_colour else (runs[0] if runs else None)

    # -- colour ------------------------------------------------------------------------------------------

    def _colour_runs(self, tokens: list[str]) -> list[_Run]:
        runs, i = [], 0
        while i < len(tokens):
            j = i
            while j < len(tokens) and self._colourish(tokens, j):
                j += 1
            if j - i > 1 and (j == len(tokens) or tokens[j] in PHRASE_ENDS) and _lexicon_only(tokens[j - 1]):
                j -= 1  # "the red brick": the phrase's last word is its noun, though it names a colour too
            if j > i:
                run = self._read_run(i, j, tokens[i:j])
                if run is not None:
                    runs.append(run)
                i = j
            else:
                i += 1
        return runs

    def _colourish(self, tokens: list[str], j: int) -> bool:
        word = tokens[j]
        if word in PHRASE_ENDS or word in DETERMINERS or word in PRONOUN_HEADS:
            return False
        if word in MODIFIERS or _term(word) is not None:
            return True
        if lexicon_rgb(word) is not None:
            return True
        # part of a multi-word lexicon name ("robin egg blue", "fire engine red")
        return any(
            lexicon_rgb(" ".join(tokens[a : a + n])) is not None
            for n in (2, 3)
            for a in range(max(0, j - n + 1), j + 1)
            if a + n <= len(tokens)
        )

    def _read_run(self, start: int, end: int, words: list[str]) -> _Run | None:
        phrase = " ".join(words)
        terms = [(k, t) for k, w in enumerate(words) if (t := _term(w)) is not None]
        if not terms and all(w in MODIFIERS for w in words):
            return None  # "light", "dark" alone: no colour named
        if terms:
            heads = [(k, t) for k, t in terms if not _is_ish_modifier(words, k)]
            decisive = {t for _, t in heads} or {terms[-1][1]}
            if (
                len(decisive) > 1
                and heads[-1][1] in self.colours
                and not (decisive - {heads[-1][1]}) & set(self.colours)
            ):
                decisive = {heads[-1][1]}  # "olive green", "teal blue": another colour shades the named one
            if len(decisive) > 1:
                why = f"'{phrase}' names several colours {sorted(decisive)}"
                return _Run(start, end, phrase, None, 0.0, why, tuple(c for c in self.colours if c in decisive))
            term = decisive.pop()
            if term in self.colours:
                return _Run(start, end, phrase, term, 1.0, None)
            kind = "" if phrase == term else f" ({_article(term)} {term})"
            why = f"'{phrase}'{kind} is not a colour the worlds hold"
            return _Run(start, end, phrase, None, 0.0, why, self._nearest_known(term))
        named = [w for w in words if w not in MODIFIERS]
        name = next((n for n in (" ".join(named), *named) if lexicon_rgb(n) is not None), None)
        if name is None:
            return None
        colour, share, vote = self._classify(name)
        if colour is not None:
            return _Run(start, end, phrase, colour, share, None)
        return _Run(
            start, end, phrase, None, share, f"'{phrase}' is not clearly one colour ({vote})", self._nearest_known(name)
        )

    def _nearest_known(self, name: str) -> tuple[str, ...]:
        """The known colours by Oklab distance from a lexicon colour, nearest first (at most two: candidates)."""
        rgb = lexicon_rgb(name)
        if rgb is None:
            return ()
        distances = np.linalg.norm(self._known_points - self._weigh(oklab([rgb]))[0], axis=1)
        return tuple(self.colours[k] for k in np.argsort(distances)[:2])

    def _classify(self, name: str) -> tuple[str | None, float, str]:
        """The known colour of a lexicon colour name by its nearest named colours, the share, and the vote."""
        point = self._weigh(oklab([lexicon_rgb(name)]))[0]  # type: ignore[list-item]
        distances = np.linalg.norm(self._colour_points - point, axis=1)
        nearest = np.argsort(distances)[: self.config.colour_neighbours]
        votes: dict[str, float] = {}
        for k in nearest:
            label = self._colour_labels[k] or "other"
            votes[label] = votes.get(label, 0.0) + 1.0 / (float(distances[k]) + 1e-3)
        total = sum(votes.values())
        ranked = sorted(votes.items(), key=lambda kv: -kv[1])
        best, weight = ranked[0]
        vote = ", ".join(f"{c} {w / total:.0%}" for c, w in ranked[:3])
        if best != "other" and weight / total >= self.config.min_colour_share:
            return best, weight / total, vote
        return None, weight / total, f"nearest named colours: {vote}"

    def _weigh(self, lab: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return lab * np.array([self.config.lightness_weight, 1.0, 1.0])

    # -- shape -------------------------------------------------------------------------------------------

    def _head_after(self, tokens: list[str], start: int) -> tuple[str | None, str, float] | None:
        """The noun phrase's head after a colour run: (shape or None, its words, confidence); None when no noun
        follows."""
        end = start
        while end < len(tokens) and tokens[end] not in PHRASE_ENDS:
            end += 1
        phrase = tokens[start:end]
        if not phrase:
            return None
        head = phrase[-1]
        said = self._adjective_shapes(phrase[:-1])
        if head in PRONOUN_HEADS or head in GENERIC_HEADS:
            if len(said) == 1:  # "the spherical object", "the cylinder-shaped container": its modifier names it
                named, adjective = next(iter(said.items()))
                return named, f"{adjective} {head}", 1.0
            return None, head, 0.0  # "the red container": no shape named
        two = " ".join(phrase[-2:])
        shape, similarity, silent, words = None, 0.0, True, two
        if len(phrase) > 1 and self._lexicon.knows(two):  # a compound WordNet holds: "beach ball"
            shape, similarity, silent = self._shape_vote(two, encoder=False)
        if shape is None:  # else its head: a "tin can" is a can
            shape, similarity, silent = self._shape_vote(head, encoder=False)
            words = head
            if shape is None and silent and _singular(head) != head:
                shape, similarity, silent = self._shape_vote(_singular(head), encoder=False)
            if shape is None and silent:  # a closed compound of a shape word: a "lunchbox" is a box
                shape, similarity, silent = self._compound_vote(_singular(head))
            if shape is None and silent:  # WordNet lacks it or says nothing of its shape: the encoder's vote
                shape, similarity, silent = self._encoder_vote(
                    _singular(head) if self._lexicon.knows(_singular(head)) else head
                )
        if shape is None and silent and len(said) == 1:  # "the cylindrical tub": a tub of no one shape, said
            named, adjective = next(iter(said.items()))
            return named, f"{adjective} {head}", 1.0
        if shape is not None and set(said) - {shape}:  # "the spherical box": the words disagree
            return None, two, 0.0
        return shape, words, similarity

    def _compound_vote(self, word: str) -> tuple[str | None, float, bool]:
        """The label of the longest labelled shape word that ``word`` ends with, written as one word with at least
        three letters before it ("lunchbox" -> box, "pinecone" -> cone: no known shape); (None, 0, True) when none."""
        for k in range(3, len(word) - 2):
            suffix = word[k:]
            if suffix in self._lexicon.labelled:
                shape = self._lexicon.labelled[suffix]
                return shape, 1.0 if shape is not None else 0.0, False
        return None, 0.0, True

    def _adjective_shapes(self, words: list[str]) -> dict[str, str]:
        """Shapes the modifiers of a noun say ("cylindrical" -> cylinder; "cube shaped" -> cube), with their words."""
        said: dict[str, str] = {}
        for k, word in enumerate(words):
            shape = shape_of_adjective(word, self.shapes)
            if shape is None and word == "shaped" and k > 0:  # "cube-shaped" (the hyphen is not a token)
                shape, _, _ = self._shape_vote(words[k - 1])
                word = f"{words[k - 1]} {word}"
            if shape is not None:
                said.setdefault(shape, word)
        return said

    def _clearest_shape(self, tokens: list[str], runs: list[_Run]) -> tuple[str | None, str, float]:
        in_runs = {k for r in runs for k in range(r.start, r.end)}
        scored = [
            self._shape_vote(w)[:2] + (w,)
            for k, w in enumerate(tokens)
            if k not in in_runs
            and w not in PHRASE_ENDS
            and w not in DETERMINERS
            and (k + 1 == len(tokens) or tokens[k + 1] in PHRASE_ENDS)  # where a noun phrase's head is: not "can you"
        ]
        found = [v for v in scored if v[0] is not None]
        if not found:
            return None, "", 0.0
        if len({v[0] for v in found}) > 1:
            raise InstructionError(
                f"instruction {' '.join(tokens)!r} names several shapes {sorted({str(v[0]) for v in found})}; name one"
            )
        shape, similarity, word = max(found, key=lambda v: v[1])
        return shape, word, similarity

    def _shape_vote(self, words: str, encoder: bool = True) -> tuple[str | None, float, bool]:
        """The known shape ``words`` name, and the confidence: a known shape word's own label (1); else, for a noun
        WordNet holds, what its senses are (:class:`~perception.shape_words.ShapeLexicon`; the senses' share); else
        (WordNet lacks it, or says nothing of its shape), with ``encoder``, :meth:`_encoder_vote`; None otherwise.
        Last, whether a None is for want of knowing (not because ``words`` name something else: a chair), so that
        a modifier may still say the shape ("the cylindrical tub")."""
        if words in self._lexicon.labelled:  # the shape names and the tune half's shape words
            return self._lexicon.labelled[words], 1.0, False
        adjective = shape_of_adjective(words, self.shapes)
        if adjective is not None:  # "the red cuboid"
            return adjective, 1.0, False
        if self._lexicon.knows(words):
            reading = self._lexicon.read(words)
            if reading.shape is not None or not reading.silent or not encoder:
                return reading.shape, reading.share, reading.silent
        return self._encoder_vote(words) if encoder else (None, 0.0, True)

    def _encoder_vote(self, words: str) -> tuple[str | None, float, bool]:
        """The vote of the ``shape_neighbours`` shape words nearest ``words`` by sentence-encoder cosine (cosine
        weighted): a known shape when it wins ``min_shape_share`` of the vote and either the nearest is at least
        ``min_shape_similarity`` or WordNet leans to the same shape with ``min_lean_share`` (:meth:`_leaning`: two
        weak cues that agree); none when WordNet leans to another (they disagree: "pellet", a small sphere in
        WordNet, is nearest the cylinder words). The nearest cosine; whether a None is for want of knowing."""
        vectors = self.warm()._shape_vectors
        assert vectors is not None
        similarities = vectors @ self._encoder.encode(words)
        nearest = np.argsort(similarities)[::-1][: self.config.shape_neighbours]
        top = float(similarities[nearest[0]])
        votes: dict[str | None, float] = {}
        for k in nearest:
            label = self._shape_labels[k]
            votes[label] = votes.get(label, 0.0) + max(float(similarities[k]), 0.0)
        best, weight = max(votes.items(), key=lambda kv: kv[1])
        won = best is not None and weight / max(sum(votes.values()), 1e-9) >= self.config.min_shape_share
        leaning, lean_share = self._leaning(words)
        if won and leaning is not None and best != leaning:
            return None, top, True
        if won and not self._kin_allow(words, best):
            return None, top, True
        if top < self.config.min_shape_similarity:
            if won and best == leaning and lean_share >= self.config.min_lean_share:
                return best, top, False
            return None, top, True
        if not won:
            return None, top, best is not None
        return best, top, False

    def _kin_allow(self, words: str, shape: str | None) -> bool:
        """Whether WordNet's tree lets the encoder's ``shape`` stand for ``words``: the labelled words nearest it
        there (:meth:`~perception.shape_words.ShapeLexicon.relatives`) include one labelled ``shape``. The encoder's
        neighbours are often near in spelling only ("cup" is nearest "ball", "basket" nearest "ball"), while a cup's
        kin are containers (box, can, canister): no ball. A word WordNet lacks, or whose kin are none, is left to
        the encoder."""
        if not self._lexicon.knows(words):
            return True
        kin = self._lexicon.relatives(words)
        return not kin or shape in kin

    def _leaning(self, words: str) -> tuple[str | None, float]:
        """The shape WordNet's senses of ``words`` lean to, short of naming it (a pearl: "a small sphere" in one
        sense, nothing of its shape in the other), and its share of the vote; (None, 0) when they lean nowhere."""
        if not self._lexicon.knows(words):
            return None, 0.0
        reading = self._lexicon.read(words)
        return (reading.leaning, reading.share) if reading.leaning is not None else (None, 0.0)


# -- words -------------------------------------------------------------------------------------------------


def _term(word: str) -> str | None:
    """The basic colour term a word is or derives from ("reddish", "bluey"), or None."""
    from_known = {"red", "green", "blue", "yellow"}
    if word in from_known or word in OTHER_COLOUR_TERMS:
        return "grey" if word == "gray" else word
    match = _ISH.match(word)
    if match:
        stem = match.group(1)
        for candidate in (stem, stem[:-1], stem + "e"):  # reddish -> red, bluish -> blue, purplish -> purple
            if candidate in from_known or candidate in OTHER_COLOUR_TERMS:
                return candidate
    return None


def _is_ish_modifier(words: list[str], k: int) -> bool:
    """A "-ish"/"-y" form before another colour term shades it ("bluish green"): the later term decides."""
    return words[k] not in {"red", "green", "blue", "yellow"} | OTHER_COLOUR_TERMS and any(
        _term(w) is not None for w in words[k + 1 :]
    )


def _singular(word: str) -> str:
    """A plural's singular by the regular English endings ("boxes" -> "box", "canisters" -> "canister")."""
    for suffix, replacement in (("ies", "y"), ("xes", "x"), ("ches", "ch"), ("shes", "sh"), ("sses", "ss"), ("s", "")):
        if word.endswith(suffix) and len(word) > len(suffix) + 2 and not word.endswith("ss"):
            return word[: -len(suffix)] + replacement
    return word


def _lexicon_only(word: str) -> bool:
    """A word that names a colour only through the lexicon (not a colour term, not a modifier): may be a noun."""
    return _term(word) is None and word not in MODIFIERS


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _either(options: list[str]) -> str:
    return options[0] if len(options) == 1 else ", ".join(options[:-1]) + " or " + options[-1]


@lru_cache(maxsize=4)
def _tune_half(vocabulary: str) -> tuple[tuple[tuple[str, str | None], ...], tuple[tuple[str, str | None], ...]]:
    """The ``tune`` half of the vocabulary file (:func:`perception.vocabulary.load_vocabulary`): labelled colour
    names and shape words (without their colour slot)."""
    from perception.vocabulary import load_vocabulary

    tune = load_vocabulary(vocabulary).half("tune")
    return tuple((e.text, e.colour) for e in tune.colours), tuple((e.words, e.shape) for e in tune.shapes)
