"""Splitting one evaluation pass into queries and gallery, shared by every retrieval model."""

from __future__ import annotations

from typing import Any

import torch


def query_gallery_positions(model_output: dict[str, Any]) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any] | None]:
    """Positions of the queries and of the gallery items in a split's gathered `is_query` flags.

    The third value is the finished (empty) aggregate when either side is missing, so a model
    returns it as it is instead of scoring nothing.
    """
    is_query = model_output["is_query"].bool()
    query_positions = torch.nonzero(is_query).flatten()
    gallery_positions = torch.nonzero(~is_query).flatten()
    empty = None
    if len(query_positions) == 0 or len(gallery_positions) == 0:
        empty = {"scores": torch.empty(len(query_positions), len(gallery_positions)),
                 "query_positions": query_positions, "gallery_positions": gallery_positions}
    return query_positions, gallery_positions, empty
