#!/usr/bin/env python
"""Write ``configs/vocabulary.yaml``: the held-out vocabulary that ``nav eval-grounding`` measures grounding on.

    python scripts/make_vocabulary.py            # rewrite configs/vocabulary.yaml
    python scripts/make_vocabulary.py --check    # exit 1 if the committed file differs from what this writes

Deterministic: the same matplotlib colour lists give the same file, byte for byte (``tests/test_vocabulary.py``
checks that the committed file is this script's output).

**Colours** come from colour names people gave, never from their RGB values (the grounder reads the RGB
values; a label taken from them would grade the grounder by its own rule):

* the 949 names of the XKCD colour survey (``matplotlib.colors.XKCD_COLORS``), and
* the CSS4 names (``matplotlib.colors.CSS4_COLORS``) that split unambiguously into the colour terms below and
  a short list of modifiers ("darkslateblue" -> "dark slate blue"); the others are left out.

A name is labelled by its colour terms (:data:`HELD_TERMS`, :data:`OTHER_TERMS`, and their "-ish" / "-y"
forms in :data:`TERM_FORMS`), and only when its last word is one of them (the head of an English colour
name). All its terms in one held colour ("dark blue", "bluish", "blue blue") -> that colour. All its terms in
colours the worlds do not hold ("dusty pink", "brownish grey", "off white") -> null: must be refused. A held
colour mixed with any other term ("blue green", "greenish blue", "reddish brown", "bluish grey") is
ambiguous by construction and left out, as is a name whose last word is no colour term ("teal", "scarlet",
"gold", "dark cyan"). Disputed categories (teal, cyan, turquoise, aqua, olive, khaki, gold, maroon, cream,
fuchsia, ...) are therefore no terms at all: they appear only as modifiers of a term ("teal blue" -> blue).

People named "cobalt blue" a kind of blue; where the part before the head ("cobalt") is itself an XKCD or
CSS4 name, it is emitted too, with the same label, unless another name gives it another one ("lime green"
and "lime yellow": "lime" is left out, with "pale lime"), it is a shade word ("dark", "pale"), or its colour
is disputed or of another kind (:data:`DISPUTED`: "khaki green" is a green, "khaki" is not).

Names with a crude word (:data:`CRUDE`: "baby poop green") are left out: nobody instructs a robot so.

**Shapes** and **sentence forms** are written by hand below (:data:`SHAPES`, :data:`FORMS`).

**Halves**: every entry is ``tune`` (thresholds may be tuned on it) or ``report`` (the figures are read on
it). Entries are grouped (a colour name with the part it emitted, "cobalt blue" with "cobalt"; a shape
noun with its plural and its adjective forms) so that related entries share a half; groups are ordered by
the sha256 of their key and dealt to the half with fewer entries of that label so far, so each label is
split about evenly and no choice looks at any grounder.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "configs" / "vocabulary.yaml"

HELD_TERMS = ("red", "green", "blue", "yellow")
"""The colours the simulator's worlds hold (``configs/sim.yaml`` ``targets.colours``)."""

OTHER_TERMS = (
    "purple",
    "violet",
    "lavender",
    "lilac",
    "mauve",
    "pink",
    "magenta",
    "orange",
    "brown",
    "tan",
    "beige",
    "grey",
    "gray",
    "black",
    "white",
)
"""Colour terms whose category is clearly none of the held four (a name with one as its head is refused)."""

TERM_FORMS = {
    "reddish": "red",
    "reddy": "red",
    "greenish": "green",
    "greeny": "green",
    "bluish": "blue",
    "bluey": "blue",
    "yellowish": "yellow",
    "yellowy": "yellow",
    "purplish": "purple",
    "purpleish": "purple",
    "purpley": "purple",
    "purply": "purple",
    "pinkish": "pink",
    "pinky": "pink",
    "orangish": "orange",
    "orangeish": "orange",
    "orangey": "orange",
    "brownish": "brown",
    "browny": "brown",
    "greyish": "grey",
    "grayish": "grey",
}
"""The "-ish" / "-y" forms of the terms in the names ("reddish" alone is red; "reddish brown" is mixed)."""

SHADES = frozenset(
    (
        "dark",
        "darkish",
        "light",
        "lightish",
        "lighter",
        "pale",
        "deep",
        "bright",
        "medium",
        "mid",
        "dim",
        "very",
        "really",
        "off",
        "almost",
        "dull",
        "soft",
        "muted",
        "faded",
        "dusty",
        "dusky",
        "pastel",
        "vivid",
        "vibrant",
        "hot",
        "neon",
        "electric",
        "warm",
        "cool",
    )
)
"""Shade words: modifiers of a colour term, never emitted alone ("dark" is an XKCD name, but of no one colour)."""

CSS4_MODIFIERS = (
    "alice",
    "antique",
    "cadet",
    "cornflower",
    "dark",
    "deep",
    "dim",
    "dodger",
    "floral",
    "forest",
    "ghost",
    "goldenrod",
    "hot",
    "indian",
    "lawn",
    "light",
    "lime",
    "medium",
    "midnight",
    "navajo",
    "olive",
    "pale",
    "powder",
    "rebecca",
    "rosy",
    "royal",
    "saddle",
    "sandy",
    "sea",
    "sky",
    "slate",
    "spring",
    "steel",
)
"""Words a concatenated CSS4 name may be split into, beside the colour terms ("darkslateblue")."""

DISPUTED = frozenset(
    (
        "apple",
        "clay",
        "coral",
        "drab",
        "dusk",
        "eggshell",
        "indigo",
        "khaki",
        "periwinkle",
        "salmon",
        "tea",
        "tealish",
        "twilight",
    )
)
"""Words never emitted alone though a name gives them a label: their colour is disputed or of another kind
("khaki green" is a green, "khaki" is not; "eggshell blue" is a blue, "eggshell" an off-white; apples are red
or green). A word that two names give different labels ("lime green", "lime yellow"; "navy blue", "navy
green") is left out without being listed here, with every name ending in it ("pale lime")."""

CRUDE = frozenset(("shit", "piss", "poo", "poop", "puke", "barf", "vomit", "diarrhea", "snot", "booger"))

# Hand-written: (group, shape, texts). A group holds a noun with its plural and adjective forms; the whole
# group goes to one half. "{colour}" marks where the colour goes when it is not first ("round {colour} ball":
# English puts shape and size adjectives before the colour, material and purpose nouns after it).
SHAPES: tuple[tuple[str, str | None, tuple[str, ...]], ...] = (
    ("cube", "cube", ("cube", "cubes", "small {colour} cube")),
    ("box", "cube", ("box", "boxes", "square {colour} box", "cube-shaped box")),
    ("cardboard box", "cube", ("cardboard box", "storage box")),
    ("block", "cube", ("block", "blocks", "square {colour} block", "wooden block")),
    ("toy block", "cube", ("toy block", "building block")),
    ("crate", "cube", ("crate", "crates", "wooden crate", "packing crate")),
    ("carton", "cube", ("carton", "cartons")),
    ("brick", "cube", ("brick", "bricks")),
    ("dice", "cube", ("dice", "die", "big {colour} dice")),
    ("chest", "cube", ("chest", "toy chest")),
    ("cuboid", "cube", ("cuboid", "cubic block")),
    ("sphere", "sphere", ("sphere", "spheres", "small {colour} sphere")),
    ("ball", "sphere", ("ball", "balls", "round {colour} ball", "rubber ball")),
    ("beach ball", "sphere", ("beach ball", "bouncy ball", "bowling ball")),
    ("orb", "sphere", ("orb", "orbs", "shiny {colour} orb")),
    ("globe", "sphere", ("globe", "globes", "round {colour} globe")),
    ("bead", "sphere", ("bead", "beads", "round {colour} bead")),
    ("marble", "sphere", ("marble", "marbles", "glass marble", "big {colour} marble")),
    ("bauble", "sphere", ("bauble", "christmas bauble")),
    ("pearl", "sphere", ("pearl", "giant {colour} pearl")),
    ("spherical object", "sphere", ("spherical object",)),
    ("cylinder", "cylinder", ("cylinder", "cylinders", "short {colour} cylinder")),
    ("can", "cylinder", ("can", "cans", "tin can", "metal can", "paint can")),
    ("tin", "cylinder", ("tin", "tins", "round {colour} tin")),
    ("barrel", "cylinder", ("barrel", "barrels", "plastic barrel")),
    ("drum", "cylinder", ("drum", "drums", "oil drum", "metal drum")),
    ("tube", "cylinder", ("tube", "tubes", "cardboard tube")),
    ("pipe", "cylinder", ("pipe", "pipes", "short {colour} pipe")),
    ("canister", "cylinder", ("canister", "canisters", "metal canister")),
    ("jar", "cylinder", ("jar", "jars")),
    ("keg", "cylinder", ("keg", "kegs", "beer keg")),
    ("column", "cylinder", ("column", "columns", "short {colour} column")),
    ("pillar", "cylinder", ("pillar", "pillars", "round {colour} pillar")),
    ("post", "cylinder", ("post", "bollard", "round {colour} post")),
    ("cylindrical container", "cylinder", ("cylindrical container", "cylindrical tub")),
    ("table", None, ("table", "tables", "coffee table")),
    ("chair", None, ("chair", "chairs", "wooden chair")),
    ("cone", None, ("cone", "cones", "traffic cone")),
    ("pyramid", None, ("pyramid", "pyramids")),
    ("door", None, ("door", "doors")),
    ("lamp", None, ("lamp", "floor lamp")),
    ("sofa", None, ("sofa", "couch")),
    ("shelf", None, ("shelf", "bookshelf")),
    ("ring", None, ("ring", "doughnut", "torus")),
    ("star", None, ("star", "triangle")),
    ("plant", None, ("plant", "potted plant")),
)

# Hand-written: (text, ...). "{object}" is where "<colour> <shape>" goes; the determiner is in the form.
FORMS: tuple[str, ...] = (
    "go to the {object}",
    "your target: the {object}",
    "could you roll over to the {object}, please?",
    "find me that {object}",
    "the {object} is where I want you",
    "navigate towards the {object} now",
    "Head for the {object}!",
    "please drive up to the {object}.",
    "can you get me to the {object}?",
    "I'd like you to go to the {object}.",
    "the {object}: go there",
    "see the {object}? go to it",
    "over to the {object}, quickly!",
    "stop next to the {object}",
    "your goal is the {object}",
    "park beside the {object}, thanks",
    "would you mind going to the {object}?",
    "look for the {object} and go to it",
    "move toward the {object} and stop there",
    "next stop: the {object}",
    "go and find the {object}, please",
    "I need you over by the {object}",
    "drive over to that {object} please",
    "hey robot, go to the {object}",
    "where's the {object}? take me there",
    "Please approach the {object}.",
    "reach the {object} and wait",
    "get yourself to the {object}",
    "the {object}, that's your destination",
    "okay, now go towards the {object}",
)


# -- colours -------------------------------------------------------------------------------------------


def category(word: str) -> str | None:
    """The colour category a word names as a colour term ("bluish" -> blue, "gray" -> grey), else None."""
    word = TERM_FORMS.get(word, word)
    if word == "gray":
        return "grey"
    return word if word in HELD_TERMS or word in OTHER_TERMS else None


def label(words: list[str]) -> tuple[bool, str | None]:
    """``(labelled, colour)`` of a colour name given as words: see the module docstring.

    ``colour`` is a held colour or None (no held colour: must be refused); ``labelled`` is False when the
    name is left out (its last word is no colour term, or it mixes a held colour with another term)."""
    if not words or category(words[-1]) is None:
        return False, None
    categories = {c for c in map(category, words) if c is not None}
    held = categories & set(HELD_TERMS)
    if not held:
        return True, None
    if len(categories) == 1:
        return True, held.pop()
    return False, None


def split_css4(name: str) -> list[str] | None:
    """The words of a concatenated CSS4 name if it splits in exactly one way into colour terms and
    :data:`CSS4_MODIFIERS` ("darkslateblue" -> dark slate blue), else None."""
    pieces = sorted(set(HELD_TERMS) | set(OTHER_TERMS) | set(CSS4_MODIFIERS))

    def splits(rest: str) -> list[list[str]]:
        if not rest:
            return [[]]
        return [[p, *tail] for p in pieces if rest.startswith(p) for tail in splits(rest[len(p) :])]

    found = splits(name)
    return found[0] if len(found) == 1 else None


def words_of(name: str) -> list[str]:
    """An XKCD name's words ("blue/green" -> blue green; a concatenated one, "darkblue", split as CSS4's)."""
    words = name.replace("/", " ").split()
    if len(words) == 1:
        return split_css4(words[0]) or words
    return words


def colour_names() -> list[tuple[str, str]]:
    """``(words joined by spaces, source)`` of every name considered, XKCD first, each text once."""
    import matplotlib.colors as mcolors

    seen: dict[str, str] = {}
    for key in sorted(mcolors.XKCD_COLORS):
        name = key.removeprefix("xkcd:")
        seen.setdefault(" ".join(words_of(name)), f"xkcd:{name}")
    for name in sorted(mcolors.CSS4_COLORS):
        words = split_css4(name)
        if words is not None:
            seen.setdefault(" ".join(words), f"css4:{name}")
    return sorted(seen.items())


def colour_entries() -> list[dict[str, object]]:
    """Every labelled colour name and every name its head-less part gave, with its half."""
    import matplotlib.colors as mcolors

    lexicon = {k.removeprefix("xkcd:") for k in mcolors.XKCD_COLORS} | set(mcolors.CSS4_COLORS)
    labelled: dict[str, tuple[str | None, str]] = {}  # text -> (colour, source)
    rests: dict[str, list[str]] = defaultdict(list)  # head-less part -> the labelled names it is part of
    modifier_labels: dict[str, set[str | None]] = defaultdict(set)  # last word of a head-less part -> labels
    for text, source in colour_names():
        words = text.split()
        if CRUDE & set(words):
            continue
        ok, colour = label(words)
        if not ok:
            continue
        labelled[text] = (colour, source)
        if len(words) > 1 and not set(words[:-1]) <= SHADES:
            rests[" ".join(words[:-1])].append(text)
            modifier_labels[words[-2]].add(colour)
    derived: dict[str, str] = {}  # derived text -> the name it came from
    for rest, names in sorted(rests.items()):
        head = rest.split()[-1]
        if rest in lexicon and rest not in labelled and head not in DISPUTED and len(modifier_labels[head]) == 1:
            labelled[rest] = (labelled[names[0]][0], f"from:{names[0]}")
            derived[rest] = names[0]
    # A family shares a half: the derived words and the names whose part before the head ends in one
    # ("mint", "dark mint", "mint green", "light mint green"); else a name is its own group ("gray" = "grey").
    families = {text.split()[-1] for text in derived}
    entries: list[dict[str, object]] = []
    for text, (colour, source) in sorted(labelled.items()):
        words = text.split()
        if text in derived:
            group = words[-1]
        elif len(words) > 1 and words[-2] in families:
            group = words[-2]
        else:
            group = text.replace("gray", "grey")
        entries.append({"text": text, "colour": colour, "source": source, "group": group})
    assign_halves(entries, "colour")
    return entries


# -- shapes and forms ------------------------------------------------------------------------------------


def shape_entries() -> list[dict[str, object]]:
    entries: list[dict[str, object]] = [
        {"text": t, "shape": shape, "group": group} for group, shape, texts in SHAPES for t in texts
    ]
    assign_halves(entries, "shape")
    return entries


def form_entries() -> list[dict[str, object]]:
    entries: list[dict[str, object]] = [{"text": t, "group": t, "kind": "form"} for t in FORMS]
    assign_halves(entries, "kind")
    return entries


# -- halves ----------------------------------------------------------------------------------------------


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def project_words() -> set[str]:
    """The words the project already phrases instructions with (the simulator's target names and the phrase
    tables of ``sim.instructions``): tuned for before, so never in the ``report`` half."""
    from sim import instructions

    words = set()
    for table in (
        instructions.TRAIN_SHAPE_WORDS,
        instructions.HELDOUT_SHAPE_WORDS,
        instructions.TRAIN_COLOUR_WORDS,
        instructions.HELDOUT_COLOUR_WORDS,
    ):
        for name, synonyms in table.items():
            words |= {name, *synonyms}
    return words


def assign_halves(entries: list[dict[str, object]], label_key: str) -> None:
    """Give each entry a ``half``: a group holding a word of :func:`project_words` to ``tune``; the other groups
    in sha256 order, each to the half with fewer of its label so far."""
    groups: dict[tuple[str, str], list[dict[str, object]]] = defaultdict(list)
    for entry in entries:
        groups[(str(entry[label_key]), str(entry["group"]))].append(entry)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: {"tune": 0, "report": 0})
    from perception.vocabulary import without_colour_slot

    known = project_words()
    for (lab, group), members in sorted(groups.items(), key=lambda kv: _digest(kv[0][1])):
        count = counts[lab]
        texts = {without_colour_slot(str(m["text"])) for m in members}
        if texts & known or {t.rstrip("s") for t in texts} & known:
            half = "tune"
        elif count["tune"] != count["report"]:
            half = min(count, key=count.__getitem__)
        else:
            half = "tune" if int(_digest(group), 16) % 2 == 0 else "report"
        count[half] += len(members)
        for entry in members:
            entry["half"] = half


# -- the file --------------------------------------------------------------------------------------------

HEADER = """\
# GENERATED by scripts/make_vocabulary.py: do not edit by hand; change the script and run it again
# (tests/test_vocabulary.py checks that this file is the script's output).
#
# The held-out vocabulary of `nav eval-grounding` (perception.vocabulary): colour names, shape words and
# sentence forms, each in the half `tune` (grounding thresholds may be tuned on it) or `report` (the figures
# are read on it, and nothing is tuned on it). colour / shape null: no object the worlds hold (must be
# refused). A colour is labelled by its NAME (its colour terms and their order), never by its RGB value.
# The rules: the script's docstring.
"""


def _counts(entries: Iterable[dict[str, object]], key: str) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = defaultdict(lambda: {"tune": 0, "report": 0})
    for e in entries:
        out[str(e[key]) if e[key] is not None else "null"][str(e["half"])] += 1
    return {k: dict(v) for k, v in sorted(out.items())}


def build() -> dict[str, object]:
    """The vocabulary file's contents."""
    import matplotlib

    colours = colour_entries()
    shapes = shape_entries()
    forms = form_entries()
    return {
        "sources": {
            "colours": (
                f"XKCD colour survey names (matplotlib.colors.XKCD_COLORS, matplotlib {matplotlib.__version__}) "
                "and the CSS4 names that split unambiguously (matplotlib.colors.CSS4_COLORS), labelled by name "
                "(scripts/make_vocabulary.py); source 'from:<name>' is the head-less part of that name"
            ),
            "shapes": "hand-written (scripts/make_vocabulary.py SHAPES): nouns a person would call the object",
            "forms": "hand-written (scripts/make_vocabulary.py FORMS)",
            "halves": "the project's own words (sim.instructions) to tune; other groups of related entries in sha256 "
            "order, dealt to the half with fewer of the label",
        },
        "counts": {"colours": _counts(colours, "colour"), "shapes": _counts(shapes, "shape")},
        "colours": [{k: e[k] for k in ("text", "colour", "half", "source")} for e in colours],
        "shapes": [{k: e[k] for k in ("text", "shape", "half")} for e in shapes],
        "forms": [{k: e[k] for k in ("text", "half")} for e in forms],
    }


def render() -> str:
    """The vocabulary file's text: the sources and counts in block style, one entry a line."""
    data = build()
    parts = [HEADER]
    for key, value in data.items():
        flow = None if isinstance(value, list) else False
        parts.append(
            yaml.safe_dump({key: value}, sort_keys=False, allow_unicode=True, width=120, default_flow_style=flow)
        )
    return "".join(parts)


def write(path: Path = OUTPUT) -> Path:
    path.write_text(render(), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUTPUT, help="where to write (default configs/vocabulary.yaml)")
    parser.add_argument("--check", action="store_true", help="exit 1 if --out differs from what would be written")
    args = parser.parse_args(argv)
    if args.check:
        same = args.out.exists() and args.out.read_text(encoding="utf-8") == render()
        print(f"{args.out}: {'up to date' if same else 'differs from scripts/make_vocabulary.py output'}")
        return 0 if same else 1
    print(f"wrote {write(args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
