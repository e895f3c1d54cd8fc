"""Instructions: the train split never leaks held-out phrasings, and every phrasing parses back to its goal."""

from __future__ import annotations

import re

import numpy as np
import pytest

from sim.config import COLOURS, SHAPES
from sim.instructions import (
    HELDOUT_COLOUR_WORDS,
    HELDOUT_SHAPE_WORDS,
    HELDOUT_TEMPLATES,
    TRAIN_COLOUR_WORDS,
    TRAIN_SHAPE_WORDS,
    TRAIN_TEMPLATES,
    Goal,
    InstructionError,
    generate_instruction,
    heldout_elements,
    parse_goal,
)

pytestmark = pytest.mark.unit

GOALS = [Goal(colour, shape) for colour in COLOURS for shape in SHAPES]
HELDOUT_WORDS = {w for table in (HELDOUT_SHAPE_WORDS, HELDOUT_COLOUR_WORDS) for ws in table.values() for w in ws}


def sample(split: str, n: int, seed: int = 0) -> list[tuple[Goal, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        goal = GOALS[int(rng.integers(len(GOALS)))]
        out.append((goal, generate_instruction(goal, split, rng)))
    return out


@pytest.fixture(scope="module")
def train_samples() -> list[tuple[Goal, str]]:
    return sample("train", 3000)


@pytest.fixture(scope="module")
def heldout_samples() -> list[tuple[Goal, str]]:
    return sample("heldout", 3000, seed=1)


def test_heldout_elements_recognises_a_heldout_template_and_heldout_words():
    assert heldout_elements("go to the red cube") == []
    assert heldout_elements("approach the red cube") == ["approach the {colour} {shape}"]
    assert set(heldout_elements("go to the scarlet orb")) == {"scarlet", "orb"}


def test_the_train_and_heldout_tables_share_no_template_or_word():
    assert not set(TRAIN_TEMPLATES) & set(HELDOUT_TEMPLATES)
    train_words = {w for table in (TRAIN_SHAPE_WORDS, TRAIN_COLOUR_WORDS) for ws in table.values() for w in ws}
    assert not train_words & HELDOUT_WORDS


def test_train_instructions_never_use_a_heldout_template_or_word(train_samples):
    for _, instruction in train_samples:
        assert heldout_elements(instruction) == [], instruction
        assert not set(re.findall(r"[a-z]+", instruction)) & HELDOUT_WORDS, instruction


def test_train_instructions_use_every_train_template(train_samples):
    used = set()
    for goal, instruction in train_samples:
        for template in TRAIN_TEMPLATES:
            for shape_word in TRAIN_SHAPE_WORDS[goal.shape]:
                for colour_word in TRAIN_COLOUR_WORDS[goal.colour]:
                    if template.format(colour=colour_word, shape=shape_word) == instruction:
                        used.add(template)
    assert used == set(TRAIN_TEMPLATES)


def test_every_heldout_instruction_has_at_least_one_heldout_element(heldout_samples):
    for _, instruction in heldout_samples:
        assert heldout_elements(instruction), instruction


def test_the_heldout_split_uses_heldout_templates_and_heldout_words(heldout_samples):
    elements = {e for _, instruction in heldout_samples for e in heldout_elements(instruction)}
    assert set(HELDOUT_TEMPLATES) <= elements
    assert elements >= HELDOUT_WORDS


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_parse_goal_recovers_the_goal_of_every_generated_instruction(split, train_samples, heldout_samples):
    samples = train_samples if split == "train" else heldout_samples
    for goal, instruction in samples:
        assert parse_goal(instruction) == goal, instruction


def test_the_same_rng_seed_gives_the_same_instructions():
    assert sample("heldout", 50, seed=3) == sample("heldout", 50, seed=3)


def test_an_unknown_split_is_refused():
    with pytest.raises(ValueError, match="split"):
        generate_instruction(Goal("red", "cube"), "test", np.random.default_rng(0))


@pytest.mark.parametrize("instruction", ["", "   "])
def test_parse_goal_of_an_empty_instruction_says_it_is_empty(instruction):
    with pytest.raises(InstructionError, match="empty"):
        parse_goal(instruction)


def test_parse_goal_of_an_instruction_naming_no_object_says_what_is_known():
    with pytest.raises(InstructionError) as excinfo:
        parse_goal("go to the kitchen")

    message = str(excinfo.value)
    assert "go to the kitchen" in message
    assert "red" in message and "cube" in message  # the known colours and shapes are listed


def test_parse_goal_of_an_instruction_naming_two_colours_is_refused():
    with pytest.raises(InstructionError, match="exactly one colour"):
        parse_goal("go to the red or blue cube")


def test_instruction_error_is_a_value_error():
    assert issubclass(InstructionError, ValueError)
