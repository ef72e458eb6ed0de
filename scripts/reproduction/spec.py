"""scripts/reproduce.yaml read and checked: the rows to run and the tables to write (its header says what each key
means). Every key is checked, so a typo is one line naming the file, the entry and the key, never a row silently
left out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from mmf_ext.utils.errors import ConfigError

KINDS = ("mmf_run", "ablation", "benchmark", "video2shop", "chance", "mean")
ROW_KEYS = {
    "mmf_run": {"args"},
    "ablation": {"config", "dataset", "model", "overrides"},
    "benchmark": {"args"},
    "video2shop": {"args"},
    "chance": {"of"},
    "mean": {"over"},
}
COMMON_ROW_KEYS = {"name", "kind", "quick", "env"}
TABLE_KEYS = {"name", "docs", "columns", "rows", "tolerance"}
COLUMN_KEYS = {"head", "cell", "check", "tolerance"}
TABLE_ROW_KEYS = {"result", "label", "cells", "at", "tolerance", "check"}
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
SAVE_REFERENCE = re.compile(r"\{save\.([a-z][a-z0-9_]*)\}")


@dataclass(frozen=True)
class Row:
    """One run: how to make its command, and whether --quick runs it."""

    name: str
    kind: str
    quick: bool = False
    args: tuple[str, ...] = ()
    config: str | None = None
    dataset: str = "synthetic_video2shop"
    model: str | None = None
    overrides: tuple[str, ...] = ()
    of: str | None = None
    over: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)

    def needs(self) -> list[str]:
        """The rows this one reads: their save dirs in its command, or the rows it derives from."""
        found = [m for text in (*self.args, *self.overrides) for m in SAVE_REFERENCE.findall(text)]
        return list(dict.fromkeys(([self.of] if self.of else []) + list(self.over) + found))


@dataclass(frozen=True)
class Column:
    head: str
    cell: str | None = None  # None: the row's label
    check: bool = True
    tolerance: float | None = None


@dataclass(frozen=True)
class TableRow:
    result: str | None
    label: str = ""
    cells: dict[str, str] = field(default_factory=dict)
    at: str | None = None
    tolerance: float | None = None
    check: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    docs: tuple[str, ...]
    columns: tuple[Column, ...]
    rows: tuple[TableRow, ...]
    tolerance: float = 0.0

    def results(self) -> list[str]:
        """The rows whose results the table shows."""
        return list(dict.fromkeys(r.result for r in self.rows if r.result))


@dataclass(frozen=True)
class Spec:
    path: Path
    rows: tuple[Row, ...]
    tables: tuple[Table, ...]

    def row(self, name: str) -> Row:
        for row in self.rows:
            if row.name == name:
                return row
        raise ConfigError(f"--only {name}: no such row in {self.path}; rows: {', '.join(r.name for r in self.rows)}")


def _unknown(keys: set[str], allowed: set[str], where: str) -> None:
    extra = sorted(keys - allowed)
    if extra:
        raise ConfigError(f"{where}: unknown key {extra[0]!r}; known keys: {', '.join(sorted(allowed))}")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    """A list of strings; an item that is itself a list (an interpolated `${budgets.X}`) is spliced in."""
    if value is None:
        return ()
    items = (
        [v for item in value for v in (item if isinstance(item, list) else [item])] if isinstance(value, list) else None
    )
    if items is None or not all(isinstance(v, (str, int, float)) for v in items):
        raise ConfigError(f"{where}: must be a list of strings")
    return tuple(str(v) for v in items)


def _row(entry: dict[str, Any], where: str, env: dict[str, str]) -> Row:
    name, kind = entry.get("name"), entry.get("kind")
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(f"{where}: name {name!r} must be an identifier of lower-case letters, digits and _")
    where = f"{where} ({name})"
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind {kind!r} is not one of {', '.join(KINDS)}")
    _unknown(set(entry), COMMON_ROW_KEYS | ROW_KEYS[kind], where)
    if kind == "ablation" and not entry.get("config"):
        raise ConfigError(f"{where}: an ablation row needs `config` (the overlay to run)")
    if kind == "chance" and not entry.get("of"):
        raise ConfigError(f"{where}: a chance row needs `of` (the row whose gallery it ranks at random)")
    over = _strings(entry.get("over"), f"{where}: over")
    if kind == "mean" and len(set(over)) < 2:
        raise ConfigError(f"{where}: a mean row needs `over`: two or more rows whose figures it averages")
    return Row(
        name=name,
        kind=kind,
        quick=bool(entry.get("quick", False)),
        args=_strings(entry.get("args"), f"{where}: args"),
        config=entry.get("config"),
        dataset=str(entry.get("dataset") or "synthetic_video2shop"),
        model=entry.get("model"),
        overrides=_strings(entry.get("overrides"), f"{where}: overrides"),
        of=entry.get("of"),
        over=over,
        env={**env, **{str(k): str(v) for k, v in (entry.get("env") or {}).items()}},
    )


def _table(entry: dict[str, Any], where: str, row_names: set[str]) -> Table:
    name = entry.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise ConfigError(f"{where}: name {name!r} must be an identifier of lower-case letters, digits and _")
    where = f"{where} ({name})"
    _unknown(set(entry), TABLE_KEYS, where)
    columns = []
    for number, column in enumerate(entry.get("columns") or []):
        _unknown(set(column), COLUMN_KEYS, f"{where}: column {number}")
        columns.append(
            Column(str(column["head"]), column.get("cell"), bool(column.get("check", True)), column.get("tolerance"))
        )
    heads = [c.head for c in columns]
    if not columns or len(set(heads)) != len(heads):
        raise ConfigError(f"{where}: needs columns with distinct heads")
    rows = []
    for number, row in enumerate(entry.get("rows") or []):
        here = f"{where}: row {number}"
        _unknown(set(row), TABLE_ROW_KEYS, here)
        cells = {str(k): str(v) for k, v in (row.get("cells") or {}).items()}
        unknown = sorted(set(cells) - set(heads))
        if unknown:
            raise ConfigError(
                f"{here}: cells name column {unknown[0]!r}, which the table lacks; columns: {', '.join(heads)}"
            )
        result = row.get("result")
        if result is not None and result not in row_names:
            raise ConfigError(f"{here}: result {result!r} is not a row of the file")
        rows.append(
            TableRow(
                result,
                str(row.get("label") or ""),
                cells,
                row.get("at"),
                row.get("tolerance"),
                bool(row.get("check", True)),
            )
        )
    return Table(
        name,
        _strings(entry.get("docs"), f"{where}: docs"),
        tuple(columns),
        tuple(rows),
        float(entry.get("tolerance") or 0.0),
    )


def load_spec(path: str | Path) -> Spec:
    """The rows and tables of a reproduce.yaml, checked (ConfigError: one line naming the entry and key)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: no such file; give the rows and tables to reproduce (scripts/reproduce.yaml)")
    raw = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    _unknown(set(raw), {"budgets", "env", "rows", "tables"}, str(path))
    env = {str(k): str(v) for k, v in (raw.get("env") or {}).items()}
    rows = tuple(_row(entry, f"{path}: rows[{i}]", env) for i, entry in enumerate(raw.get("rows") or []))
    names = [r.name for r in rows]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ConfigError(f"{path}: row {duplicated[0]!r} appears more than once; give every row its own name")
    for number, row in enumerate(rows):
        for needed in row.needs():
            if needed not in names[:number]:
                raise ConfigError(
                    f"{path}: row {row.name!r} reads row {needed!r}, which is not a row above it; "
                    f"put it after {needed!r}"
                )
    tables = tuple(_table(entry, f"{path}: tables[{i}]", set(names)) for i, entry in enumerate(raw.get("tables") or []))
    table_names = [t.name for t in tables]
    if len(set(table_names)) != len(table_names):
        raise ConfigError(f"{path}: two tables share a name; give every table its own")
    return Spec(path, rows, tables)
