"""Shape nouns read through WordNet: a kind of a known word, or defined by its shape; refuse what is neither.

The words here are in neither half of the grounding vocabulary (``configs/vocabulary.yaml``): they test the
rule, not the list.
"""

from __future__ import annotations

import dataclasses

import pytest

from perception.errors import InstructionError
from perception.grounding import InstructionGrounder, _tune_half
from perception.language import SentenceEncoder
from perception.shape_words import ShapeLexicon, shape_of_adjective
from perception.wordnet import WordNet
from policy.processing import default_grounder

pytestmark = pytest.mark.unit

SHAPES = ("cube", "sphere", "cylinder")


@pytest.fixture(scope="module")
def wordnet() -> WordNet:
    return WordNet()


@pytest.fixture(scope="module")
def lexicon(wordnet: WordNet) -> ShapeLexicon:
    return ShapeLexicon(SHAPES, _tune_half("vocabulary.yaml")[1], wordnet)


@pytest.fixture(scope="module")
def grounder() -> InstructionGrounder:
    return default_grounder(SentenceEncoder(device="cpu", num_threads=1))


def test_the_reader_finds_every_synset_and_base_form(wordnet: WordNet) -> None:
    assert wordnet.lemmas("boxes") == ["box"] and wordnet.lemmas("Beach Ball") == ["beach_ball"]
    assert wordnet.lemmas("mice") == ["mouse"]  # the exception list: an irregular plural
    assert wordnet.lemmas("xyzzy") == []
    for word in ("cube", "ball", "cylinder", "zymosis", "aardvark"):  # the first and last lines of the file too
        for sense in wordnet.senses(word):
            assert wordnet.synset(sense.offset) == sense
            assert word in sense.words
    cube = wordnet.senses("cube")[0]
    assert cube.gloss == "a hexahedron with six equal squares as faces"  # the definition, not its examples
    assert "solid" in [s.name for s, _ in wordnet.ancestors(cube)]
    counts = wordnet.tag_counts("ball")
    assert max(counts, key=lambda o: counts[o]) == wordnet.senses("ball")[0].offset  # the commonest sense first


@pytest.mark.parametrize(
    ("word", "shape", "because"),
    [
        ("football", "sphere", "a kind of 'ball'"),  # a hyponym of a labelled word
        ("casket", "cube", "a kind of 'box'"),
        ("cask", "cylinder", "'barrel'"),  # the same sense as a labelled word
        ("bucket", "cylinder", "cylindrical"),  # its definition says the shape
        ("tennis ball", "sphere", "'ball'"),  # a compound WordNet holds
        ("thermos", "cylinder", "is a kind of 'bottle'"),  # a vacuum flask, a flask, a "typically cylindrical" bottle
        ("flask", "cylinder", "is a kind of 'bottle'"),  # "bottle that has a narrow neck"
    ],
)
def test_a_noun_names_the_shape_it_is_a_kind_of_or_is_defined_by(
    lexicon: ShapeLexicon, word: str, shape: str, because: str
) -> None:
    reading = lexicon.read(word)
    assert reading.shape == shape and because in reading.why


@pytest.mark.parametrize(
    ("word", "silent"),
    [
        ("armchair", False),  # a kind of chair: something the worlds do not hold
        ("mouse", True),  # the animal is no target; the device says nothing of its shape (a ball inside it)
        ("bowl", True),  # a rare sense is a ball (lawn bowls): the common vessel decides
        ("egg", True),  # "ball" is a slang sense of no physical thing
    ],
)
def test_a_noun_whose_common_senses_are_not_one_known_shape_names_none(
    lexicon: ShapeLexicon, word: str, silent: bool
) -> None:
    reading = lexicon.read(word)
    assert reading.shape is None and reading.silent is silent, reading


def test_a_hypernym_far_up_says_nothing_of_one_things_shape(
    lexicon: ShapeLexicon, wordnet: WordNet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the definitions of the nearest kinds (at most GLOSS_DEPTH up) are read: beyond, a kind is too broad."""
    import perception.shape_words as shape_words

    sense = wordnet.senses("thermos")[0]
    depth = next(d for a, d in wordnet.ancestors(sense) if a.name == "bottle")
    assert depth <= shape_words.GLOSS_DEPTH
    assert lexicon._inherited(sense)[0] == "cylinder"
    monkeypatch.setattr(shape_words, "GLOSS_DEPTH", depth - 1)  # the bottle now beyond the bound
    assert lexicon._inherited(sense) == (None, "")
    assert lexicon.read("beaker").shape is None  # a jar in one sense, a cup in the other: it only leans


def test_a_nouns_kin_are_the_labelled_words_nearest_it_in_wordnet(lexicon: ShapeLexicon) -> None:
    """A cup's nearest labelled kin are containers (a box, cans): no ball among them."""
    kin = lexicon.relatives("cup")
    assert kin and "sphere" not in kin and {"cube", "cylinder"} <= set(kin)
    assert lexicon.relatives("pot").keys() == {"cylinder"}  # vessels: tin, barrel, drum
    assert lexicon.relatives("qwzxv") == {}  # WordNet lacks it


def test_people_are_not_senses_of_a_shape_word(lexicon: ShapeLexicon) -> None:
    """'a pillar of the community' is no reason to doubt that a pillar is a column."""
    assert lexicon.read("pillar").shape == "cylinder"


def test_shape_adjectives() -> None:
    assert shape_of_adjective("cylindrical", SHAPES) == "cylinder"
    assert shape_of_adjective("cube shaped", SHAPES) == "cube"
    assert shape_of_adjective("round", SHAPES) is None  # a ball and a can are both round
    assert shape_of_adjective("spherical", ("cube",)) is None  # not a known shape here


@pytest.mark.parametrize(
    ("text", "colour", "shape"),
    [
        ("go to the red football", "red", "sphere"),
        ("go to the blue cylindrical tub", "blue", "cylinder"),  # the head says nothing: its modifier does
        ("go to the yellow cube-shaped container", "yellow", "cube"),
        ("go to the red tennis ball", "red", "sphere"),
        ("go to the crimson cuboid", "red", "cube"),  # a shape word WordNet holds only as a bone
        ("can you get me to the ball that is green", "green", "sphere"),  # "can" here is no tin
        ("go to the robin's egg ball", "blue", "sphere"),  # a lexicon name with an apostrophe
        ("go to the red lunchbox", "red", "cube"),  # a closed compound of a shape word: a box
        ("go to the blue beaker", "blue", "cylinder"),  # leans to a cylinder (a kind of jar), the encoder agrees
    ],
)
def test_phrasings_with_words_of_no_list(grounder: InstructionGrounder, text: str, colour: str, shape: str) -> None:
    g = grounder.ground(text)
    assert (g.colour, g.shape) == (colour, shape)


@pytest.mark.parametrize(
    ("text", "named", "colour"),
    [
        ("go to the green spherical box", "'spherical box' names no shape", "green"),  # the words disagree
        ("go to the red armchair", "'armchair' names no shape", "red"),
        ("drive to the blue mouse", "'mouse' names no shape", "blue"),
        ("go to the red coffee cup", "'cup' names no shape", "red"),  # nearest "ball" by the encoder, kin of boxes
        ("go to the green basket", "'basket' names no shape", "green"),  # and cans in WordNet: refused, not a ball
        ("go to the yellow container", "'container' names no shape", "yellow"),  # too general, and no modifier
        ("go to the blue pinecone", "'pinecone' names no shape", "blue"),  # a closed compound of "cone"
    ],
)
def test_refused_shapes_name_the_words_and_offer_the_colours_objects(
    grounder: InstructionGrounder, text: str, named: str, colour: str
) -> None:
    with pytest.raises(InstructionError) as info:
        grounder.ground(text)
    message = str(info.value)
    assert named in message and "did you mean" in message
    assert all(f"the {colour} {s}" in message for s in SHAPES)


def test_a_noun_that_leans_to_a_shape_grounds_it_when_the_encoder_agrees(grounder: InstructionGrounder) -> None:
    """A torpedo: "a cylindrical explosive" in one sense; the other senses say nothing of their shape. WordNet
    leans, the nearest shape words by MiniLM agree though they are not close: two weak cues that agree ground."""
    reading = grounder._lexicon.read("torpedo")
    assert reading.shape is None and reading.silent and reading.leaning == "cylinder"
    assert grounder.ground("go to the red torpedo").shape == "cylinder"
    strict = InstructionGrounder(
        grounder.colours, grounder.shapes, grounder._encoder, dataclasses.replace(grounder.config, min_lean_share=1.0)
    )
    with pytest.raises(InstructionError, match="'torpedo' names no shape"):  # the lean alone is not enough
        strict.ground("go to the red torpedo")


@pytest.mark.parametrize(
    "word",
    [
        "pellet",  # WordNet: a small sphere; the nearest shape words: cylinders
        "space",  # WordNet: a cube in one rare sense; the encoder: spheres
        "bowl",  # WordNet leans to a ball (lawn bowls) too little: the vessel decides
    ],
)
def test_a_noun_whose_cues_disagree_or_barely_lean_is_refused(grounder: InstructionGrounder, word: str) -> None:
    with pytest.raises(InstructionError, match=f"'{word}' names no shape"):
        grounder.ground(f"go to the red {word}")


def test_missing_wordnet_is_a_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NAV_WORDNET_DIR", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="lacks"):
        WordNet()
