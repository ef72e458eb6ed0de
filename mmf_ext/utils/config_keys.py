"""Strict keys: a key written in a config file or on the command line must be one the run knows.

The run's schema is the framework defaults plus the defaults of its model and dataset (their
`config_path()` files and their `Config` dataclass). Some nodes are open: `params` (keyword
arguments of a component: optimizer, scheduler, metric, loss, processor, encoder), `processors`
(named processors of a dataset), empty mappings in the defaults (e.g.
`checkpoint.pretrained_state_mapping`), and the whole section of a model or dataset that has no
defaults or is not part of this run (experiment configs carry those, as in MMF).

Values are checked where a wrong type would be read silently: a key whose default is true or false
takes true, false or null. A quoted "false" is a string, and any non-empty string (or a 1) is true
where the code asks `if training.fp16:` (MMF reads it so; we refuse it). `yes`, `no`, `on` and `off`
are OmegaConf's booleans and stay accepted.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

OPEN_NODE_NAMES = frozenset({"params", "processors"})
COMPONENT_SECTIONS = ("model_config", "dataset_config")


def leaf_keys(config: Any, prefix: str = "") -> Iterator[str]:
    """Dotted keys of a mapping's leaves; lists and empty mappings count as leaves."""
    if not isinstance(config, DictConfig) or (len(config) == 0 and prefix):
        if prefix:
            yield prefix
        return
    for key in config:
        full = f"{prefix}.{key}" if prefix else str(key)
        node = config._get_node(key)
        if isinstance(node, DictConfig) and len(node) > 0:
            yield from leaf_keys(node, full)
        else:
            yield full


def all_keys(config: Any, prefix: str = "") -> list[str]:
    """Every dotted key of a config (lists by index)."""
    keys: list[str] = []
    if isinstance(config, DictConfig):
        items = [(str(k), config._get_node(k)) for k in config]
    elif isinstance(config, ListConfig):
        items = [(str(i), config._get_node(i)) for i in range(len(config))]
    else:
        return keys
    for name, child in items:
        full = f"{prefix}.{name}" if prefix else name
        keys.append(full)
        if isinstance(child, (DictConfig, ListConfig)):
            keys.extend(all_keys(child, full))
    return keys


class Schema:
    """What a run may set: the merged defaults, and the component sections open to anything."""

    def __init__(self, defaults: DictConfig, checked_sections: set[str]) -> None:
        self.defaults = defaults
        # e.g. {"model_config.asymnet", "dataset_config.synthetic_video2shop"}: checked key by key
        self.checked_sections = checked_sections

    def unknown_part(self, key: str) -> str | None:
        """The first prefix of `key` the schema does not know, or None when the key is allowed."""
        parts = key.split(".")
        node: Any = self.defaults
        for depth, part in enumerate(parts):
            prefix = ".".join(parts[: depth + 1])
            if depth == 1 and parts[0] in COMPONENT_SECTIONS and prefix not in self.checked_sections:
                return None  # another component's section, or one without defaults
            if not isinstance(node, DictConfig):
                return None  # below a leaf (a value, null or a list): the new value replaces it
            if depth > 0 and len(node) == 0:
                return None  # an empty mapping in the defaults is the user's to fill
            if part not in node:
                return prefix
            if depth > 0 and part in OPEN_NODE_NAMES:
                return None
            node = node._get_node(part)
        return None

    def in_open_node(self, key: str) -> bool:
        """Whether a new `key` lands in an open node (`params`, `processors`, an empty mapping)."""
        parts = key.split(".")
        node: Any = self.defaults
        for depth, part in enumerate(parts[:-1]):
            if not isinstance(node, DictConfig) or part not in node:
                return False
            node = node._get_node(part)
            if (depth > 0 and part in OPEN_NODE_NAMES) or (isinstance(node, DictConfig) and len(node) == 0):
                return True
        return False


def unknown_key_message(schema_config: DictConfig, key: str, where: str, add_hint: bool = False) -> str:
    """One line: the unknown key, where it was written, the closest keys and the keys beside it."""
    keys = all_keys(schema_config)
    close = difflib.get_close_matches(key, keys, n=3, cutoff=0.6)
    if not close:
        leaf = key.split(".")[-1]
        close = [k for k in keys if k.split(".")[-1] == leaf][:3]
    hint = f" Closest keys: {', '.join(close)}." if close else ""
    parent = key.rsplit(".", 1)[0] if "." in key else ""
    siblings = ""
    node = OmegaConf.select(schema_config, parent, default=None) if parent else None
    if isinstance(node, DictConfig):
        siblings = f" Keys under {parent}: {', '.join(str(k) for k in node)}."
    adding = f" Write +{key}=VALUE to add a new key on purpose." if add_hint else ""
    return f"{where}: unknown config key {key!r}.{hint}{siblings}{adding}"


def _written_value(data: DictConfig, key: str) -> tuple[bool, Any]:
    """(whether `key` is a plain value in `data`, that value): interpolations are resolved later, not here."""
    parent_key, _, leaf = key.rpartition(".")
    parent = OmegaConf.select(data, parent_key, default=None, throw_on_resolution_failure=False) if parent_key else data
    if not isinstance(parent, DictConfig) or leaf not in parent or OmegaConf.is_interpolation(parent, leaf):
        return False, None
    node = parent._get_node(leaf)
    return (False, None) if isinstance(node, (DictConfig, ListConfig)) else (True, node._value())


def not_a_bool_message(defaults: DictConfig, key: str, value: Any, where: str) -> str | None:
    """One line when `key` is true or false by default and `value` is anything but true, false or null."""
    default = OmegaConf.select(defaults, key, default=None, throw_on_resolution_failure=False)
    if not isinstance(default, bool) or value is None or isinstance(value, bool):
        return None
    return (
        f"{where}: {key}={value!r} is not true or false (its default is {str(default).lower()}); "
        "write true or false, unquoted"
    )


def layer_value_message(defaults: DictConfig, data: DictConfig, key: str, where: str) -> str | None:
    """not_a_bool_message for a key a config file writes (its interpolations are resolved later, not checked)."""
    plain, value = _written_value(data, key)
    return not_a_bool_message(defaults, key, value, where) if plain else None
