"""Project configuration: the YAML files in this folder and the one loader that reads them.

Every fact the stack needs (room sizes, sensor layouts, velocity limits, model variants, topic
names) lives in a YAML file here and is read into a typed, frozen dataclass by :func:`load`.
"""

from configs.loader import MODELS_DIR_ENV, ConfigError, config_dir, from_mapping, load, load_yaml, models_dir

__all__ = ["MODELS_DIR_ENV", "ConfigError", "config_dir", "from_mapping", "load", "load_yaml", "models_dir"]
