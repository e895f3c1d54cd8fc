"""Which known shape a noun names, by what WordNet says the noun is.

A word of the grounding vocabulary's ``tune`` half ("box", "ball", "barrel") is labelled there. Any other
noun is looked up in WordNet (:mod:`perception.wordnet`): each of its senses that names a lifeless thing or
a geometric figure (people, animals and plants are no targets: "a pillar of the community") is classified by

1. **what it is a kind of**: the nearest hypernym that is a sense of a labelled word ("casket" is a kind of
   box, so a cube; "keg" a kind of barrel, so a cylinder; "armchair" a kind of chair, so none of them), else
2. **what its definition says it is**: the head of the phrase the definition starts with, when that is a
   labelled word ("rectangular block of clay": a block), or a word that says the shape ("a roughly
   cylindrical vessel"), else
3. **what the definitions of its nearest kinds say**, up to ``GLOSS_DEPTH`` hypernyms up ("thermos": a vacuum
   flask, a flask, a "bottle ... typically cylindrical"), when the nearest that say a shape agree, else nothing.

The senses vote, each weighted by how often WordNet's sense-tagged corpora use it (plus one), and the senses
that say nothing count against: the noun names a shape when one known shape holds at least ``min_share``
of the weight. A noun whose common senses disagree or say nothing ("bowl": the vessel, though lawn bowls
are balls), or whose things are no shape the worlds hold (a table, a cone), names none: refuse rather than
guess. Such a reading still says where it leans (``leaning``): the one shape its senses name when no sense names
anything else, for the caller to ground only when another means agrees.

Adjectives in the noun phrase ("the cylindrical tub", "a spherical object") are read with the same shape
words (:func:`shape_of_adjective`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from perception.wordnet import LIVING_THING, OBJECT, SHAPE, Synset, WordNet

__all__ = ["ShapeLexicon", "ShapeReading", "shape_of_adjective"]

SHAPE_ADJECTIVES = {
    "cube": ("cubic", "cubical", "cuboid", "cube-shaped", "box-shaped", "cubelike"),
    "sphere": ("spherical", "spheroidal", "globular", "ball-shaped", "sphere-shaped", "orb-shaped"),
    "cylinder": ("cylindrical", "tubular", "cylinder-shaped", "tube-shaped", "barrel-shaped"),
}
"""Words that say what shape a thing has, in a definition or in an instruction. "round" is no such word:
a ball and a can are both round."""
GLOSS_DEPTH = 3
"""How far up the hypernyms a definition that says the shape is looked for (beyond, the kinds are too broad to
say anything of one thing's shape)."""
_GENUS_ENDS = frozenset(
    [
        "with",
        "of",
        "that",
        "which",
        "used",
        "in",
        "on",
        "for",
        "made",
        "and",
        "or",
        "having",
        "containing",
        "shaped",
        "by",
        "from",
        "at",
        "to",
        "as",
        "into",
        "is",
        "usually",
    ]
)
"""Words that end the noun phrase a definition starts with ("rectangular block of clay", "a small ball with a
hole"), whose head is what the thing is defined as (a block, a ball)."""


def shape_of_adjective(word: str, shapes: Iterable[str]) -> str | None:
    """The shape an adjective says ("cylindrical" -> cylinder), among ``shapes``; None for any other word."""
    word = word.replace(" ", "-")
    return next((s for s in shapes if word in SHAPE_ADJECTIVES.get(s, ())), None)


@dataclass(frozen=True)
class ShapeReading:
    """What a noun names: ``shape`` (None: no known shape), the vote's ``share``, and ``why`` in words."""

    shape: str | None
    share: float
    why: str
    silent: bool = False
    """No shape, because WordNet says nothing of the thing's shape (not because it is something else: a chair)."""
    leaning: str | None = None
    """Of a silent reading: the one known shape some senses name, when no sense names anything else (a pearl:
    the jewel says nothing of its shape, "a small sphere" says sphere); ``share`` is its share of the vote. The
    caller may ground it when another means agrees."""


class ShapeLexicon:
    """Known shapes of nouns (see the module docstring).

    Args:
        shapes: The known shape names.
        labelled: ``(word, shape or None)`` pairs (the vocabulary's ``tune`` half; the shape names are added).
        wordnet: The WordNet reader (the bundled WordNet 3.0 by default).
        min_share: Least share of the senses' vote for a known shape.
    """

    def __init__(
        self,
        shapes: Iterable[str],
        labelled: Iterable[tuple[str, str | None]],
        wordnet: WordNet | None = None,
        min_share: float = 0.55,
    ) -> None:
        self.shapes = tuple(shapes)
        self.labelled = {**{w: s for w, s in labelled if s is None or s in self.shapes}, **{s: s for s in self.shapes}}
        self.min_share = min_share
        self._wordnet = wordnet
        self._anchors: dict[int, set[str | None]] | None = None
        self._ancestors: dict[int, dict[int, int]] | None = None
        self._concrete_senses: dict[int, bool] = {}
        """Synset offset -> :meth:`_concrete` (a hypernym walk: asked by :meth:`knows`, then by :meth:`read`)."""

    @property
    def wordnet(self) -> WordNet:
        if self._wordnet is None:
            self._wordnet = WordNet()
        return self._wordnet

    def warm(self) -> ShapeLexicon:
        """Read WordNet's index and the labelled words' senses now (about 0.2 s), not at the first instruction."""
        self._anchor_ancestors()
        return self

    def knows(self, word: str) -> bool:
        """Whether WordNet holds ``word`` as a noun for a lifeless thing or a figure (a word it lacks, or holds only
        as something else, "cuboid" the bone, is for the caller's other means)."""
        return word in self.labelled or any(self._concrete(s) for s in self.wordnet.senses(word))

    def read(self, word: str) -> ShapeReading:
        """The known shape a noun (or a compound, words joined by a space) names."""
        if word in self.labelled:
            shape = self.labelled[word]
            return ShapeReading(shape, 1.0, f"'{word}' is {_a(shape)}" if shape else f"'{word}' is no known shape")
        anchors = self._anchor_senses()
        votes: dict[str | None, float] = {}
        reasons: dict[str | None, str] = {}
        concrete = [s for s in self.wordnet.senses(word) if self._concrete(s)]
        counts = self.wordnet.tag_counts(word)
        total = 0.0
        for sense in concrete:
            shape, reason = self._classify(sense, anchors)
            weight = 1.0 + counts.get(sense.offset, 0)
            total += weight
            if reason:
                votes[shape] = votes.get(shape, 0.0) + weight
                reasons.setdefault(shape, reason)
        if not votes:
            found = "no sense of a physical thing" if not concrete else "nothing it is a kind of or looks like"
            return ShapeReading(None, 0.0, f"WordNet knows '{word}' but {found} is a known shape", silent=True)
        votes[_SILENT] = total - sum(votes.values())
        best = max((s for s in votes if s is not _SILENT), key=lambda s: votes[s])
        share = votes[best] / total
        if best is not None and share >= self.min_share:
            return ShapeReading(best, share, reasons[best])
        ranked = sorted(votes.items(), key=lambda kv: -kv[1])
        split = ", ".join(f"{_said(s)} {w / total:.0%}" for s, w in ranked if w > 0)
        named = [s for s in votes if s is not _SILENT]
        leaning = best if named == [best] and best is not None else None
        why = f"the senses of '{word}' are {split}"
        return ShapeReading(None, share, why, silent=best is not None, leaning=leaning)

    def relatives(self, word: str) -> dict[str | None, int]:
        """The labels of the labelled words nearest ``word`` in WordNet's tree (fewest hypernym steps up from its
        most common sense and down to one of theirs), with how many of them hold each: what its kin are. Empty
        when WordNet has no sense of ``word`` that is a thing, or no labelled word shares an ancestor with it. A
        cup's nearest kin are box, can, canister, cylinder (containers): cube 1, cylinder 3."""
        concrete = [s for s in self.wordnet.senses(word) if self._concrete(s)]
        if not concrete:
            return {}
        counts = self.wordnet.tag_counts(word)
        sense = max(concrete, key=lambda s: counts.get(s.offset, 0))  # ties: WordNet's order (most frequent first)
        mine = {a.offset: d for a, d in self.wordnet.ancestors(sense)}
        nearest: dict[int, int] = {}  # anchor offset -> path length
        for offset, above in self._anchor_ancestors().items():
            paths = [mine[a] + d for a, d in above.items() if a in mine]
            if paths:
                nearest[offset] = min(paths)
        if not nearest:
            return {}
        shortest = min(nearest.values())
        kin: dict[str | None, int] = {}
        anchors = self._anchor_senses()
        for offset, length in nearest.items():
            if length == shortest:
                for label in anchors[offset]:
                    kin[label] = kin.get(label, 0) + 1
        return kin

    # -- internals -----------------------------------------------------------------------------------------

    def _anchor_ancestors(self) -> dict[int, dict[int, int]]:
        """Each labelled sense's ancestors (offset -> least depth), for :meth:`relatives`."""
        if self._ancestors is None:
            self._ancestors = {
                offset: {a.offset: d for a, d in self.wordnet.ancestors(self.wordnet.synset(offset))}
                for offset in self._anchor_senses()
            }
        return self._ancestors

    def _concrete(self, sense: Synset) -> bool:
        """A sense that names a lifeless thing or a figure: what a robot could be sent to."""
        known = self._concrete_senses.get(sense.offset)
        if known is None:
            above = {a.offset for a, _ in self.wordnet.ancestors(sense)}
            known = self._concrete_senses[sense.offset] = bool(above & {OBJECT, SHAPE}) and LIVING_THING not in above
        return known

    def _anchor_senses(self) -> dict[int, set[str | None]]:
        """Offsets of the labelled words' concrete senses, with their labels."""
        if self._anchors is None:
            anchors: dict[int, set[str | None]] = {}
            for word, shape in self.labelled.items():
                for sense in self.wordnet.senses(word):
                    if self._concrete(sense):
                        anchors.setdefault(sense.offset, set()).add(shape)
            self._anchors = anchors
        return self._anchors

    def _classify(self, sense: Synset, anchors: dict[int, set[str | None]]) -> tuple[str | None, str]:
        """(shape or None, why); why is empty when the sense says nothing either way."""
        nearest: tuple[int, set[str | None], Synset] | None = None
        for ancestor, depth in self.wordnet.ancestors(sense):
            if nearest is not None and depth > nearest[0]:
                break
            if ancestor.offset in anchors:
                if nearest is None:
                    nearest = (depth, set(anchors[ancestor.offset]), ancestor)
                else:
                    nearest[1].update(anchors[ancestor.offset])
        if nearest is not None and len(nearest[1]) == 1:
            shape = next(iter(nearest[1]))
            kind = "is" if nearest[0] == 0 else "is a kind of"
            what = f"{_a(shape)}" if shape else "no known shape"
            return shape, f"'{sense.name}' ({sense.gloss}) {kind} '{nearest[2].name}': {what}"
        looks = self._looks(sense.gloss)
        if len(looks) == 1:
            shape = looks.pop()
            return shape, f"'{sense.name}' is '{sense.gloss}': {_a(shape)}"
        return self._inherited(sense)

    def _inherited(self, sense: Synset) -> tuple[str | None, str]:
        """What the definitions of the nearest hypernyms (up to ``GLOSS_DEPTH`` up) say of their shape, when they
        agree ("thermos" is a kind of vacuum flask, a kind of "bottle ... typically cylindrical"); else nothing."""
        nearest: list[tuple[str | None, Synset]] = []  # the shapes said at the least depth that says one
        nearest_depth = GLOSS_DEPTH
        for ancestor, depth in self.wordnet.ancestors(sense):  # breadth first: depth never decreases
            if depth > nearest_depth:
                break
            looks = self._looks(ancestor.gloss) if depth > 0 else set()
            if len(looks) == 1:
                nearest.append((next(iter(looks)), ancestor))
                nearest_depth = depth
        if len({shape for shape, _ in nearest}) != 1:
            return None, ""
        shape, ancestor = nearest[0]
        return shape, f"'{sense.name}' is a kind of '{ancestor.name}' ({ancestor.gloss}): {_a(shape)}"

    def _looks(self, gloss: str) -> set[str | None]:
        text = gloss.lower()
        words = re.findall(r"[a-z]+(?:-[a-z]+)*", text)
        genus = next((k for k, w in enumerate(words) if w in _GENUS_ENDS), len(words))
        if 0 < genus <= 4 and words[genus - 1] in self.labelled:  # "rectangular block of clay": a block
            return {self.labelled[words[genus - 1]]}
        return {s for s in self.shapes if set(words) & set(SHAPE_ADJECTIVES.get(s, ()))}


_SILENT = "?"
"""The vote of the senses that say nothing of their shape (a vessel "used as a container")."""


def _said(shape: str | None) -> str:
    return "unknown" if shape == _SILENT else (shape or "no known shape")


def _a(shape: str | None) -> str:
    if shape is None:
        return "no known shape"
    return f"{'an' if shape[0] in 'aeiou' else 'a'} {shape}"
