"""One global registry of models, dataset builders, metrics, losses and friends.

It keeps MMF's decorator and lookup names (`register_model`, `get_model_class`, ...) and MMF's
dotted state store (`register("a.b", x)`, `get("a.b")`), so MMF plugins port by changing an
import (or none, through the `mmf` alias). Where we differ from MMF, on purpose:

- an unknown name raises `RegistryError` listing what is registered (MMF returned None and the
  run failed later, far from the typo);
- two different objects of plugins (or two built-ins) cannot share a name: the second
  registration is an error (MMF silently kept the last one);
- a plugin may still replace a built-in (a class defined in an `mmf_ext.*` module), as in MMF,
  but with a `RegistryOverrideWarning` naming both; the plugin keeps the name whichever of the
  two registers first. Placeholders for MMF names we do not provide are replaced silently.
- the registry is an instance, not a class with classmethods.
"""

from __future__ import annotations

import difflib
import importlib
import logging
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

from mmf_ext.utils.env import setup_imports
from mmf_ext.utils.errors import ConfigError

T = TypeVar("T")

logger = logging.getLogger("mmf_ext")

# kind -> the key of MMF's `Registry.mapping` that holds it (kept so `registry.mapping[...]` reads work)
MAPPING_KEYS: dict[str, str] = {
    "model": "model_name_mapping",
    "builder": "builder_name_mapping",
    "metric": "metric_name_mapping",
    "torchmetric": "torchmetric_name_mapping",
    "loss": "loss_name_mapping",
    "trainer": "trainer_name_mapping",
    "callback": "callback_name_mapping",
    "optimizer": "optimizer_name_mapping",
    "scheduler": "scheduler_name_mapping",
    "processor": "processor_name_mapping",
    "fusion": "fusion_name_mapping",
    "pooler": "pool_name_mapping",
    "encoder": "encoder_name_mapping",
    "decoder": "decoder_name_mapping",
    "transformer_backend": "transformer_backend_name_mapping",
    "transformer_head": "transformer_head_name_mapping",
    "test_reporter": "test_reporter_mapping",
    "iteration_strategy": "iteration_strategy_name_mapping",
}
_KINDS = tuple(MAPPING_KEYS)

# Built-in modules that register a kind; imported on a miss, before setup_imports() (which
# imports every built-in and plugin) is tried.
_BUILTIN_MODULES: dict[str, tuple[str, ...]] = {
    "metric": ("mmf_ext.modules.metrics",),
    "loss": ("mmf_ext.modules.losses",),
    "processor": ("mmf_ext.datasets.processors",),
}

BUILTIN_PREFIX = "mmf_ext."
_MISSING = object()


class RegistryError(KeyError):
    """An unknown or duplicate name in the registry (a user-facing error)."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


class RegistryOverrideWarning(UserWarning):
    """A plugin took a name that a built-in of the framework also registers."""


def unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    """One line naming the unknown value, the closest matches and everything registered."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    listing = ", ".join(sorted(known)) if known else "none"
    return (
        f"No {kind} registered under the name {name!r}.{hint} Registered {kind}s: {listing}. "
        f"If it lives in your own package, pass env.user_dir=/path/to/package (or MMF_USER_DIR)."
    )


def is_builtin(obj: Any) -> bool:
    """Whether an object is one of the framework's own (defined in an `mmf_ext.*` module)."""
    module = getattr(obj, "__module__", None) or ""
    return module == "mmf_ext" or module.startswith(BUILTIN_PREFIX)


def is_placeholder(obj: Any) -> bool:
    """A built-in stand-in for an MMF name we do not provide; anyone may take its name."""
    return is_builtin(obj) and bool(getattr(obj, "mmf_ext_placeholder", False))


class Registry:
    """Maps names to classes, per kind, plus a dotted key/value store for run state."""

    def __init__(self) -> None:
        # MMF's layout: registry.mapping["model_name_mapping"], ..., registry.mapping["state"].
        self.mapping: dict[str, dict[str, Any]] = {key: {} for key in MAPPING_KEYS.values()}
        self.mapping["state"] = {}

    def _table(self, kind: str) -> dict[str, Any]:
        try:
            return self.mapping[MAPPING_KEYS[kind]]
        except KeyError:
            raise RegistryError(f"Unknown registry kind {kind!r}; kinds: {', '.join(_KINDS)}") from None

    # -- generic ----------------------------------------------------------------------------
    def _register(self, kind: str, name: str) -> Callable[[T], T]:
        def wrap(obj: T) -> T:
            table = self._table(kind)
            existing = table.get(name)
            if existing is None or _same_object(existing, obj):
                table[name] = obj
            else:
                table[name] = _resolve_clash(kind, name, existing, obj)
            return obj

        return wrap

    def _import_builtins(self, kind: str) -> None:
        for module in _BUILTIN_MODULES.get(kind, ()):
            importlib.import_module(module)
        setup_imports()  # every built-in and installed plugin

    def get_class(self, kind: str, name: str, default: Any = _MISSING) -> Any:
        """The object registered under `name`; `default` (if given) instead of an error when unknown."""
        table = self._table(kind)
        if name not in table:
            self._import_builtins(kind)
        if name in table:
            return table[name]
        if default is not _MISSING:
            return default
        raise RegistryError(unknown_name_message(kind, name, list(table)))

    _get = get_class  # the name the framework used before

    def names(self, kind: str) -> list[str]:
        """Registered names of one kind, sorted."""
        return sorted(self._table(kind))

    def has(self, kind: str, name: str) -> bool:
        return name in self._table(kind)

    def name_of(self, kind: str, obj: Any) -> str | None:
        """The first name `obj` is registered under (None if it is not)."""
        for name, value in self._table(kind).items():
            if _same_object(value, obj):
                return name
        return None

    # -- state (MMF's dotted-key store) -------------------------------------------------------
    def register(self, name: str, obj: Any) -> None:
        """Store run state under a dotted key: `register("a.b", x)` makes `get("a")` == {"b": x}."""
        *parents, leaf = name.split(".")
        current = self.mapping["state"]
        for part in parents:
            child = current.setdefault(part, {})
            if not isinstance(child, dict):
                raise RegistryError(
                    f"Cannot register {name!r}: {part!r} already holds a {type(child).__name__}, not a dict"
                )
            current = child
        current[leaf] = obj

    def get(self, name: str, default: Any = None, no_warning: bool = False) -> Any:
        """The value under a dotted key, or `default`; MMF's warning goes to a registered writer."""
        value: Any = self.mapping["state"]
        for part in name.split("."):
            if not isinstance(value, dict) or part not in value:
                self._warn_missing(name, default, no_warning)
                return default
            value = value[part]
        return value

    def _warn_missing(self, name: str, default: Any, no_warning: bool) -> None:
        writer = self.mapping["state"].get("writer")
        if not no_warning and writer is not None and hasattr(writer, "warning"):
            writer.warning(f"Key {name} is not present in registry, returning default value of {default}")

    def unregister(self, name: str) -> Any:
        """Remove a dotted key; returns its value (None if absent)."""
        *parents, leaf = name.split(".")
        current: Any = self.mapping["state"]
        for part in parents:
            current = current.get(part) if isinstance(current, dict) else None
        return current.pop(leaf, None) if isinstance(current, dict) else None


def unavailable_class(kind: str, name: str, reason: str, base: type = object) -> type:
    """A placeholder registered under an MMF name we do not provide: building it fails in one line.

    A plugin that registers the name replaces it silently (see `is_placeholder`).
    """

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        raise ConfigError(f"{kind} {name!r} (MMF's) is not available here: {reason}")

    safe = "".join(c if c.isalnum() else "_" for c in name)
    return type(
        f"Unavailable_{kind}_{safe}",
        (base,),
        {
            "__init__": __init__,
            "__module__": __name__,
            "mmf_ext_placeholder": True,
            "__doc__": f"Placeholder for MMF's {kind} {name!r}: {reason}",
        },
    )


def _add_kind_methods(kind: str, register_name: str, get_names: tuple[str, ...]) -> None:
    """Give Registry MMF's `register_<kind>` decorator and `get_<kind>_class` lookups."""

    def register(self: Registry, name: str) -> Callable[[T], T]:
        return self._register(kind, name)

    register.__name__ = register_name
    register.__doc__ = f"Decorator: register a {kind} under `name`."
    setattr(Registry, register_name, register)
    for get_name in get_names:
        setattr(Registry, get_name, _lookup(kind, get_name))


def _lookup(kind: str, get_name: str) -> Callable[[Registry, str], Any]:
    def lookup(self: Registry, name: str) -> Any:
        return self.get_class(kind, name)

    lookup.__name__ = get_name
    lookup.__doc__ = f"The {kind} registered under `name` (RegistryError if unknown)."
    return lookup


for _kind in _KINDS:
    _add_kind_methods(_kind, f"register_{_kind}", (f"get_{_kind}_class",))
_add_kind_methods("pooler", "register_pooler", ("get_pooler_class", "get_pool_class"))  # MMF: get_pool_class
# MMF spells this lookup `get_test_rerporter_class`; both spellings work.
_add_kind_methods("test_reporter", "register_test_reporter", ("get_test_reporter_class", "get_test_rerporter_class"))
# MMF registers datamodules in the builder table.
_add_kind_methods("builder", "register_datamodule", ("get_datamodule_class",))


def _resolve_clash(kind: str, name: str, existing: Any, new: Any) -> Any:
    """Which of two objects keeps a name: a plugin beats a built-in (with a warning), else error."""
    if is_placeholder(existing):
        return new
    if is_placeholder(new):
        return existing
    if is_builtin(existing) != is_builtin(new):
        plugin, builtin = (new, existing) if is_builtin(existing) else (existing, new)
        warnings.warn(
            f"The {kind} name {name!r}: {_describe(plugin)} replaces the built-in {_describe(builtin)}",
            RegistryOverrideWarning,
            stacklevel=3,
        )
        return plugin
    raise RegistryError(
        f"The {kind} name {name!r} is already registered to "
        f"{_describe(existing)}; pick another name for {_describe(new)}."
    )


def _same_object(a: Any, b: Any) -> bool:
    # A module imported twice under two names re-creates its classes; treat same-named
    # classes from the same module as the same object so re-imports are harmless.
    if a is b:
        return True
    return (
        getattr(a, "__qualname__", None) is not None
        and getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
        and getattr(a, "__module__", None) == getattr(b, "__module__", None)
    )


def _describe(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


registry = Registry()
