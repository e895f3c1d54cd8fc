"""Instruction grounding: any phrasing -> the (colour, shape) the policy knows -> one canonical phrase.

The policy is trained on a small object vocabulary (the simulator's target colours and shapes). A
robot's operator uses words training never saw: "head over to the scarlet block". The sentence
encoder alone does not carry such words to the right object: measured with all-MiniLM-L6-v2, the
single words "scarlet", "navy" and "lime" are nearer the names "orange", "orange" and "purple" than
"red", "blue" and "green" (``tests/test_grounding.py`` checks this). So the instruction is grounded
before it reaches the policy:

* **Colour** is grounded perceptually. A word that is a known colour name is taken as it is; else a
  word found in a colour-name lexicon (the CSS4 names, then the 949 names of the XKCD colour survey,
  both shipped with matplotlib) is mapped to the known colour of nearest CIELAB hue angle. Hue, not
  Lab distance: a camera sees an object's lightness change with its shading, and colour names are
  categories of hue (in an exploratory check, Lab distance put "lime" almost as near yellow as
  green, and CIEDE2000 nearer yellow, both because of its lightness; its hue is green's). A word is
  grounded only if it is chromatic (``min_chroma``), near a known hue
  (``max_hue_difference_deg``) and clearly nearer that one than the next (``min_hue_margin_deg``):
  "orange" with red and yellow known is refused, not guessed.
  Known names win over lexicon words ("the red cube by the sand" is red); two different colours are
  an error.
* **Shape** is grounded in the sentence encoder's word space: the noun of the colour's noun phrase
  (the word after the colour word) is compared by cosine with the known shape names; if it is not
  close enough (``min_shape_similarity``) or about as close to two shapes (``min_shape_margin``), the
  instruction's word that is closest to a shape by a clear margin is taken.
* The policy then sees the embedding of ``canonical`` filled with the grounded colour and shape
  (:meth:`InstructionGrounder.canonical`), the same in training and on the robot.

An instruction naming nothing the policy knows ("go to the kitchen", "the purple cube" where purple
is not in the vocabulary) is an :class:`~perception.errors.InstructionError` naming what is missing.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import numpy.typing as npt

from perception.errors import InstructionError
from perception.language import TextEncoder, normalise_instruction

__all__ = ["Grounding", "GroundingConfig", "InstructionGrounder", "chroma_hue", "hue_difference", "lexicon_rgb"]


@dataclass(frozen=True)
class GroundingConfig:
    """How instructions are grounded (``configs/language.yaml``, section ``grounding``)."""

    canonical: str = "go to the {colour} {shape}"
    """The phrase the policy sees, filled with the grounded colour and shape."""
    max_hue_difference_deg: float = 20.0
    """A lexicon colour is grounded to a known colour only within this CIELAB hue angle of it."""
    min_hue_margin_deg: float = 10.0
    """... and only if the next known colour's hue is at least this much farther (else ambiguous)."""
    min_chroma: float = 25.0
    """CIELAB chroma below which a lexicon colour is achromatic (grey, white, beige): not grounded."""
    min_shape_similarity: float = 0.25
    """Least word-embedding cosine between an instruction word and a known shape name."""
    min_shape_margin: float = 0.04
    """... and by how much that word must be nearer its shape than the next one ("thing", "object"
    are about as near every shape: not a shape)."""
    cache_size: int = 256
    """Grounded instructions remembered (a robot receives the same one every tick)."""

    def __post_init__(self) -> None:
        if "{colour}" not in self.canonical or "{shape}" not in self.canonical:
            raise ValueError(f"grounding.canonical must contain {{colour}} and {{shape}}, got {self.canonical!r}")
        for name in ("max_hue_difference_deg", "min_hue_margin_deg", "min_chroma", "min_shape_margin"):
            if getattr(self, name) < 0:
                raise ValueError(f"grounding.{name} must be >= 0, got {getattr(self, name)}")
        if not -1.0 <= self.min_shape_similarity <= 1.0:
            raise ValueError(f"grounding.min_shape_similarity must be in [-1, 1], got {self.min_shape_similarity}")
        if self.cache_size < 0:
            raise ValueError(f"grounding.cache_size must be >= 0, got {self.cache_size}")


@dataclass(frozen=True)
class Grounding:
    """What an instruction was grounded to, and the evidence."""

    colour: str
    shape: str
    colour_word: str
    """The instruction's word that named the colour."""
    hue_difference_deg: float
    """CIELAB hue angle between that word's lexicon colour and the known colour (0 for a known name)."""
    shape_word: str
    shape_similarity: float
    """Word-embedding cosine between that word and the known shape name."""


@lru_cache(maxsize=4096)
def lexicon_rgb(word: str) -> tuple[float, float, float] | None:
    """sRGB in ``[0, 1]`` of a colour name (CSS4 first, then the XKCD survey), or None if not a colour."""
    import matplotlib.colors as mcolors  # the lexicons ship with matplotlib

    hex_value = mcolors.CSS4_COLORS.get(word) or mcolors.XKCD_COLORS.get(f"xkcd:{word}")
    if hex_value is None:
        return None
    r, g, b = mcolors.to_rgb(hex_value)
    return (float(r), float(g), float(b))


def chroma_hue(rgb: Sequence[tuple[float, float, float]]) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """CIELAB chroma and hue angle (degrees in ``[0, 360)``) of sRGB colours in ``[0, 1]``."""
    import cv2

    pixels = np.asarray(rgb, dtype=np.float32).reshape(-1, 1, 3)
    lab = np.asarray(cv2.cvtColor(pixels, cv2.COLOR_RGB2Lab), dtype=np.float64).reshape(-1, 3)
    return np.hypot(lab[:, 1], lab[:, 2]), np.degrees(np.arctan2(lab[:, 2], lab[:, 1])) % 360.0


def hue_difference(a: float | npt.NDArray[np.float64], b: float | npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Smallest angle between hues (degrees)."""
    d = np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) % 360.0
    return np.minimum(d, 360.0 - d)


class InstructionGrounder:
    """Grounds instructions to ``colours`` x ``shapes`` (see the module docstring).

    Args:
        colours: Known colour names; each must be in the colour lexicon (its CIELAB anchor).
        shapes: Known shape names.
        encoder: Embeds single words for the shape comparison (the policy's sentence encoder).
        config: Thresholds and the canonical phrase.
    """

    def __init__(
        self,
        colours: Sequence[str],
        shapes: Sequence[str],
        encoder: TextEncoder,
        config: GroundingConfig | None = None,
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
        _, self._colour_hues = chroma_hue([lexicon_rgb(c) for c in self.colours])  # type: ignore[misc]
        self._shape_vectors: npt.NDArray[np.float32] | None = None
        self._cache: dict[str, Grounding] = {}
        self._lock = threading.Lock()

    # -- public ------------------------------------------------------------------------------------

    def ground(self, instruction: str) -> Grounding:
        """The (colour, shape) ``instruction`` names; InstructionError if it names none, or several, or
        is empty or too long (:func:`perception.language.normalise_instruction`)."""
        key = normalise_instruction(instruction)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None:
            return cached
        grounding = self._ground(key)
        if self.config.cache_size:
            with self._lock:
                if len(self._cache) >= self.config.cache_size:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = grounding
        return grounding

    def canonical(self, instruction: str) -> str:
        """The phrase the policy sees for ``instruction`` (``config.canonical``, filled in)."""
        g = self.ground(instruction)
        return self.config.canonical.format(colour=g.colour, shape=g.shape)

    # -- the two halves ------------------------------------------------------------------------------

    def _ground(self, text: str) -> Grounding:
        tokens = re.findall(r"[a-z]+", text)
        if not tokens:
            raise InstructionError(f"instruction {text!r} has no words")
        colour, colour_word, hue_diff, position = self._colour(text, tokens)
        shape, shape_word, similarity = self._shape(text, tokens, position)
        return Grounding(colour, shape, colour_word, float(hue_diff), shape_word, float(similarity))

    def _colour(self, text: str, tokens: list[str]) -> tuple[str, str, float, int]:
        known = [(i, t) for i, t in enumerate(tokens) if t in self.colours]
        if known:
            names = sorted({t for _, t in known})
            if len(names) > 1:
                raise InstructionError(f"instruction {text!r} names several colours {names}; name one object")
            i, word = known[0]
            return word, word, 0.0, i
        candidates: list[tuple[int, str, str, float]] = []
        refused: list[str] = []
        cfg = self.config
        for i, word in enumerate(tokens):
            rgb = lexicon_rgb(word)
            if rgb is None:
                continue
            chroma, hue = chroma_hue([rgb])
            differences = hue_difference(self._colour_hues, hue[0])
            order = np.argsort(differences)
            best = int(order[0])
            margin = float(differences[order[1]] - differences[best]) if len(order) > 1 else 180.0
            if chroma[0] < cfg.min_chroma:
                refused.append(f"{word!r} (no hue: chroma {chroma[0]:.0f})")
            elif differences[best] > cfg.max_hue_difference_deg:
                refused.append(f"{word!r} (nearest {self.colours[best]}, {differences[best]:.0f} deg of hue away)")
            elif margin < cfg.min_hue_margin_deg:
                second = self.colours[int(order[1])]
                refused.append(f"{word!r} (between {self.colours[best]} and {second})")
            else:
                candidates.append((i, word, self.colours[best], float(differences[best])))
        if not candidates:
            detail = f"; not grounded: {', '.join(refused)}" if refused else ""
            raise InstructionError(
                f"instruction {text!r} names no colour the policy knows (known: {list(self.colours)}){detail}"
            )
        grounded = sorted({c for _, _, c, _ in candidates})
        if len(grounded) > 1:
            words = [w for _, w, _, _ in candidates]
            raise InstructionError(
                f"instruction {text!r}: colour words {words} mean different colours {grounded}; name one object"
            )
        i, word, colour, hue_diff = candidates[0]
        return colour, word, hue_diff, i

    def _shape(self, text: str, tokens: list[str], colour_position: int) -> tuple[str, str, float]:
        for word in tokens:  # an exact shape name decides
            if word in self.shapes:
                return word, word, 1.0
        if colour_position + 1 < len(tokens):  # the noun of "the <colour> <noun>"
            noun = tokens[colour_position + 1]
            shape, similarity, margin = self._nearest_shape(noun)
            if self._is_shape(similarity, margin):
                return shape, noun, similarity
        scored = [(self._nearest_shape(w), w) for i, w in enumerate(tokens) if i != colour_position]
        clear = [(s, sim, w) for (s, sim, margin), w in scored if self._is_shape(sim, margin)]
        if clear:
            shape, similarity, word = max(clear, key=lambda item: item[1])
            return shape, word, similarity
        raise InstructionError(f"instruction {text!r} names no shape the policy knows (known: {list(self.shapes)})")

    def _is_shape(self, similarity: float, margin: float) -> bool:
        return similarity >= self.config.min_shape_similarity and margin >= self.config.min_shape_margin

    def _nearest_shape(self, word: str) -> tuple[str, float, float]:
        """The known shape nearest ``word``, its cosine, and its lead over the next shape."""
        if self._shape_vectors is None:
            self._shape_vectors = np.stack([self._encoder.encode(s) for s in self.shapes])
        similarities = self._shape_vectors @ self._encoder.encode(word)
        order = np.argsort(similarities)[::-1]
        best = int(order[0])
        margin = float(similarities[best] - similarities[order[1]]) if len(order) > 1 else 1.0
        return self.shapes[best], float(similarities[best]), margin
