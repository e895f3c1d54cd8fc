"""The agent runs every intact model variant and refuses a tampered one, with the reason."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from nav.runtime.config import load_ros_config, resolve_models_dir
from nav.runtime.models import choose_variant, load_controllers

pytestmark = pytest.mark.unit

LADDER = ("small", "medium", "large")


@pytest.fixture(scope="module")
def tampered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped models, with one byte of large's weights changed."""
    models = tmp_path_factory.mktemp("models")
    shipped = resolve_models_dir(load_ros_config().agent.models_dir)
    for variant in LADDER:
        shutil.copytree(shipped / variant, models / variant)
    weights = models / "large" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    return models


def test_a_tampered_variant_is_refused_and_the_intact_ones_load(tampered: Path) -> None:
    loaded = load_controllers(tampered)
    assert sorted(loaded.controllers) == ["medium", "small"]
    assert list(loaded.refused) == ["large"]
    assert "SHA-256 mismatch" in loaded.refused["large"] and "model.safetensors" in loaded.refused["large"]
    assert loaded.describe_refused().startswith("large: ")


def test_an_unreadable_manifest_is_refused_too(tampered: Path, tmp_path: Path) -> None:
    shutil.copytree(tampered / "small", tmp_path / "small")
    (tmp_path / "medium").mkdir()
    (tmp_path / "medium" / "manifest.json").write_text("{not json")
    loaded = load_controllers(tmp_path)
    assert list(loaded.controllers) == ["small"] and "unreadable manifest" in loaded.refused["medium"]


@pytest.mark.parametrize(
    ("requested", "loaded", "chosen"),
    [
        ("medium", ("small", "medium"), "medium"),
        ("large", ("small", "medium"), "medium"),  # the nearest below: smaller, so the loop keeps its deadline
        ("small", ("medium", "large"), "medium"),  # nothing below: the nearest above
        ("medium", ("large",), "large"),
        ("huge", ("small", "medium"), "medium"),  # not on the ladder: the largest loaded
        ("medium", (), None),
    ],
)
def test_the_agent_runs_the_requested_variant_or_the_nearest_loaded_one(
    requested: str, loaded: tuple[str, ...], chosen: str | None
) -> None:
    variant, why = choose_variant(requested, loaded, LADDER)
    assert variant == chosen
    assert (requested in why) and (variant is None or variant in why)
