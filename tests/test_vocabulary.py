"""The held-out grounding vocabulary (configs/vocabulary.yaml) and the measurement on it (nav eval-grounding).

The vocabulary is labelled by names, never by a grounder; these tests check the file against its generator,
the naming rule on examples, the composition of instructions, and the metrics on stub grounders whose
figures are worked out by hand (no sentence encoder is loaded here).
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from configs import ConfigError
from perception.errors import InstructionError
from perception.vocabulary import (
    Case,
    ColourEntry,
    FormEntry,
    GroundingEvalConfig,
    ShapeEntry,
    Vocabulary,
    compose,
    evaluate,
    load_vocabulary,
    score,
    without_colour_slot,
)

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_vocabulary", ROOT / "scripts" / "make_vocabulary.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("make_vocabulary", module)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def vocabulary() -> Vocabulary:
    return load_vocabulary()


@pytest.fixture(scope="module")
def colour_of(vocabulary: Vocabulary) -> dict[str, str | None]:
    return {e.text: e.colour for e in vocabulary.colours}


# -- the file ------------------------------------------------------------------------------------------------


def test_the_file_is_what_the_generator_writes(generator: ModuleType, tmp_path: Path) -> None:
    written = generator.write(tmp_path / "vocabulary.yaml")

    assert written.read_text(encoding="utf-8") == (ROOT / "configs" / "vocabulary.yaml").read_text(encoding="utf-8")


def test_the_file_says_it_is_generated_and_by_what() -> None:
    head = (ROOT / "configs" / "vocabulary.yaml").read_text(encoding="utf-8").splitlines()[0]

    assert "GENERATED" in head and "scripts/make_vocabulary.py" in head


def test_the_vocabulary_is_large_enough_in_both_halves(vocabulary: Vocabulary) -> None:
    assert len(vocabulary.colours) >= 300
    assert len(vocabulary.shapes) >= 60
    assert len(vocabulary.forms) >= 20
    assert sum(e.colour is None for e in vocabulary.colours) >= 25
    for half in ("tune", "report"):
        part = vocabulary.half(half)
        assert part.colours and part.shapes and part.forms, half
        assert len(part.shapes) >= 30, half
        assert {e.colour for e in part.colours} == {"red", "green", "blue", "yellow", None}, half
        assert {e.shape for e in part.shapes} == {"cube", "sphere", "cylinder", None}, half


def test_the_halves_split_each_label_about_evenly(vocabulary: Vocabulary, generator: ModuleType) -> None:
    known = generator.project_words()
    for kind, label in (("colours", "colour"), ("shapes", "shape")):
        entries = [e for e in getattr(vocabulary, kind) if without_colour_slot(e.text) not in known]
        counts = Counter((getattr(e, label), e.half) for e in entries)
        for value in {getattr(e, label) for e in entries}:
            tune, report = counts[(value, "tune")], counts[(value, "report")]
            # the project's own words' forms (plurals, modifiers) go to tune too: a label may lean that way
            assert abs(tune - report) <= 6, (kind, value, tune, report)
    forms = Counter(e.half for e in vocabulary.forms)
    assert abs(forms["tune"] - forms["report"]) <= 1


def test_the_projects_own_words_are_never_reported_on(vocabulary: Vocabulary, generator: ModuleType) -> None:
    known = generator.project_words()
    report = vocabulary.half("report")
    reported = {without_colour_slot(e.text) for e in (*report.colours, *report.shapes)}
    assert not reported & known, sorted(reported & known)


def test_related_entries_share_a_half(vocabulary: Vocabulary) -> None:
    half = {e.text: e.half for e in vocabulary.colours} | {e.text: e.half for e in vocabulary.shapes}

    assert half["cobalt"] == half["cobalt blue"]
    assert half["mint"] == half["mint green"] == half["dark mint green"]
    assert half["gray"] == half["grey"]
    assert half["ball"] == half["balls"] == half["round {colour} ball"]


def test_a_bad_key_is_an_error_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "vocabulary.yaml"
    path.write_text(
        "colours: [{text: red, color: red, half: tune}]\nshapes: [{text: cube, shape: cube, half: tune}]\n"
        "forms: [{text: 'go to the {object}', half: tune}]\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"colours\[0\]\.color"):
        load_vocabulary(path)
    path.write_text(
        path.read_text().replace("color:", "colour:").replace("half: tune}]\nshapes", "half: tuned}]\nshapes")
    )
    with pytest.raises(ConfigError, match=r"colours\[0\]\.half"):
        load_vocabulary(path)


# -- the naming rule ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("cobalt blue", (True, "blue")),
        ("navy blue", (True, "blue")),
        ("dark slate blue", (True, "blue")),
        ("reddish", (True, "red")),
        ("blue blue", (True, "blue")),
        ("lavender", (True, None)),
        ("dusty pink", (True, None)),
        ("brownish grey", (True, None)),  # two terms, neither held: refused either way
        ("blue green", (False, None)),  # a held colour mixed with another term: ambiguous, left out
        ("greenish blue", (False, None)),
        ("reddish brown", (False, None)),
        ("bluish grey", (False, None)),
        ("teal", (False, None)),  # no colour term as the head
        ("dark cyan", (False, None)),
    ],
)
def test_a_name_is_labelled_by_its_colour_terms(generator: ModuleType, name: str, expected: tuple) -> None:
    assert generator.label(name.split()) == expected


def test_concatenated_css4_names_split_only_one_way(generator: ModuleType) -> None:
    assert generator.split_css4("darkslateblue") == ["dark", "slate", "blue"]
    assert generator.split_css4("lightgoldenrodyellow") == ["light", "goldenrod", "yellow"]
    assert generator.split_css4("firebrick") is None


def test_entries_follow_the_naming_rule(vocabulary: Vocabulary, colour_of: dict, generator: ModuleType) -> None:
    for entry in vocabulary.colours:
        if entry.source.startswith("from:"):
            origin = entry.source.removeprefix("from:")
            assert colour_of[origin] == entry.colour, entry
            assert origin.startswith(entry.text + " "), entry
        else:
            assert generator.label(entry.text.split()) == (True, entry.colour), entry


def test_the_part_before_the_head_is_a_colour_of_that_kind(colour_of: dict[str, str | None]) -> None:
    assert colour_of["cobalt blue"] == colour_of["cobalt"] == "blue"
    assert colour_of["cherry"] == "red"
    assert colour_of["plum"] is None
    assert colour_of["lavender"] is None
    # ... unless names disagree ("navy green", "lime yellow") or the word is disputed ("khaki green").
    assert colour_of["navy blue"] == "blue" and "navy" not in colour_of
    assert colour_of["lime green"] == "green" and "lime" not in colour_of and "pale lime" not in colour_of
    assert colour_of["khaki green"] == "green" and "khaki" not in colour_of
    for left_out in ("blue green", "reddish brown", "teal", "scarlet", "orange red", "baby poop green"):
        assert left_out not in colour_of


def test_shape_phrases_put_the_colour_where_english_does() -> None:
    assert ShapeEntry("tin can", "cylinder", "tune").phrase("navy blue") == "navy blue tin can"
    assert ShapeEntry("round {colour} ball", "sphere", "tune").phrase("red") == "round red ball"


# -- composing instructions -------------------------------------------------------------------------------------


def test_compose_is_reproducible_and_draws_only_from_its_half(vocabulary: Vocabulary) -> None:
    a = compose(vocabulary, "report", 400, seed=3)

    assert a == compose(vocabulary, "report", 400, seed=3)
    assert [c.text for c in a] != [c.text for c in compose(vocabulary, "report", 400, seed=4)]
    assert all(e.half == "report" for c in a for e in (c.colour_entry, c.shape_entry, c.form))


def test_compose_uses_every_entry_equally_often(vocabulary: Vocabulary) -> None:
    part = vocabulary.half("tune")
    n = 2 * len(part.colours)
    cases = compose(vocabulary, "tune", n, seed=0)

    for attr, entries in (("colour_entry", part.colours), ("shape_entry", part.shapes), ("form", part.forms)):
        counts = Counter(getattr(c, attr).text for c in cases)
        assert set(counts) == {e.text for e in entries}, attr
        assert max(counts.values()) - min(counts.values()) <= 1, attr


def test_a_case_expects_a_refusal_when_its_colour_or_shape_is_null(vocabulary: Vocabulary) -> None:
    for case in compose(vocabulary, "report", 300, seed=1):
        assert (case.expected is None) == (case.colour is None or case.shape is None)
        assert case.phrase in case.text


# -- the metrics, on stub grounders --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    colour: str
    shape: str


COLOURS = (
    ColourEntry("red", "red", "tune"),
    ColourEntry("cobalt blue", "blue", "tune"),
    ColourEntry("pink", None, "tune"),
)
SHAPES = (ShapeEntry("cube", "cube", "tune"), ShapeEntry("ball", "sphere", "tune"), ShapeEntry("table", None, "tune"))
FORM = FormEntry("go to the {object}", "tune")
CASES = [Case(FORM.fill(s.phrase(c.text)), c.colour, s.shape, c, s, FORM) for c in COLOURS for s in SHAPES]
"""9 cases: 4 name an object (red / cobalt blue x cube / ball), 5 do not (pink, or table)."""


def always_red_cube(text: str) -> Answer:
    return Answer("red", "cube")


def always_refuse(text: str) -> Answer:
    raise InstructionError(f"no object in {text!r}")


def oracle(text: str) -> Answer:
    case = next(c for c in CASES if c.text == text)
    if case.expected is None:
        raise InstructionError("no such object")
    return Answer(*case.expected)


def test_a_grounder_that_always_says_red_cube() -> None:
    result = score(CASES, always_red_cube)

    assert result["accuracy"] == 0.25  # red cube, of the 4 that exist
    assert result["wrong_object_rate"] == round(8 / 9, 4)  # the 3 other objects and all 5 null cases
    assert result["refusal_rate"] == 0.0
    assert result["correct_refusal_rate"] == 0.0
    assert result["counts"] == {
        "cases": 9,
        "object_exists": 4,
        "object_null": 5,
        "right": 1,
        "wrong_object": 8,
        "refused": 0,
        "refused_object_exists": 0,
        "refused_object_null": 0,
    }
    assert result["by_colour"]["red"] == {"n": 3, "right": 1, "wrong": 2, "refused": 0}
    assert result["by_colour"]["null"] == {"n": 3, "right": 0, "wrong": 3, "refused": 0}
    assert result["by_shape"]["cube"] == {"n": 3, "right": 1, "wrong": 2, "refused": 0}
    assert result["by_kind"] == {
        "both null": {"n": 1, "right": 0, "wrong": 1, "refused": 0},
        "colour null": {"n": 2, "right": 0, "wrong": 2, "refused": 0},
        "object": {"n": 4, "right": 1, "wrong": 3, "refused": 0},
        "shape null": {"n": 2, "right": 0, "wrong": 2, "refused": 0},
    }
    wrong = {(w["phrase"], w["expected"], w["got"]) for w in result["top_wrong"]}
    assert ("cobalt blue ball", "blue sphere", "red cube") in wrong
    assert ("pink table", "refusal", "red cube") in wrong
    assert len(result["top_wrong"]) == 8 and result["top_refused"] == []


def test_a_grounder_that_always_refuses() -> None:
    result = score(CASES, always_refuse)

    assert result["accuracy"] == 0.0
    assert result["wrong_object_rate"] == 0.0
    assert result["refusal_rate"] == 1.0
    assert result["correct_refusal_rate"] == 1.0
    assert result["by_colour"]["null"] == {"n": 3, "right": 3, "wrong": 0, "refused": 3}
    assert result["by_colour"]["blue"] == {"n": 3, "right": 1, "wrong": 0, "refused": 3}  # cobalt blue table
    top = result["top_refused"]
    assert len(top) == 4 and top[0]["reason"].startswith("no object in")


def test_a_grounder_that_is_always_right() -> None:
    result = score(CASES, oracle)

    assert (result["accuracy"], result["wrong_object_rate"]) == (1.0, 0.0)
    assert (result["refusal_rate"], result["correct_refusal_rate"]) == (0.0, 1.0)


def test_rates_are_over_their_own_cases() -> None:
    """The same two wrong answers weigh 1/9 of all cases in the wrong-object rate and 1/4 in accuracy."""

    def wrong_on_red(text: str) -> Answer:
        answer = oracle(text)
        return Answer("blue", answer.shape) if answer.colour == "red" else answer

    result = score(CASES, wrong_on_red)

    assert result["accuracy"] == 0.5
    assert result["wrong_object_rate"] == round(2 / 9, 4)


def test_only_an_instruction_error_is_a_refusal() -> None:
    def broken(text: str) -> Answer:
        raise KeyError("a bug")

    with pytest.raises(KeyError):
        score(CASES, broken)


def test_latency_is_measured_twice_per_case_after_clearing() -> None:
    cleared = []
    ticks = iter(range(100))

    result = score(CASES, always_red_cube, clear=lambda: cleared.append(1), clock=lambda: float(next(ticks)))

    assert len(cleared) == len(CASES)
    assert result["latency_ms"] == {
        "first_call": {"p50": 1000.0, "p99": 1000.0},
        "cached": {"p50": 1000.0, "p99": 1000.0},
    }


def test_evaluate_reports_the_halfs_sizes(vocabulary: Vocabulary) -> None:
    result = evaluate(GroundingEvalConfig(half="tune", cases=50, seed=2), always_refuse)

    sizes = vocabulary.half("tune").sizes()
    assert result["vocabulary_sizes"] == sizes
    assert result["counts"]["cases"] == 50 and result["half"] == "tune"
    assert sizes["colours"]["total"] == sum(v for k, v in sizes["colours"].items() if k != "total")


def test_the_config_refuses_a_bad_half_or_count() -> None:
    with pytest.raises(ValueError, match="half"):
        GroundingEvalConfig(half="train")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="cases"):
        GroundingEvalConfig(cases=0)


# -- the command -------------------------------------------------------------------------------------------------


def test_the_command_is_registered_with_its_options() -> None:
    from nav.cli import build_parser

    args = build_parser().parse_args(["eval-grounding", "--half", "tune", "--cases", "10", "--json"])

    assert (args.command, args.half, args.cases, args.json) == ("eval-grounding", "tune", 10, True)
    assert not hasattr(args, "seed")  # defaults live in GroundingEvalConfig


def test_first_call_clears_what_each_holder_offers() -> None:
    from nav.cli.eval_grounding import cache_clearer

    class WithMethod:
        def __init__(self) -> None:
            self.calls = 0

        def clear_cache(self) -> None:
            self.calls += 1

    class WithDict:
        def __init__(self) -> None:
            self._cache = {"go to the red cube": 1}

    a, b = WithMethod(), WithDict()
    clear, names = cache_clearer(a, b, object())
    clear()

    assert (a.calls, b._cache) == (1, {})
    assert names == ["WithMethod.clear_cache()", "WithDict._cache.clear()"]
