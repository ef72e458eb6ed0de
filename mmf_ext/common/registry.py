"""One global registry of models, dataset builders, metrics, losses and friends.

It keeps MMF's decorator and lookup names so MMF plugins port by changing an import. Unlike MMF,
an unknown name raises an error that lists what is registered (MMF returned None and failed
later), and a name cannot silently be taken twice by different objects.
"""

from __future__ import annotations

import difflib
from typing import Any, Callable, TypeVar

T = TypeVar("T")

_KINDS = (
    "model",
    "builder",
    "metric",
    "loss",
    "trainer",
    "callback",
    "optimizer",
    "scheduler",
    "processor",
)


class RegistryError(KeyError):
    """An unknown or duplicate name in the registry (a user-facing error)."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0]) if self.args else ""


def unknown_name_message(kind: str, name: str, known: list[str]) -> str:
    """One line naming the unknown value, the closest matches and everything registered."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    listing = ", ".join(sorted(known)) if known else "none"
    return (
        f"No {kind} registered under the name {name!r}.{hint} Registered {kind}s: {listing}. "
        f"If it lives in your own package, pass env.user_dir=/path/to/package (or MMF_USER_DIR)."
    )


class Registry:
    """Maps names to classes, per kind, plus a free-form key/value store for run state."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Any]] = {kind: {} for kind in _KINDS}
        self._state: dict[str, Any] = {}

    # -- generic ----------------------------------------------------------------------------
    def _register(self, kind: str, name: str) -> Callable[[T], T]:
        def wrap(obj: T) -> T:
            table = self._entries[kind]
            existing = table.get(name)
            if existing is not None and not _same_object(existing, obj):
                raise RegistryError(
                    f"The {kind} name {name!r} is already registered to "
                    f"{_describe(existing)}; pick another name for {_describe(obj)}."
                )
            table[name] = obj
            return obj

        return wrap

    def _get(self, kind: str, name: str) -> Any:
        table = self._entries[kind]
        if name not in table:
            # Built-in components register on import; import them before giving up.
            from mmf_ext.utils.env import setup_imports

            setup_imports()
        if name not in table:
            raise RegistryError(unknown_name_message(kind, name, list(table)))
        return table[name]

    def names(self, kind: str) -> list[str]:
        """Registered names of one kind, sorted."""
        return sorted(self._entries[kind])

    # -- MMF's decorators -------------------------------------------------------------------
    def register_model(self, name: str) -> Callable[[T], T]:
        return self._register("model", name)

    def register_builder(self, name: str) -> Callable[[T], T]:
        return self._register("builder", name)

    def register_metric(self, name: str) -> Callable[[T], T]:
        return self._register("metric", name)

    def register_loss(self, name: str) -> Callable[[T], T]:
        return self._register("loss", name)

    def register_trainer(self, name: str) -> Callable[[T], T]:
        return self._register("trainer", name)

    def register_callback(self, name: str) -> Callable[[T], T]:
        return self._register("callback", name)

    def register_optimizer(self, name: str) -> Callable[[T], T]:
        return self._register("optimizer", name)

    def register_scheduler(self, name: str) -> Callable[[T], T]:
        return self._register("scheduler", name)

    def register_processor(self, name: str) -> Callable[[T], T]:
        return self._register("processor", name)

    # -- MMF's lookups ----------------------------------------------------------------------
    def get_model_class(self, name: str) -> Any:
        return self._get("model", name)

    def get_builder_class(self, name: str) -> Any:
        return self._get("builder", name)

    def get_metric_class(self, name: str) -> Any:
        return self._get("metric", name)

    def get_loss_class(self, name: str) -> Any:
        return self._get("loss", name)

    def get_trainer_class(self, name: str) -> Any:
        return self._get("trainer", name)

    def get_callback_class(self, name: str) -> Any:
        return self._get("callback", name)

    def get_optimizer_class(self, name: str) -> Any:
        return self._get("optimizer", name)

    def get_scheduler_class(self, name: str) -> Any:
        return self._get("scheduler", name)

    def get_processor_class(self, name: str) -> Any:
        return self._get("processor", name)

    def has(self, kind: str, name: str) -> bool:
        return name in self._entries[kind]

    # -- state ------------------------------------------------------------------------------
    def register(self, key: str, value: Any) -> None:
        """Store run state (the config, the writer, ...) under a dotted key."""
        self._state[key] = value

    def get(self, key: str, default: Any = None, no_warning: bool = True) -> Any:
        return self._state.get(key, default)

    def unregister(self, key: str) -> Any:
        return self._state.pop(key, None)


def _same_object(a: Any, b: Any) -> bool:
    # A module imported twice under two names re-creates its classes; treat same-named
    # classes from the same module as the same object so re-imports are harmless.
    if a is b:
        return True
    return (
        getattr(a, "__qualname__", None) == getattr(b, "__qualname__", None)
        and getattr(a, "__module__", None) == getattr(b, "__module__", None)
    )


def _describe(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


registry = Registry()
