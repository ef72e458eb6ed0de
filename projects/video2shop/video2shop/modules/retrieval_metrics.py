"""Top-k retrieval accuracy over the whole gallery, with per-category and per-source splits.

A query is a hit at k when any of its correct gallery items ranks in the top k. Ties count
against the query (a model that scores everything equally gets no credit). With
`within_category: true` only gallery items of the query's category are ranked (the paper's
protocol). Overall is the query-weighted average, as in the paper's Table 1. A query whose
`valid` field is false (its video could not be decoded) stays in the denominator with rank
infinity: a miss at every k, never scored from a placeholder; the report names it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import SampleList
from mmf_ext.modules.metrics import BaseMetric
from video2shop.retrieval.report import markdown_table, write_retrieval_report


def best_correct_ranks(scores: torch.Tensor, correct: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """1-based rank of each query's best correct candidate (inf when none), ties counted against it."""
    scores = scores.double().masked_fill(~candidates, -math.inf)
    correct = correct & candidates
    best = scores.masked_fill(~correct, -math.inf).amax(dim=1)
    higher = ((scores > best[:, None]) & candidates).sum(1)
    tied_wrong = ((scores == best[:, None]) & candidates & ~correct).sum(1)
    ranks = (1 + higher + tied_wrong).double()
    return torch.where(correct.any(1), ranks, torch.full_like(ranks, math.inf))


def _median(ranks: torch.Tensor) -> float:
    """The usual median (mean of the two middle ranks); unlike torch.quantile, inf ranks give inf, not nan."""
    ordered = ranks.double().sort().values
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return float((ordered[middle - 1] + ordered[middle]) / 2)


def _summary(ranks: torch.Tensor, ks: list[int]) -> dict[str, float]:
    if len(ranks) == 0:
        return {**{f"top{k}_accuracy": 0.0 for k in ks}, "median_rank": math.inf}
    out = {f"top{k}_accuracy": float((ranks <= k).double().mean()) for k in ks}
    out["median_rank"] = _median(ranks)
    return out


@registry.register_metric("topk_retrieval_accuracy")
class TopKRetrievalAccuracy(BaseMetric):
    flat_result_keys = True  # reported as <split>/<dataset>/top1_accuracy, .../median_rank, ...

    def __init__(
        self,
        name: str = "topk_retrieval_accuracy",
        k: list[int] | None = None,
        within_category: bool = False,
        curve_max_k: int | None = None,
    ) -> None:
        super().__init__(name, k=k, within_category=within_category)
        self.ks = sorted(int(v) for v in (k or [1, 5, 10, 20]))
        self.within_category = bool(within_category)
        self.curve_max_k = int(curve_max_k or max(self.ks))

    def calculate(self, sample_list: SampleList, model_output: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.calculate_with_report(sample_list, model_output)[0]

    def reported_names(self) -> list[str]:
        """Overall names; per-category and per-source ones add a `category/<name>/` or `<source>/` prefix."""
        return [*(f"top{k}_accuracy" for k in self.ks), "median_rank"]

    def calculate_with_report(
        self, sample_list: SampleList, model_output: dict[str, Any]
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        scores = torch.as_tensor(model_output["scores"]).cpu()
        queries = model_output["query_positions"].tolist()
        gallery = model_output["gallery_positions"].tolist()
        gallery_ids = [sample_list.gallery_id[p] for p in gallery]
        targets = [set(sample_list.target_ids[p] or []) for p in queries]
        correct = torch.tensor([[g in t for g in gallery_ids] for t in targets], dtype=torch.bool).view(
            len(queries), len(gallery)
        )
        categories = sample_list.get("category")
        query_category = torch.tensor([int(categories[p]) for p in queries]) if categories is not None else None
        gallery_category = torch.tensor([int(categories[p]) for p in gallery]) if categories is not None else None
        candidates = torch.ones_like(correct)
        if self.within_category and query_category is not None:
            same = query_category[:, None] == gallery_category[None, :]
            candidates = same | (query_category[:, None] < 0)
        ranks = best_correct_ranks(scores, correct, candidates)
        valid = sample_list.get("valid")
        unreadable: list[str] = []
        if valid is not None:  # an undecodable query video is a miss, whatever its placeholder scored
            query_valid = torch.tensor(
                [bool(valid[p]) if valid[p] is not None else True for p in queries], dtype=torch.bool
            )
            ranks = torch.where(query_valid, ranks, torch.full_like(ranks, math.inf))
            query_ids = sample_list.get("query_id")
            unreadable = [
                str(query_ids[p]) if query_ids is not None else str(p)
                for p, ok in zip(queries, query_valid.tolist())
                if not ok
            ]

        overall = _summary(ranks, self.ks)
        result = {key: torch.tensor(value, dtype=torch.float64) for key, value in overall.items()}
        sources = sample_list.get("source")
        source_groups: dict[str, torch.Tensor] = {}
        if sources is not None:
            values = torch.tensor([int(sources[p]) if sources[p] is not None else -1 for p in queries])
            if (values >= 0).any():
                source_groups = {"regular": values == 1, "hard": (values >= 0) & (values != 1)}
                for group, mask in source_groups.items():
                    for key, value in _summary(ranks[mask], self.ks).items():
                        result[f"{group}/{key}"] = torch.tensor(value, dtype=torch.float64)
        report = self._report(sample_list, queries, gallery, ranks, source_groups)
        report["unreadable_queries"] = unreadable
        if sample_list.get("category_name") is not None:
            for name, row in report["categories"].items():
                if row["queries"]:
                    for key in (*(f"top{k}_accuracy" for k in self.ks), "median_rank"):
                        result[f"category/{name}/{key}"] = torch.tensor(row[key], dtype=torch.float64)
        return result, report

    def _report(
        self,
        sample_list: SampleList,
        queries: list[int],
        gallery: list[int],
        ranks: torch.Tensor,
        source_groups: dict[str, torch.Tensor],
    ) -> dict[str, Any]:
        names = sample_list.get("category_name")
        query_names = [names[p] if names is not None else "all" for p in queries]
        gallery_names = [names[p] if names is not None else "all" for p in gallery]
        report: dict[str, Any] = {
            "k": self.ks,
            "within_category": self.within_category,
            "categories": {},
            "sources": {},
        }
        for name in sorted(set(query_names) | set(gallery_names)):
            mask = torch.tensor([n == name for n in query_names], dtype=torch.bool)
            row = _summary(ranks[mask], self.ks)
            row.update(
                images=sum(n == name for n in gallery_names), trajectories=int(mask.sum()), queries=int(mask.sum())
            )
            report["categories"][name] = row
        report["overall"] = {
            **_summary(ranks, self.ks),
            "images": len(gallery),
            "trajectories": len(queries),
            "queries": len(queries),
        }
        curve_k = list(range(1, self.curve_max_k + 1))
        report["curve"] = {
            "k": curve_k,
            "overall": [float((ranks <= k).double().mean()) if len(ranks) else 0.0 for k in curve_k],
            "sources": {},
        }
        for group, mask in source_groups.items():
            report["sources"][group] = {**_summary(ranks[mask], self.ks), "queries": int(mask.sum())}
            report["curve"]["sources"][group] = [
                float((ranks[mask] <= k).double().mean()) if mask.any() else 0.0 for k in curve_k
            ]
        return report

    def write_report(
        self, report: dict[str, Any] | None, split: str, dataset_name: str, reports_dir: Path
    ) -> str | None:
        if report is None:
            return None
        protocol = "within category" if self.within_category else "whole gallery"
        paths = write_retrieval_report(report, reports_dir, split, f"{split} retrieval on {dataset_name} ({protocol})")
        listed = ", ".join(str(p) for p in paths)
        return f"{split} retrieval on {dataset_name} ({protocol}):\n{markdown_table(report)}\nreports: {listed}"
