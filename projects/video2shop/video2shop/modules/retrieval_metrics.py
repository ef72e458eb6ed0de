"""Top-k retrieval accuracy under both protocols, with per-category and per-source splits.

A query is a hit at k when any of its correct gallery items ranks in the top k. Ties count
against the query (a model that scores everything equally gets no credit). Every evaluation
reports both protocols, under names that mean one thing in every run:
- whole gallery: `top{k}_accuracy`, `median_rank` (and `category/<name>/...`, `regular/...`,
  `hard/...`): every gallery item is a candidate;
- within category: the same names under `within_category/` (`within_category/top1_accuracy`,
  `within_category/median_rank`, ...): only gallery items of the query's category are ranked, the
  paper's Table 1 protocol (the category is known in advance, Sec. 6.1). A query of unknown
  category (-1), or a split without categories, ranks the whole gallery here too.
Which figure selects best.ckpt is the early-stop criteria's choice (`val/<dataset>/median_rank`
or `val/<dataset>/within_category/median_rank`). Overall is the query-weighted average, as in the
paper's Table 1. A query whose `valid` field is false (its video could not be decoded) stays in
the denominator with rank infinity: a miss at every k, never scored from a placeholder; the
report names it.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import SampleList
from mmf_ext.modules.metrics import BaseMetric
from mmf_ext.utils.errors import ConfigError
from video2shop.retrieval.report import WITHIN_CATEGORY, markdown_table, write_retrieval_report


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


def summary_names(ks: list[int]) -> list[str]:
    """The figures of one group of queries: top-k accuracy for each k, then the median rank."""
    return [*(f"top{k}_accuracy" for k in ks), "median_rank"]


def _summary(ranks: torch.Tensor, ks: list[int]) -> dict[str, float]:
    if len(ranks) == 0:
        return {**{f"top{k}_accuracy": 0.0 for k in ks}, "median_rank": math.inf}
    out = {f"top{k}_accuracy": float((ranks <= k).double().mean()) for k in ks}
    out["median_rank"] = _median(ranks)
    return out


@registry.register_metric("topk_retrieval_accuracy")
class TopKRetrievalAccuracy(BaseMetric):
    flat_result_keys = True  # reported as <split>/<dataset>/top1_accuracy, .../within_category/median_rank, ...

    def __init__(
        self,
        name: str = "topk_retrieval_accuracy",
        k: list[int] | None = None,
        curve_max_k: int | None = None,
        within_category: Any = None,
    ) -> None:
        if within_category is not None:  # the old switch: refused, so no config silently changes meaning
            raise ConfigError(
                f"topk_retrieval_accuracy: within_category={within_category} is gone: every evaluation reports "
                "both protocols (top1_accuracy, median_rank, ...: whole gallery; within_category/top1_accuracy, "
                "within_category/median_rank, ...: within category); drop the param, and to select best.ckpt "
                "within category set training.early_stop.criteria=val/<dataset>/within_category/median_rank"
            )
        super().__init__(name, k=k, curve_max_k=curve_max_k)
        self.ks = sorted(int(v) for v in (k or [1, 5, 10, 20]))
        self.curve_max_k = int(curve_max_k or max(self.ks))

    def calculate(self, sample_list: SampleList, model_output: dict[str, Any]) -> dict[str, torch.Tensor]:
        return self.calculate_with_report(sample_list, model_output)[0]

    def reported_names(self) -> list[str]:
        """Overall names of both protocols; per-category and per-source ones add a `category/<name>/` or
        `<source>/` part after the protocol's prefix."""
        names = summary_names(self.ks)
        return names + [f"{WITHIN_CATEGORY}/{name}" for name in names]

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
        whole_gallery = torch.ones_like(correct)
        same_category = whole_gallery
        categories = sample_list.get("category")
        if categories is not None:
            query_category = torch.tensor([int(categories[p]) for p in queries], dtype=torch.long)
            gallery_category = torch.tensor([int(categories[p]) for p in gallery], dtype=torch.long)
            same = query_category[:, None] == gallery_category[None, :]
            same_category = same | (query_category[:, None] < 0)  # unknown category: the whole gallery
        valid = sample_list.get("valid")
        unreadable: list[str] = []
        query_valid = torch.ones(len(queries), dtype=torch.bool)
        if valid is not None:  # an undecodable query video is a miss, whatever its placeholder scored
            query_valid = torch.tensor(
                [bool(valid[p]) if valid[p] is not None else True for p in queries], dtype=torch.bool
            )
            query_ids = sample_list.get("query_id")
            unreadable = [
                str(query_ids[p]) if query_ids is not None else str(p)
                for p, ok in zip(queries, query_valid.tolist())
                if not ok
            ]

        result: dict[str, torch.Tensor] = {}
        sections = {}
        for prefix, candidates in (("", whole_gallery), (f"{WITHIN_CATEGORY}/", same_category)):
            ranks = best_correct_ranks(scores, correct, candidates)
            ranks = torch.where(query_valid, ranks, torch.full_like(ranks, math.inf))
            sections[prefix] = self._protocol(sample_list, queries, gallery, ranks, prefix, result)
        report = {"k": self.ks, **sections[""], WITHIN_CATEGORY: sections[f"{WITHIN_CATEGORY}/"]}
        report["categories_known"] = categories is not None
        report["unreadable_queries"] = unreadable
        return result, report

    def _protocol(
        self,
        sample_list: SampleList,
        queries: list[int],
        gallery: list[int],
        ranks: torch.Tensor,
        prefix: str,
        result: dict[str, torch.Tensor],
    ) -> dict[str, Any]:
        """One protocol's values (added to `result` under `prefix`) and its report section."""

        def put(name: str, values: dict[str, float]) -> None:
            for key, value in values.items():
                result[f"{prefix}{name}{key}"] = torch.tensor(value, dtype=torch.float64)

        put("", _summary(ranks, self.ks))
        sources = sample_list.get("source")
        source_groups: dict[str, torch.Tensor] = {}
        if sources is not None:
            values = torch.tensor([int(sources[p]) if sources[p] is not None else -1 for p in queries])
            if (values >= 0).any():
                source_groups = {"regular": values == 1, "hard": (values >= 0) & (values != 1)}
                for group, mask in source_groups.items():
                    put(f"{group}/", _summary(ranks[mask], self.ks))
        section = self._report(sample_list, queries, gallery, ranks, source_groups)
        if sample_list.get("category_name") is not None:
            for name, row in section["categories"].items():
                if row["queries"]:
                    put(f"category/{name}/", {key: row[key] for key in summary_names(self.ks)})
        return section

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
        report: dict[str, Any] = {"categories": {}, "sources": {}}
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
        title = f"{split} retrieval on {dataset_name}"
        paths = write_retrieval_report(report, reports_dir, split, title)
        listed = ", ".join(str(p) for p in paths)
        return f"{title} (whole gallery, then within category):\n{markdown_table(report)}\nreports: {listed}"
