"""The marked tables of a doc: `<!-- reproduce:NAME -->` ... `<!-- /reproduce:NAME -->`, each on its own line.

A doc with a missing, repeated or misordered marker, or a marker no table declares, is refused in one line
before anything is written, so a table is never written twice or into the wrong place.
"""

from __future__ import annotations

import re
from pathlib import Path

from mmf_ext.utils.errors import UserError
from mmf_ext.utils.file_io import atomic_write_text

MARKER = re.compile(r"^<!-- (/?)reproduce:([a-z][a-z0-9_]*) -->[ \t]*$", re.MULTILINE)


class MarkerError(UserError):
    """A doc whose reproduce markers do not mark each table exactly once."""


def opening(name: str) -> str:
    return f"<!-- reproduce:{name} -->"


def closing(name: str) -> str:
    return f"<!-- /reproduce:{name} -->"


def blocks(text: str, doc: str, names: list[str]) -> dict[str, tuple[int, int]]:
    """For each table name, the span of its contents between its markers (MarkerError when they are not right)."""
    found: dict[str, list[tuple[bool, re.Match]]] = {}
    for match in MARKER.finditer(text):
        found.setdefault(match.group(2), []).append((match.group(1) == "/", match))
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise MarkerError(f"{doc}: marker {opening(unknown[0])} names no table of this doc; tables: {', '.join(names)}")
    spans = {}
    for name in names:
        marks = found.get(name, [])
        opens, closes = [m for is_close, m in marks if not is_close], [m for is_close, m in marks if is_close]
        if not opens or not closes:
            which = opening(name) if not opens else closing(name)
            raise MarkerError(f"{doc}: {which} is missing; put {opening(name)} and {closing(name)} around the table")
        if len(opens) > 1 or len(closes) > 1:
            which = opening(name) if len(opens) > 1 else closing(name)
            raise MarkerError(f"{doc}: {which} appears {max(len(opens), len(closes))} times; keep one pair per table")
        start, end = opens[0].end(), closes[0].start()
        if end < start:
            raise MarkerError(f"{doc}: {closing(name)} comes before {opening(name)}; swap them")
        inner = list(MARKER.finditer(text, start, end))
        if inner:
            raise MarkerError(f"{doc}: {inner[0].group(0)} lies inside the {name} table's markers; close {name} first")
        spans[name] = (start, end)
    return spans


def current(text: str, doc: str, names: list[str], name: str) -> str:
    """The text between a table's markers."""
    start, end = blocks(text, doc, names)[name]
    return text[start:end].strip("\n")


def rewrite(text: str, doc: str, names: list[str], tables: dict[str, str]) -> str:
    """The doc with each table in `tables` (name -> markdown) between its markers; the rest is left as it is."""
    spans = blocks(text, doc, names)
    for name in sorted(tables, key=lambda n: spans[n][0], reverse=True):
        start, end = spans[name]
        text = text[:start] + "\n" + tables[name].strip("\n") + "\n" + text[end:]
    return text


def write_docs(root: Path, doc_tables: dict[str, list[str]], rendered: dict[str, str]) -> list[str]:
    """Rewrite every doc's rendered tables (all docs checked first, each written atomically); the docs changed."""
    planned = {}
    for doc, names in doc_tables.items():
        path = root / doc
        if not path.is_file():
            raise MarkerError(f"{doc}: no such file under {root}; fix the table's docs in the reproduce file")
        text = path.read_text()
        planned[doc] = (path, text, rewrite(text, doc, names, {n: rendered[n] for n in names if n in rendered}))
    changed = []
    for doc, (path, old, new) in planned.items():
        if new != old:
            atomic_write_text(path, new)
            changed.append(doc)
    return changed
