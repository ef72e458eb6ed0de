"""Per query, the ranked top-K gallery ids with their scores (the rows `mmf_predict` writes).

A query whose video could not be decoded (`valid` false) gets no ranking, only `unreadable_video`,
so a placeholder's scores are never passed off as predictions.
"""

from __future__ import annotations

from typing import Any

import torch

from mmf_ext.common.sample import SampleList


def retrieval_prediction_rows(sample_list: SampleList, model_output: dict[str, Any], topk: int) -> list[dict[str, Any]]:
    scores: torch.Tensor = model_output["scores"]
    query_positions = model_output["query_positions"].tolist()
    gallery_positions = model_output["gallery_positions"].tolist()
    gallery_ids = [sample_list.gallery_id[p] for p in gallery_positions]
    k = min(topk, len(gallery_ids))
    rows = []
    if k == 0:
        return [{"query_id": sample_list.query_id[p], "topk": []} for p in query_positions]
    values, indices = scores.topk(k, dim=1)
    valid = sample_list.get("valid")
    for row, position in enumerate(query_positions):
        targets = sample_list.target_ids[position] or []
        if valid is not None and valid[position] is not None and not bool(valid[position]):
            rows.append(
                {
                    "query_id": sample_list.query_id[position],
                    "target_ids": list(targets),
                    "topk": [],
                    "unreadable_video": True,
                }
            )
            continue
        rows.append(
            {
                "query_id": sample_list.query_id[position],
                "target_ids": list(targets),
                "topk": [
                    {"gallery_id": gallery_ids[i], "score": round(float(v), 6)}
                    for v, i in zip(values[row].tolist(), indices[row].tolist())
                ],
            }
        )
    return rows
