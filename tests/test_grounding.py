"""Instruction grounding: every phrasing to the object the policy knows, or a clear refusal."""

from __future__ import annotations

import numpy as np
import pytest

from perception.errors import InstructionError
from perception.grounding import GroundingConfig, InstructionGrounder, lexicon_rgb, oklab
from perception.language import SentenceEncoder
from policy.configuration import get_variant
from policy.processing import PolicyProcessor, default_grounder
from sim.config import load_sim_config
from sim.instructions import Goal, generate_instruction

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder(device="cpu", num_threads=1)


@pytest.fixture(scope="module")
def grounder(encoder: SentenceEncoder) -> InstructionGrounder:
    return default_grounder(encoder)


def test_the_vocabulary_is_the_simulators_targets(grounder: InstructionGrounder) -> None:
    targets = load_sim_config().targets
    assert grounder.colours == tuple(targets.colours)
    assert grounder.shapes == tuple(targets.shapes)


@pytest.mark.parametrize("split", ["train", "heldout"])
def test_generated_instructions_ground_to_their_goal(grounder: InstructionGrounder, split: str) -> None:
    rng = np.random.default_rng(11)
    wrong = []
    for _ in range(300):
        goal = Goal(
            grounder.colours[rng.integers(len(grounder.colours))], grounder.shapes[rng.integers(len(grounder.shapes))]
        )
        text = generate_instruction(goal, split, rng)  # type: ignore[arg-type]
        g = grounder.ground(text)
        if (g.colour, g.shape) != (goal.colour, goal.shape):
            wrong.append((text, g))
    assert not wrong, wrong[:5]


@pytest.mark.parametrize(
    ("text", "colour", "shape"),
    [
        ("head over to the scarlet block", "red", "cube"),  # colour by hue, shape by word embedding
        ("make your way to the navy orb", "blue", "sphere"),
        ("approach the lime tube", "green", "cylinder"),
        ("the ball that is green", "green", "sphere"),  # no noun after the colour: the clearest shape word
        ("go to the red cube by the sand", "red", "cube"),  # the object's own phrase, not the landmark's
        ("Go To The  GOLDEN Drum", "yellow", "cylinder"),
        ("your target: the red cube", "red", "cube"),  # punctuation is no obstacle
        ("go to the cobalt crate", "blue", "cube"),  # a novel word for blue, a box by another name
        ("find the azure barrel", "blue", "cylinder"),
        ("go to the sky blue ball", "blue", "sphere"),  # a compound: its colour term decides
        ("go to the blood red round ball", "red", "sphere"),  # "round" is the adjective, "ball" the head
        ("take me to the pale yellow boxes", "yellow", "cube"),  # a modifier and a plural
        ("go to the bluish green cube", "green", "cube"),  # the last colour term decides
        ("find the crimson tin can", "red", "cylinder"),
    ],
)
def test_phrasings_ground_to_the_named_object(
    grounder: InstructionGrounder, text: str, colour: str, shape: str
) -> None:
    g = grounder.ground(text)
    assert (g.colour, g.shape) == (colour, shape)
    assert grounder.canonical(text) == f"go to the {colour} {shape}"


@pytest.mark.parametrize(
    ("text", "named", "offered"),
    [
        ("go to the kitchen", "names no colour", "did you mean the"),
        ("go to the purple cube", "'purple' is not a colour the worlds hold", "mean the blue cube or the red cube"),
        ("go to the dark violet ball", "'dark violet' (a violet) is not a colour", "the blue sphere"),
        ("go to the lavender box", "'lavender' is not a colour the worlds hold", "the blue cube"),
        ("go to the orange ball", "'orange' is not a colour the worlds hold", "the red sphere"),
        ("go to the grey cube", "'grey' is not a colour the worlds hold", "did you mean"),
        ("go to the red cube and the blue ball", "names several objects", "name one"),
        ("go to the blue green cube", "names several colours", "did you mean the green cube or the blue cube"),
        ("go to the scarlet thing", "'thing' names no shape", "did you mean the red cube, the red sphere or"),
        ("go to the red one", "'one' names no shape", "the red cylinder?"),
        ("go to the yellow table", "'table' names no shape", "the yellow cube"),
        ("   ", "empty", ""),
    ],
)  # fmt: skip
def test_what_the_policy_does_not_know_is_refused_naming_it_with_candidates(
    grounder: InstructionGrounder, text: str, named: str, offered: str
) -> None:
    with pytest.raises(InstructionError) as info:
        grounder.ground(text)
    assert named in str(info.value) and offered in str(info.value)


@pytest.mark.parametrize(
    ("left_out", "text", "shape"),
    [("ball", "go to the red balls", "sphere"), ("globe", "find the blue globe", "sphere")],
)
def test_a_noun_wordnet_holds_but_says_no_shape_of_is_read_by_its_nearest_shape_words(
    encoder: SentenceEncoder, grounder: InstructionGrounder, left_out: str, text: str, shape: str
) -> None:
    """WordNet's senses of these words say nothing of the thing's shape (or disagree); with every labelled entry
    holding the word left out, the sentence encoder's nearest labelled words still name the shape."""
    from perception.vocabulary import load_vocabulary

    tune = load_vocabulary().half("tune")
    kept = [(e.words, e.shape) for e in tune.shapes if e.words.split()[-1] not in {left_out, left_out + "s"}]
    assert len(kept) < len(tune.shapes), f"{left_out!r} is a labelled word of the tune half"
    g = InstructionGrounder(grounder.colours, grounder.shapes, encoder, shape_words=kept)
    assert g._lexicon.knows(left_out) and g._lexicon.read(left_out).shape is None, "WordNet alone does not say it"
    assert g.ground(text).shape == shape


def test_the_red_one_is_the_red_object_when_only_one_red_object_is_there(grounder: InstructionGrounder) -> None:
    present = [("red", "sphere"), ("blue", "cube"), ("green", "sphere")]
    g = grounder.ground("go to the red one", present=present)
    assert (g.colour, g.shape) == ("red", "sphere")
    with pytest.raises(InstructionError, match="names no shape"):
        grounder.ground("go to the red one", present=[*present, ("red", "cube")])


def test_a_repeated_instruction_is_served_from_the_cache(
    grounder: InstructionGrounder, encoder: SentenceEncoder
) -> None:
    grounder.ground("drive to the yellow ball")
    misses = encoder.cache_stats().misses
    for _ in range(5):
        grounder.ground("drive to the yellow ball")
    assert encoder.cache_stats().misses == misses


def test_colour_names_are_read_in_oklab() -> None:
    white, black = oklab([(1.0, 1.0, 1.0), (0.0, 0.0, 0.0)])
    assert white[0] == pytest.approx(1.0, abs=1e-3) and black[0] == pytest.approx(0.0, abs=1e-6)
    assert abs(white[1]) < 1e-3 and abs(white[2]) < 1e-3  # no hue in white
    assert lexicon_rgb("azure") != lexicon_rgb("xkcd:azure")  # the survey's azure is a blue, CSS's nearly white
    assert lexicon_rgb("azure") == pytest.approx((0.0235, 0.604, 0.953), abs=1e-3)
    assert lexicon_rgb("not-a-colour") is None


def test_bad_configuration_and_vocabulary_are_errors(encoder: SentenceEncoder) -> None:
    with pytest.raises(ValueError, match="canonical"):
        GroundingConfig(canonical="go to the {shape}")
    with pytest.raises(ValueError, match="min_colour_share"):
        GroundingConfig(min_colour_share=1.5)
    with pytest.raises(ValueError, match="not colour names"):
        InstructionGrounder(["red", "chartreusey"], ["cube"], encoder)


def test_the_policy_sees_the_same_embedding_for_every_phrasing_of_one_object(encoder: SentenceEncoder) -> None:
    processor = PolicyProcessor(get_variant("small"), encoder=encoder)
    canonical = processor.text("go to the red cube")
    for text in ("head over to the scarlet block", "take me to the red box", "could you get to the red cube please"):
        np.testing.assert_array_equal(processor.text(text), canonical)
    assert not np.array_equal(processor.text("go to the blue cube"), canonical)
    with pytest.raises(InstructionError, match="words"):
        processor.text("go " * 50 + "to the red cube")  # the length limit applies to what was said


def test_the_sentence_encoder_alone_misplaces_held_out_colour_words(encoder: SentenceEncoder) -> None:
    """Why grounding exists: MiniLM puts these held-out words nearer a wrong colour name."""
    names = ["red", "green", "blue", "yellow", "purple", "orange"]
    vectors = np.stack([encoder.encode(n) for n in names])
    for word, right in (("scarlet", "red"), ("navy", "blue"), ("lime", "green")):
        assert names[int(np.argmax(vectors @ encoder.encode(word)))] != right, word


def test_nav_demo_grounds_its_instruction_as_the_agent_does_so_the_world_holds_that_object():
    from nav.demo import ground_goal

    assert ground_goal("go to the crimson box") == "red cube"  # the sim's own phrase table knows neither word
    with pytest.raises(InstructionError, match="names no colour"):
        ground_goal("go to the kitchen")
