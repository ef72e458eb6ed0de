"""Counts in messages: "1 trajectory", "2 trajectories" (what the commands print and the report shows)."""

from __future__ import annotations

IRREGULAR = {"trajectory": "trajectories", "category": "categories"}


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """`count` and `noun`, in the plural unless the count is one (`plural` when it is not noun + "s")."""
    if count == 1:
        return f"{count} {noun}"
    if plural is None:
        head, _, last = noun.rpartition(" ")
        last_plural = IRREGULAR.get(last, last + "s")
        plural = f"{head} {last_plural}" if head else last_plural
    return f"{count} {plural}"


def span_text(first: int, last: int, fps: float) -> str:
    """A trajectory's span in frames and seconds, as the commands print it and the report shows it."""
    return f"frames {first}-{last}, {first / fps:.2f}-{last / fps:.2f} s"


def region_text(box: tuple[float, float, float, float], width: int, height: int) -> str:
    """Where a photo's trajectory is: the whole photo, or its box in pixels."""
    x1, y1, x2, y2 = box
    if x1 <= 0 and y1 <= 0 and x2 >= width and y2 >= height:
        return "the whole photo"
    return f"box {x1:.0f},{y1:.0f}-{x2:.0f},{y2:.0f}"
