"""Retrieval reports: a per-category table like the paper's Table 1 (whole gallery and within category), as JSON,
Markdown and a plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from mmf_ext.utils.file_io import atomic_write, atomic_write_text

WITHIN_CATEGORY = "within_category"  # the within-category section of a report, and its metric names' prefix


def _figures(row: dict[str, Any] | None, ks: list[int]) -> list[str]:
    """A row's top-k accuracies (%) and median rank as cells; blanks where the row is absent."""
    if row is None:
        return [""] * (len(ks) + 1)
    cells = [f"{100 * row[f'top{k}_accuracy']:.2f}" for k in ks]
    cells.append(f"{row['median_rank']:.1f}" if row["median_rank"] != float("inf") else "inf")
    return cells


def markdown_table(report: dict[str, Any]) -> str:
    """Per category, like the paper's Table 1: the whole-gallery figures, then the within-category ones beside them."""
    ks = report["k"]
    within = report.get(WITHIN_CATEGORY, {})
    header = (
        "| category | # I | # TJ | # Q | "
        + " | ".join(f"top-{k}" for k in ks)
        + " | median rank | "
        + " | ".join(f"in-category top-{k}" for k in ks)
        + " | in-category median rank |"
    )
    lines = [header, "|" + " --- |" * (6 + 2 * len(ks))]
    rows = list(report["categories"].items()) + [("Overall", report["overall"])]
    within_rows = {**within.get("categories", {}), "Overall": within.get("overall")}
    for name, row in rows:
        cells = [name, str(row["images"]), str(row["trajectories"]), str(row["queries"])]
        cells += _figures(row, ks) + _figures(within_rows.get(name), ks)
        lines.append("| " + " | ".join(cells) + " |")
    for source, row in report.get("sources", {}).items():
        cells = [f"source: {source}", "", "", str(row["queries"])]
        cells += _figures(row, ks) + _figures(within.get("sources", {}).get(source), ks)
        lines.append("| " + " | ".join(cells) + " |")
    if report.get("categories_known") is False:
        lines.append("\nThe split has no categories: within category is the whole gallery.")
    unreadable = report.get("unreadable_queries") or []
    if unreadable:  # named, so a low score is not mistaken for the model's
        shown = ", ".join(unreadable[:20]) + (" ..." if len(unreadable) > 20 else "")
        lines.append(f"\n{len(unreadable)} unreadable query video(s) counted as misses: {shown}")
    return "\n".join(lines)


def write_retrieval_report(
    report: dict[str, Any], reports_dir: Path, split: str, title: str
) -> tuple[Path, Path, Path]:
    reports_dir = Path(reports_dir)
    stem = f"{split}_retrieval"
    json_path = atomic_write_text(reports_dir / f"{stem}.json", json.dumps(report, indent=2, default=float))
    table = markdown_table(report)
    md_path = atomic_write_text(
        reports_dir / f"{stem}.md",
        f"# {title}\n\nTop-k accuracy (%) per category, ranking the whole gallery, then (in-category) only the "
        f"query's category (the paper's Table 1 protocol).\n\n{table}\n",
    )
    png_path = reports_dir / f"{stem}.png"
    _plot(report, png_path, title)
    return json_path, md_path, png_path


def _plot(report: dict[str, Any], path: Path, title: str) -> None:
    curve = report["curve"]
    figure = Figure(figsize=(6, 4), dpi=100)  # no pyplot: no GUI backend, no global figure state
    axis = figure.subplots()
    axis.plot(curve["k"], [100 * v for v in curve["overall"]], label="whole gallery", linewidth=2)
    within = report.get(WITHIN_CATEGORY, {}).get("curve")
    if within is not None:
        axis.plot(within["k"], [100 * v for v in within["overall"]], label="within category", linewidth=2)
    for source, values in curve.get("sources", {}).items():
        axis.plot(curve["k"], [100 * v for v in values], label=f"{source} (whole gallery)", linestyle="--")
    axis.set_xlabel("k")
    axis.set_ylabel("top-k accuracy (%)")
    axis.set_ylim(0, 100)
    axis.grid(alpha=0.3)
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    atomic_write(path, lambda handle: figure.savefig(handle, format="png"))
