"""Typed loading of YAML config files into frozen dataclasses.

A config file is a mapping whose keys are exactly the fields of a dataclass (missing keys keep the
dataclass default, nested dataclasses are loaded field by field, never merged as dicts). An unknown
key or a value of the wrong type raises :class:`ConfigError` naming the file and the dotted key.

A file may begin with ``base: other.yaml`` and give only the keys in which it differs from that file.

A field made with :func:`derived_field` is stated in another file (the robot's speed limits in
``robot.yaml``): it can be given in code, but not as a key of this file; the error says where it lives.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

T = TypeVar("T")

_CONFIG_DIR = Path(__file__).resolve().parent


class ConfigError(ValueError):
    """A config file or mapping that does not match its dataclass."""


DERIVED = "configs.derived_from"
"""Field metadata key of a :func:`derived_field`: ``(file, key)`` where the value is stated."""


def derived_field(source: str, key: str, factory: Callable[[], Any]) -> Any:
    """A dataclass field whose value is stated once in ``source`` (its ``key``) and defaults to ``factory()``.

    Code may still pass it (a test of a 0.2 m robot); a YAML file that gives it as a key is refused
    with a :class:`ConfigError` that names ``source`` and ``key``, so the fact cannot get a second copy.
    """
    return dataclasses.field(default_factory=factory, metadata={DERIVED: (source, key)})


CONFIG_DIR_ENV = "NAV_CONFIG_DIR"
"""Environment variable naming a folder of the robot's own config files (ros.yaml, robot.yaml, ...): a
file there is read in place of the shipped one (``nav.graph.paths.resolve_config_path``, the robot profile)."""


def config_dir() -> Path:
    """The folder that holds the project's YAML configs."""
    return _CONFIG_DIR


MODELS_DIR_ENV = "NAV_MODELS_DIR"
"""Environment variable naming the folder of ``<variant>/`` model folders, in place of the shipped ones."""


def models_dir(relative: str | Path = "models") -> Path:
    """Where model folders ``<variant>/manifest.json`` are found for a relative ``agent.models_dir``:

    1. ``$NAV_MODELS_DIR`` when set;
    2. ``relative`` beside the configs folder, where it exists (the repository; a colcon install's ``share/nav``);
    3. the models installed with the package (``pip install``: the ``nav_models`` package data).
    """
    env = os.environ.get(MODELS_DIR_ENV)
    if env:
        return Path(env).expanduser()
    beside = _CONFIG_DIR.parent / relative
    if beside.is_dir():
        return beside
    try:
        import nav_models
    except ImportError:  # the package is not installed: say where it was looked for
        return beside
    return Path(next(iter(nav_models.__path__))).resolve()


def _resolve(path: str | Path) -> Path:
    """``path`` as given when it exists (or is absolute), else inside ``configs/``."""
    path = Path(path)
    if not path.is_absolute() and not path.exists():
        path = _CONFIG_DIR / path
    return path


def load_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, bad YAML or a non-mapping is a ConfigError."""
    path = _resolve(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


BASE_KEY = "base"
"""Top-level key of a file that states only how it differs from another (``base: train.yaml``)."""


def load_with_base(path: str | Path) -> tuple[dict[str, Any], str]:
    """The mapping of the YAML file ``path`` over the files it names as ``base`` (a path relative to its own
    folder, else inside ``configs/``): each key the file gives replaces the base's value whole (a nested mapping
    is not merged key by key). Also the source to name in errors ("train_small.yaml over train.yaml"). A base
    that is missing, or a chain that comes back to a file, is a ConfigError."""
    chain: list[Path] = []
    layers: list[dict[str, Any]] = []
    current: str | Path | None = path
    while current is not None:
        resolved = _resolve(current)
        if resolved.resolve() in [p.resolve() for p in chain]:
            names = " -> ".join(p.name for p in [*chain, resolved])
            raise ConfigError(f"{chain[0]}: the '{BASE_KEY}' chain comes back to a file ({names})")
        data = load_yaml(resolved)
        chain.append(resolved)
        base = data.pop(BASE_KEY, None)
        layers.append(data)
        if base is not None and not isinstance(base, str):
            raise ConfigError(f"{resolved}: '{BASE_KEY}' must be a file name, got {type(base).__name__} {base!r}")
        current = None if base is None else _beside(resolved, base)
    merged: dict[str, Any] = {}
    for layer in reversed(layers):
        merged.update(layer)
    source = " over ".join([str(path), *(p.name for p in chain[1:])])
    return merged, source


def _beside(path: Path, base: str) -> Path:
    """The file ``base`` names for ``path``: in ``path``'s folder, else inside ``configs/``."""
    own = path.parent / base
    return own if own.exists() else _CONFIG_DIR / base


def load(cls: type[T], path: str | Path, section: str | None = None) -> T:
    """Load ``cls`` from the YAML file ``path`` (relative paths resolve inside ``configs/``).

    With ``section``, only that top-level key of the file is loaded. Without, a file may name another as its
    ``base`` and give only the keys that differ (:func:`load_with_base`).
    """
    if section is None:
        data, source = load_with_base(path)
        return from_mapping(cls, data, source=source)
    data = load_yaml(path)
    source = str(path)
    if section not in data:
        raise ConfigError(f"{source}: missing section '{section}'")
    data = data[section]
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: section '{section}' must be a mapping")
    return from_mapping(cls, data, source=source, prefix=section)


def from_mapping(cls: type[T], data: dict[str, Any], source: str = "<mapping>", prefix: str = "") -> T:
    """Build dataclass ``cls`` from ``data``, checking every key and type."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls!r} is not a dataclass")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: '{prefix or '<root>'}' must be a mapping, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and DERIVED not in f.metadata}
    derived = {f.name: f.metadata[DERIVED] for f in dataclasses.fields(cls) if f.init and DERIVED in f.metadata}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = _dotted(prefix, unknown[0])
        if unknown[0] in derived:
            origin, key = derived[unknown[0]]
            raise ConfigError(f"{source}: '{where}' is not a key of this file: it is stated once, '{key}' in {origin}")
        stated = "".join(
            f"; stated in {origin}: {', '.join(sorted(n for n, (o, _) in derived.items() if o == origin))}"
            for origin in sorted({o for o, _ in derived.values()})
        )
        raise ConfigError(
            f"{source}: unknown key '{where}' "
            f"(known keys of '{prefix or '<root>'}': {', '.join(sorted(fields))}{stated})"
        )
    kwargs = {}
    for name, value in data.items():
        kwargs[name] = _coerce(hints[name], value, source, _dotted(prefix, name))
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: '{prefix or '<root>'}': {exc}") from exc


def _dotted(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, value: Any, source: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        return from_mapping(tp, value, source, key)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{source}: '{key}' must be one of {list(args)}, got {value!r}")
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, source, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{source}: '{key}' has the wrong type: {_type_name(tp)} expected, got {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{source}: '{key}' must be a list, got {type(value).__name__} {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, source, f"{key}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{source}: '{key}' must have {len(args)} items, got {len(value)}")
        return tuple(_coerce(a, v, source, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{source}: '{key}' must be a mapping, got {type(value).__name__}")
        kt, vt = args
        return {_coerce(kt, k, source, f"{key}.{k}"): _coerce(vt, v, source, f"{key}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{source}: '{key}' must be a number, got {type(value).__name__} {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{source}: '{key}' must be an integer, got {type(value).__name__} {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{source}: '{key}' must be true or false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{source}: '{key}' must be a string, got {type(value).__name__} {value!r}")
        return value
    if tp is Any:
        return value
    raise ConfigError(f"{source}: '{key}' has unsupported type {_type_name(tp)}")
