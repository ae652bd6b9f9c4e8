"""The experiments' configuration: one YAML file shipped with the package (``config.yaml``),
optionally overridden by a user's file, validated into typed objects before anything runs.

Layout::

    seed: 2008                 # root seed of every experiment
    quick_paths: 200           # path count of a --quick smoke run
    markets:                   # named MarketParams sets (every field of asmm_env.MarketParams)
      as2008: {s0: 100.0, sigma: 2.0, ...}
    experiments:               # one section per experiment, fields of its Settings dataclass
      baseline: {market: as2008, paths: 10000, ...}

A user's file is merged key by key over the defaults (a market or experiment section given
there replaces only the fields it names). Errors name the offending key path.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from asmm_env.params import MarketParams

DEFAULT_CONFIG = "config.yaml"


class ConfigError(ValueError):
    """A configuration file or value is malformed; the message names the key path."""


@dataclass(frozen=True)
class Config:
    """The validated configuration: root seed, quick path count, markets and the raw
    (validated on use) experiment sections."""

    seed: int
    quick_paths: int
    markets: dict[str, MarketParams]
    experiments: dict[str, dict[str, Any]]
    raw: dict[str, Any]

    def market(self, name: str) -> MarketParams:
        try:
            return self.markets[name]
        except KeyError:
            raise ConfigError(f"market {name!r} is not defined; defined markets: "
                              f"{sorted(self.markets)}") from None

    def settings(self, experiment: str, cls: type) -> Any:
        """The section ``experiments.<experiment>`` validated into the dataclass ``cls``."""
        where = f"experiments.{experiment}"
        section = self.experiments.get(experiment, {})
        settings = build_dataclass(cls, section, where)
        # A field ``market`` (a name) or ``markets`` (names) must name defined markets.
        for key in ("market", "markets"):
            value = getattr(settings, key, None)
            names = [value] if isinstance(value, str) else value
            if not isinstance(names, (list, tuple)):
                continue
            for i, name in enumerate(names):
                if isinstance(name, str) and name not in self.markets:
                    path = f"{where}.{key}" + ("" if isinstance(value, str) else f"[{i}]")
                    raise ConfigError(f"{path}: market {name!r} is not defined; defined "
                                      f"markets: {sorted(self.markets)}")
        return settings

    def dump(self) -> str:
        """The effective configuration as YAML (feed it back with --config to reproduce)."""
        return yaml.safe_dump(self.raw, sort_keys=False)


def _merge(base: dict, override: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _read_yaml(text: str, where: str) -> dict:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ConfigError(f"{where}: not valid YAML ({err})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: the top level must be a mapping, got {type(data).__name__}")
    return data


def load_config(path: str | Path | None = None) -> Config:
    """The shipped defaults, merged with the user's file at ``path`` if given."""
    raw = _read_yaml(resources.files("experiments").joinpath(DEFAULT_CONFIG).read_text(),
                     DEFAULT_CONFIG)
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"--config: no such file {str(path)!r}")
        raw = _merge(raw, _read_yaml(path.read_text(), str(path)))
    return parse_config(raw)


def parse_config(raw: dict[str, Any]) -> Config:
    known = {"seed", "quick_paths", "markets", "experiments"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ConfigError(f"unknown top-level key(s) {unknown}; known: {sorted(known)}")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}")
    quick = raw.get("quick_paths", 200)
    if not isinstance(quick, int) or isinstance(quick, bool) or quick < 1:
        raise ConfigError(f"quick_paths must be an integer >= 1, got {quick!r}")
    markets_raw = raw.get("markets", {})
    if not isinstance(markets_raw, dict):
        raise ConfigError(f"markets must be a mapping of name -> parameters, got {markets_raw!r}")
    markets = {name: build_dataclass(MarketParams, fields, f"markets.{name}")
               for name, fields in markets_raw.items()}
    experiments = raw.get("experiments", {})
    if not isinstance(experiments, dict) or not all(
            isinstance(v, dict) for v in experiments.values()):
        raise ConfigError("experiments must be a mapping of experiment name -> mapping")
    return Config(seed, quick, markets, experiments, raw)


def build_dataclass(cls: type, values: Any, where: str) -> Any:
    """``cls(**values)`` with the key path named in every error (unknown field, wrong type,
    out-of-range value from the dataclass's own validation)."""
    if not isinstance(values, dict):
        raise ConfigError(f"{where} must be a mapping, got {values!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {unknown}; known: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for name, value in values.items():
        kwargs[name] = _coerce(value, hints.get(name), f"{where}.{name}")
    try:
        return cls(**kwargs)
    except (ValueError, TypeError) as err:
        message = str(err)
        # Dataclass validation names the field first ("sigma must be > 0, got -1.0"): give
        # the full key path ("markets.as2008.sigma must be > 0, got -1.0").
        if message.split(" ", 1)[0].split("[", 1)[0] in fields:
            raise ConfigError(f"{where}.{message}") from None
        raise ConfigError(f"{where}: {message}") from None


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check a YAML value against a simple type hint (float, int, str, bool, tuples/lists of
    those, Optional); ints are accepted for floats, lists become tuples."""
    if hint is None:
        return value
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for candidate in inner:
            try:
                return _coerce(value, candidate, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        item = args[0] if args else None
        return tuple(_coerce(v, item, f"{where}[{i}]") for i, v in enumerate(value))
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where} must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where} must be an integer, got {value!r}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{where} must be true or false, got {value!r}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where} must be a string, got {value!r}")
        return value
    return value
