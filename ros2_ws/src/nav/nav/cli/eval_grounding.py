"""``nav eval-grounding``: the default grounder on the held-out vocabulary (:mod:`perception.vocabulary`)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from nav.cli.common import add_command, log_for, options, print_json


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cmd = add_command(
        sub,
        "eval-grounding",
        run,
        "grounding accuracy, wrong-object rate and refusal rate of the default grounder on the held-out "
        "vocabulary (configs/vocabulary.yaml)",
    )
    cmd.add_argument("--half", choices=["report", "tune"], help="vocabulary half (default report)")
    cmd.add_argument("--cases", type=int, help="instructions composed and grounded (default 3000)")
    cmd.add_argument("--seed", type=int, help="seed of the composition (default 0)")
    cmd.add_argument("--vocabulary", help="vocabulary file (default configs/vocabulary.yaml)")
    cmd.add_argument("--top", type=int, help="most frequent wrong groundings listed (default 20)")
    cmd.add_argument("--json", action="store_true", help="end with one line of JSON (progress goes to stderr)")


def cache_clearer(*holders: Any) -> tuple[Callable[[], None], list[str]]:
    """A function that empties the caches of ``holders`` (their ``clear_cache()``, else a ``_cache`` dict's
    ``clear()``), and the names of what it empties (the JSON says what ``first_call`` means)."""
    calls: list[Callable[[], None]] = []
    names: list[str] = []
    for holder in holders:
        kind = type(holder).__name__
        method = getattr(holder, "clear_cache", None)
        if callable(method):
            calls.append(method)
            names.append(f"{kind}.clear_cache()")
        elif callable(getattr(getattr(holder, "_cache", None), "clear", None)):
            calls.append(holder._cache.clear)
            names.append(f"{kind}._cache.clear()")

    def clear() -> None:
        for call in calls:
            call()

    return clear, names


def run(args: argparse.Namespace) -> int:
    from perception.language import default_encoder
    from perception.vocabulary import GroundingEvalConfig, evaluate
    from policy.processing import default_grounder

    log = log_for(args)
    config = GroundingEvalConfig(**options(args, "half", "cases", "seed", "vocabulary", "top"))
    start = time.perf_counter()
    encoder = default_encoder()
    grounder = default_grounder(encoder)
    grounder.warm()  # loads the sentence encoder and embeds the grounder's shape words
    warmup_ms = (time.perf_counter() - start) * 1000.0
    clear, cleared = cache_clearer(grounder, encoder)
    log(f"eval-grounding: {config.cases} cases of the {config.half} half (seed {config.seed}), {config.vocabulary}")
    result = evaluate(config, grounder.ground, clear=clear)
    result["latency_ms"]["first_call"]["cleared"] = cleared
    result["latency_ms"]["warmup"] = round(warmup_ms, 1)
    _report(result, log)
    if getattr(args, "json", False):
        print_json(result)
    return 0


def _report(result: dict[str, Any], log: Callable[[str], None]) -> None:
    counts, sizes, latency = result["counts"], result["vocabulary_sizes"], result["latency_ms"]
    log(
        f"  vocabulary ({result['half']}): {sizes['colours']['total']} colours, {sizes['shapes']['total']} shapes, "
        f"{sizes['forms']} forms"
    )
    log(f"  cases: {counts['cases']} ({counts['object_exists']} name an object, {counts['object_null']} none)")
    for key in ("accuracy", "wrong_object_rate", "refusal_rate", "correct_refusal_rate"):
        log(f"  {key:>21}: {result[key]}")
    for table in ("by_colour", "by_shape", "by_kind"):
        rows = ", ".join(f"{k} {r['right']}/{r['n']}" for k, r in result[table].items())
        log(f"  {table} (right/n): {rows}")
    first, cached = latency["first_call"], latency["cached"]
    log(
        f"  latency ms: first call p50 {first['p50']} p99 {first['p99']}, cached p50 {cached['p50']} "
        f"p99 {cached['p99']} (warm-up {latency['warmup']})"
    )
    for row in result["top_wrong"][:5]:
        log(f"  wrong: {row['phrase']!r} -> {row['got']} (expected {row['expected']}) x{row['count']}")
