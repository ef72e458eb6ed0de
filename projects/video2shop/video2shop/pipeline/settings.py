"""A config section read into a settings dataclass: unknown keys and wrong types are one-line ConfigErrors."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from omegaconf import DictConfig, ListConfig, OmegaConf

from mmf_ext.utils.errors import ConfigError

T = TypeVar("T")
CASTS = {"int": int, "float": float, "str": str}


def plain(node: Any) -> Any:
    """OmegaConf nodes as plain dicts and lists (other values as they are)."""
    if isinstance(node, (DictConfig, ListConfig)):
        return OmegaConf.to_container(node, resolve=True)
    return node


def settings_from_config(cls: type[T], node: Mapping[str, Any] | DictConfig | None, where: str) -> T:
    """`cls(**node)` for a dataclass whose fields are int, float, str, bool or other plain values.

    A key the dataclass lacks names the known ones; an int/float/str/bool field given something else
    names the key and the value. Fields of other types (lists, mappings) are passed on as plain
    values for the dataclass's own checks (`X | None` fields as X). A missing key or null keeps the field's
    default.
    """
    values = dict(plain(node) or {})
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"{where}.{unknown[0]} is not a setting here; known: {', '.join(sorted(known))}")
    kwargs: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            continue
        kind = str(known[name].type).removesuffix(" | None")
        if kind == "bool":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}.{name}={value!r} is not true or false")
        elif kind in CASTS:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise ConfigError(f"{where}.{name}={value!r} is not a valid {kind}")
            try:
                value = CASTS[kind](value)
            except ValueError:
                raise ConfigError(f"{where}.{name}={value!r} is not a valid {kind}") from None
        kwargs[name] = value
    return cls(**kwargs)


def require(where: str, checks: list[tuple[str, Any, bool, str]]) -> None:
    """The first failed check (name, value, ok, rule) as a one-line ConfigError."""
    for name, value, ok, rule in checks:
        if not ok:
            raise ConfigError(f"{where}.{name}={value!r} is out of range; it must be {rule}")
