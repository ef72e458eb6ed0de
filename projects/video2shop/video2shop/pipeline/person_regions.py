"""Clothing regions of a tracked person: parts of the person's box, as fractions of it.

A person detector finds people, not garments; shop items are tops, trousers, dresses. So each
person track gives one trajectory per region (`pipeline.persons.regions`, by default the upper
body below the head, the lower body from the hips, and the full figure), each searched on its own.
A region is [left, top, right, bottom] as fractions of the person box's width and height.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mmf_ext.utils.errors import ConfigError
from video2shop.pipeline.boxes import Box
from video2shop.pipeline.settings import plain


@dataclass(frozen=True)
class Region:
    """A named part of a person box: (left, top, right, bottom) fractions of its width and height."""

    name: str
    left: float
    top: float
    right: float
    bottom: float

    @property
    def title(self) -> str:
        """How a report names it: `upper_body` -> `upper body`."""
        return self.name.replace("_", " ")

    def box(self, person: Sequence[float]) -> Box:
        """The region's box in pixels, within `person` (x1, y1, x2, y2)."""
        x1, y1, x2, y2 = (float(v) for v in person)
        width, height = x2 - x1, y2 - y1
        return (x1 + self.left * width, y1 + self.top * height, x1 + self.right * width, y1 + self.bottom * height)


def regions_from_config(node: Mapping[str, Any] | None, where: str = "pipeline.persons.regions") -> list[Region]:
    """The regions of a config mapping {name: [left, top, right, bottom] | null (left out)}, in its order; checked."""
    values = plain(node)
    values = (
        {name: fractions for name, fractions in values.items() if fractions is not None}
        if isinstance(values, dict)
        else None
    )
    if not values:
        raise ConfigError(f"{where}: give at least one region as name: [left, top, right, bottom] (fractions)")
    rule = "[left, top, right, bottom] fractions of the person box, 0 <= left < right <= 1 and 0 <= top < bottom <= 1"
    regions = []
    for name, fractions in values.items():
        numbers = fractions if isinstance(fractions, list) else []
        if len(numbers) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in numbers):
            raise ConfigError(f"{where}.{name}={fractions!r}: give {rule}")
        left, top, right, bottom = (float(v) for v in numbers)
        if not (0.0 <= left < right <= 1.0 and 0.0 <= top < bottom <= 1.0):
            raise ConfigError(f"{where}.{name}={fractions!r}: give {rule}")
        regions.append(Region(str(name), left, top, right, bottom))
    return regions
