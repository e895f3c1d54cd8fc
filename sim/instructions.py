"""Natural instructions for a target, from templates and synonyms, with a held-out split.

The train split uses only train templates and train synonyms. The held-out split uses at least one
held-out element in every instruction (a held-out template, or a held-out word for the shape or
colour), so an evaluation on it measures phrasings training never saw.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from perception.errors import InstructionError

Split = Literal["train", "heldout", "canonical", "vocabulary"]

TRAIN_TEMPLATES = (
    "go to the {colour} {shape}",
    "find the {colour} {shape}",
    "navigate to the {colour} {shape}",
    "drive to the {colour} {shape}",
    "move to the {colour} {shape}",
    "please go to the {colour} {shape}",
    "go find the {colour} {shape}",
    "the {colour} {shape}, go there",
    "can you drive over to the {colour} {shape}",
    "take me to the {colour} {shape}",
)
HELDOUT_TEMPLATES = (
    "head over to the {colour} {shape}",
    "could you get to the {colour} {shape} please",
    "make your way to the {colour} {shape}",
    "i need you at the {colour} {shape}",
    "approach the {colour} {shape}",
)

TRAIN_SHAPE_WORDS = {
    "cube": ("cube", "box"),
    "sphere": ("sphere", "ball"),
    "cylinder": ("cylinder", "drum"),
}
HELDOUT_SHAPE_WORDS = {
    "cube": ("block",),
    "sphere": ("orb",),
    "cylinder": ("tube",),
}

TRAIN_COLOUR_WORDS = {
    "red": ("red",),
    "green": ("green",),
    "blue": ("blue",),
    "yellow": ("yellow",),
    "purple": ("purple",),
    "orange": ("orange",),
}
HELDOUT_COLOUR_WORDS = {
    "red": ("scarlet",),
    "green": ("lime",),
    "blue": ("navy",),
    "yellow": ("golden",),
    "purple": ("violet",),
    "orange": ("amber",),
}


@dataclass(frozen=True)
class Goal:
    colour: str
    shape: str

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"


def _words(split: Split, table_train: dict, table_heldout: dict, key: str) -> tuple[str, ...]:
    return table_train[key] if split == "train" else table_train[key] + table_heldout[key]


def generate_instruction(goal: Goal, split: Split, rng: np.random.Generator) -> str:
    """A natural instruction naming ``goal``, drawn from the ``split``'s templates and synonyms.

    ``canonical`` is the phrase the policy sees ("go to the red cube"); ``vocabulary`` draws the words of the
    held-out vocabulary's ``report`` half (:func:`perception.vocabulary.phrase_goal`). These two take one
    number from ``rng`` either way, so an episode's seed gives the same episode phrased both ways.
    """
    if split in ("canonical", "vocabulary"):
        words = np.random.default_rng(int(rng.integers(2**63)))
        if split == "canonical":
            return f"go to the {goal.colour} {goal.shape}"
        from perception.vocabulary import phrase_goal, report_half

        return phrase_goal(report_half(), goal.colour, goal.shape, words)
    if split not in ("train", "heldout"):
        raise ValueError(f"unknown instruction split {split!r}; expected train, heldout, canonical or vocabulary")
    if split == "train":
        template = TRAIN_TEMPLATES[rng.integers(len(TRAIN_TEMPLATES))]
        shape_word = _choice(rng, TRAIN_SHAPE_WORDS[goal.shape])
        colour_word = _choice(rng, TRAIN_COLOUR_WORDS[goal.colour])
    else:
        # Every held-out instruction carries at least one element that training never sees.
        novelty = rng.integers(3)  # 0: template, 1: shape word, 2: colour word
        templates = HELDOUT_TEMPLATES if novelty == 0 else TRAIN_TEMPLATES + HELDOUT_TEMPLATES
        template = templates[rng.integers(len(templates))]
        shape_words = (
            HELDOUT_SHAPE_WORDS[goal.shape]
            if novelty == 1
            else _words(split, TRAIN_SHAPE_WORDS, HELDOUT_SHAPE_WORDS, goal.shape)
        )
        colour_words = (
            HELDOUT_COLOUR_WORDS[goal.colour]
            if novelty == 2
            else _words(split, TRAIN_COLOUR_WORDS, HELDOUT_COLOUR_WORDS, goal.colour)
        )
        shape_word = _choice(rng, shape_words)
        colour_word = _choice(rng, colour_words)
    return template.format(colour=colour_word, shape=shape_word)


def _choice(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def _lookup(table_a: dict, table_b: dict) -> dict[str, str]:
    out: dict[str, str] = {}
    for table in (table_a, table_b):
        for canonical, words in table.items():
            for word in words:
                out[word] = canonical
    return out


_SHAPE_BY_WORD = _lookup(TRAIN_SHAPE_WORDS, HELDOUT_SHAPE_WORDS)
_COLOUR_BY_WORD = _lookup(TRAIN_COLOUR_WORDS, HELDOUT_COLOUR_WORDS)


def parse_goal(instruction: str) -> Goal:
    """The (colour, shape) an instruction names; a clear error if it names none or several."""
    if not isinstance(instruction, str) or not instruction.strip():
        raise InstructionError("the instruction is empty: say which object to go to, e.g. 'go to the red cube'")
    tokens = re.findall(r"[a-z]+", instruction.lower())
    colours = {_COLOUR_BY_WORD[t] for t in tokens if t in _COLOUR_BY_WORD}
    shapes = {_SHAPE_BY_WORD[t] for t in tokens if t in _SHAPE_BY_WORD}
    if len(colours) != 1 or len(shapes) != 1:
        raise InstructionError(
            f"instruction {instruction!r} must name exactly one colour and one shape "
            f"(found colours {sorted(colours) or 'none'}, shapes {sorted(shapes) or 'none'}); "
            f"known colours: {sorted(set(_COLOUR_BY_WORD.values()))}, shapes: {sorted(set(_SHAPE_BY_WORD.values()))}"
        )
    return Goal(colour=colours.pop(), shape=shapes.pop())


def heldout_elements(instruction: str) -> list[str]:
    """The held-out templates or words an instruction uses (empty for a pure train phrasing)."""
    text = instruction.lower()
    found = []
    for template in HELDOUT_TEMPLATES:
        pattern = re.escape(template).replace(r"\{colour\}", r"\w+").replace(r"\{shape\}", r"\w+")
        if re.fullmatch(pattern, text):
            found.append(template)
    tokens = set(re.findall(r"[a-z]+", text))
    for table in (HELDOUT_SHAPE_WORDS, HELDOUT_COLOUR_WORDS):
        for words in table.values():
            found.extend(w for w in words if w in tokens)
    return found
