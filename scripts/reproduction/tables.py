"""Doc tables from measured results: cell templates filled from a results JSON, markdown tables rendered,
and a doc's table compared with the measured one cell by cell (numbers within a tolerance)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from reproduction.spec import Table, TableRow

PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.]*)(?::([^{}]*))?\}")
NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?(?:e[-+]?\d+)?")


class MissingValue(KeyError):
    """A template names a value the results do not hold (the row was not measured, or the path is wrong)."""


def duration(seconds: float) -> str:
    """Seconds as people read them: '6 s', '3 min 41 s', '1 h 23 min'."""
    total = int(round(float(seconds)))
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} min {total % 60} s"
    return f"{total // 3600} h {total % 3600 // 60} min"


def format_value(value: Any, spec: str | None) -> str:
    """One value with a format: pct1 / pct2 (a fraction as a percentage), duration, e1 (2.4e-7), or a Python spec."""
    if spec in (None, ""):
        return str(value)
    if spec in ("pct1", "pct2"):
        return f"{100 * float(value):.{spec[-1]}f}"
    if spec == "duration":
        return duration(value)
    if spec == "e1":
        mantissa, exponent = f"{float(value):.1e}".split("e")
        return f"{mantissa}e{int(exponent)}"
    return format(value, spec)


def lookup(record: dict[str, Any], path: str, at: str | None = None) -> Any:
    """A value of a row's record: `path` (after `at`) in its metrics, else in the record itself."""
    for base, full in ((record.get("metrics") or {}, f"{at}.{path}" if at else path), (record, path)):
        value: Any = base
        for part in full.split("."):
            if isinstance(value, dict) and part in value:
                value = value[part]
            elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
                value = value[int(part)]
            else:
                break
        else:
            return value
    raise MissingValue(path)


def fill(template: str, record: dict[str, Any] | None, at: str | None = None) -> str:
    """The template with every {path:format} replaced from the record (MissingValue when one is absent)."""

    def one(match: re.Match) -> str:
        if record is None:
            raise MissingValue(match.group(1))
        return format_value(lookup(record, match.group(1), at), match.group(2))

    return PLACEHOLDER.sub(one, template)


def row_cells(table: Table, row: TableRow, results: dict[str, dict[str, Any]]) -> list[str]:
    """The rendered cells of one table row (MissingValue when its result row was not measured)."""
    record = results.get(row.result) if row.result else None
    if row.result and (record is None or record.get("returncode") != 0):
        raise MissingValue(row.result)
    cells = []
    for column in table.columns:
        template = row.cells.get(column.head, column.cell if column.cell is not None else row.label)
        cells.append(fill(template, record, row.at))
    return cells


def markdown_line(cells: list[str]) -> str:
    return "|" + "".join(f" {cell} |" if cell else " |" for cell in cells)


def render(table: Table, results: dict[str, dict[str, Any]]) -> str:
    """The table in markdown (MissingValue naming what is missing when a row was not measured)."""
    lines = [markdown_line([c.head for c in table.columns]), markdown_line(["---"] * len(table.columns))]
    lines += [markdown_line(row_cells(table, row, results)) for row in table.rows]
    return "\n".join(lines)


def missing_rows(table: Table, results: dict[str, dict[str, Any]]) -> list[str]:
    """The result rows the table shows that were not measured (or failed)."""
    return [name for name in table.results() if (results.get(name) or {}).get("returncode") != 0]


def parse(text: str) -> list[list[str]]:
    """A markdown table's rows of cells (header and separator included)."""
    return [
        [cell.strip() for cell in line.strip()[1:-1].split("|")]
        for line in text.splitlines()
        if line.strip().startswith("|")
    ]


def cells_agree(written: str, measured: str, tolerance: float) -> bool:
    """The same text, with every number within `tolerance` of the measured one (thousands separators allowed)."""
    if written == measured:
        return True
    if NUMBER.sub("#", written) != NUMBER.sub("#", measured):
        return False
    pairs = zip(NUMBER.findall(written), NUMBER.findall(measured))
    return all(abs(float(a.replace(",", "")) - float(b.replace(",", ""))) <= tolerance + 1e-9 for a, b in pairs)


@dataclass(frozen=True)
class Difference:
    doc: str
    table: str
    row: str
    column: str
    written: str
    measured: str

    def __str__(self) -> str:
        return (
            f"{self.doc}: table {self.table}, row {self.row!r}, column {self.column!r}: "
            f"the doc says {self.written!r}, measured {self.measured!r}"
        )


def compare(table: Table, written_text: str, results: dict[str, dict[str, Any]], doc: str) -> list[Difference]:
    """Every cell of the doc's table that differs from the measured one beyond its tolerance."""
    written, measured = parse(written_text), parse(render(table, results))
    if len(written) != len(measured) or any(len(a) != len(b) for a, b in zip(written, measured)):
        shape = f"{len(written) - 2} rows" if written else "no table"
        return [
            Difference(
                doc, table.name, "(shape)", "(all)", shape, f"{len(measured) - 2} rows of {len(table.columns)} columns"
            )
        ]
    differences = []
    for position, (row, got, want) in enumerate(zip((None, None, *table.rows), written, measured)):
        for column, a, b in zip(table.columns, got, want):
            if row is not None and not (row.check and column.check):
                continue
            tolerance = next(
                t for t in (getattr(row, "tolerance", None), column.tolerance, table.tolerance) if t is not None
            )
            if not cells_agree(a, b, float(tolerance) if position >= 2 else 0.0):
                differences.append(
                    Difference(doc, table.name, want[0] if position >= 2 else "(header)", column.head, a, b)
                )
    return differences
