"""The YAML config loader: every key checked, every error names the dotted key and the file."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from configs import ConfigError, load
from policy.training.config import TrainConfig, load_train_config
from sim.config import SimConfig, load_sim_config
from sim.teacher import TeacherConfig, load_teacher_config

pytestmark = pytest.mark.unit


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "custom.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_an_unknown_nested_key_names_the_dotted_key_and_the_file(tmp_path):
    path = write(tmp_path, "robot:\n  max_speed: 1\n")

    with pytest.raises(ConfigError) as excinfo:
        load_sim_config(path)

    message = str(excinfo.value)
    assert "robot.max_speed" in message
    assert str(path) in message


def test_an_unknown_key_lists_the_known_keys_of_its_section(tmp_path):
    path = write(tmp_path, "robot:\n  max_speed: 1\n")

    with pytest.raises(ConfigError, match="max_linear"):
        load_sim_config(path)


def test_a_value_of_the_wrong_type_names_the_dotted_key_and_the_file(tmp_path):
    path = write(tmp_path, 'camera:\n  width: "big"\n')

    with pytest.raises(ConfigError) as excinfo:
        load_sim_config(path)

    message = str(excinfo.value)
    assert "camera.width" in message
    assert str(path) in message


def test_a_bool_is_refused_where_a_float_is_expected(tmp_path):
    path = write(tmp_path, "room:\n  size_min: true\n")

    with pytest.raises(ConfigError, match=r"room\.size_min"):
        load_sim_config(path)


def test_a_float_is_refused_where_an_integer_is_expected(tmp_path):
    path = write(tmp_path, "lidar:\n  beams: 360.5\n")

    with pytest.raises(ConfigError, match=r"lidar\.beams"):
        load_sim_config(path)


def test_a_value_outside_a_literal_choice_is_refused(tmp_path):
    path = write(tmp_path, "task:\n  collision_mode: bounce\n")

    with pytest.raises(ConfigError, match=r"task\.collision_mode"):
        load_sim_config(path)


def test_a_missing_file_is_a_config_error_naming_the_path(tmp_path):
    path = tmp_path / "nowhere.yaml"

    with pytest.raises(ConfigError) as excinfo:
        load_sim_config(path)

    assert str(path) in str(excinfo.value)


def test_a_file_whose_top_level_is_not_a_mapping_is_refused(tmp_path):
    path = write(tmp_path, "- room\n- robot\n")

    with pytest.raises(ConfigError, match="mapping"):
        load_sim_config(path)


def test_invalid_values_give_a_config_error_naming_the_file(tmp_path):
    path = write(tmp_path, "room:\n  size_min: 8.0\n  size_max: 6.0\n")

    with pytest.raises(ConfigError) as excinfo:
        load_sim_config(path)

    message = str(excinfo.value)
    assert str(path) in message
    assert "size_min" in message


def test_keys_left_out_keep_their_nested_defaults(tmp_path):
    path = write(tmp_path, "task:\n  reward:\n    success: 3.0\n")

    cfg = load_sim_config(path)

    assert cfg.task.reward.success == 3.0
    assert cfg.task.reward.collision == SimConfig().task.reward.collision
    assert cfg.task.max_episode_steps == SimConfig().task.max_episode_steps
    assert cfg.robot == SimConfig().robot


def test_lists_in_yaml_become_tuples(tmp_path):
    path = write(tmp_path, "lidar3d:\n  elevations_deg: [-5, 0, 5]\n")

    cfg = load_sim_config(path)

    assert cfg.lidar3d.elevations_deg == (-5.0, 0.0, 5.0)


@pytest.mark.parametrize("section", [f.name for f in dataclasses.fields(SimConfig)])
def test_the_shipped_sim_yaml_equals_the_dataclass_defaults(section):
    loaded = load_sim_config()

    assert getattr(loaded, section) == getattr(SimConfig(), section)


def test_the_shipped_teacher_yaml_loads_and_equals_the_dataclass_defaults():
    assert load_teacher_config() == TeacherConfig()


def test_a_section_of_a_file_can_be_loaded_on_its_own(tmp_path):
    path = write(tmp_path, "teacher:\n  lookahead: 0.7\n")

    cfg = load(TeacherConfig, path, section="teacher")

    assert cfg.lookahead == 0.7


@pytest.mark.parametrize("wait", [-0.01, 1.5])
def test_a_negative_or_huge_image_wait_is_refused(tmp_path, wait):
    from nav.runtime.config import load_ros_config

    with pytest.raises(ConfigError, match=r"image_wait must be within \[0, 1\] s"):
        load_ros_config(write(tmp_path, f"agent:\n  image_wait: {wait}\n"))


def test_a_tick_waits_for_a_frame_at_most_half_a_control_period(tmp_path):
    from nav.runtime.config import load_ros_config

    def wait(text: str) -> float:
        return load_ros_config(write(tmp_path, f"agent:\n{text}")).agent.frame_wait

    assert wait("  control_hz: 10.0\n  image_wait: 0.05\n") == 0.05
    assert wait("  control_hz: 20.0\n  image_wait: 0.05\n") == 0.025  # a faster loop shortens it, no error
    assert wait("  image_wait: 0.0\n") == 0.0


def test_a_file_may_give_only_how_it_differs_from_its_base(tmp_path):
    (tmp_path / "recipe.yaml").write_text("seed: 3\nbc_episodes: 40\nworkers: 1\n", encoding="utf-8")
    (tmp_path / "variant.yaml").write_text("base: recipe.yaml\nbc_episodes: 5\n", encoding="utf-8")

    config = load(TrainConfig, tmp_path / "variant.yaml")

    assert (config.seed, config.bc_episodes, config.workers) == (3, 5, 1)  # the base's, its own, the base's


def test_the_shipped_variant_recipes_are_train_yaml_but_for_what_they_say():
    base = load_train_config("train.yaml")
    small, large = load_train_config("train_small.yaml"), load_train_config("train_large.yaml")

    assert (small.variant, small.perturbations, small.bc_episodes) == ("small", (), base.bc_episodes)
    assert (large.variant, large.bc_episodes, large.learning_rate) == ("large", 0, base.learning_rate)


def test_an_unknown_key_in_a_base_is_named_with_both_files(tmp_path):
    (tmp_path / "recipe.yaml").write_text("seeds: 3\n", encoding="utf-8")
    (tmp_path / "variant.yaml").write_text("base: recipe.yaml\n", encoding="utf-8")

    with pytest.raises(ConfigError, match=r"variant\.yaml over recipe\.yaml: unknown key 'seeds'"):
        load(TrainConfig, tmp_path / "variant.yaml")


def test_a_missing_base_or_a_base_chain_that_loops_is_a_config_error(tmp_path):
    (tmp_path / "a.yaml").write_text("base: nowhere.yaml\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nowhere.yaml"):
        load(TrainConfig, tmp_path / "a.yaml")

    (tmp_path / "a.yaml").write_text("base: b.yaml\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"comes back to a file \(a.yaml -> b.yaml -> a.yaml\)"):
        load(TrainConfig, tmp_path / "a.yaml")
