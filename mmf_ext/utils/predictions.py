"""Prediction rows for `mmf_predict`, and writing them as json and csv atomically."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import torch

from mmf_ext.common.sample import SampleList
from mmf_ext.utils.errors import ConfigError
from mmf_ext.utils.file_io import atomic_write_text


def _plain(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.item() if value.numel() == 1 else value.tolist()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def default_prediction_rows(sample_list: SampleList, model_output: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per sample: its index, its gathered fields, and its per-sample outputs."""
    size = sample_list.get_batch_size()
    rows: list[dict[str, Any]] = []
    for i in range(size):
        row: dict[str, Any] = {}
        for source in (sample_list, model_output):
            for key, value in source.items():
                if (
                    isinstance(value, torch.Tensor)
                    and value.dim() > 0
                    and value.shape[0] == size
                    or isinstance(value, list)
                    and len(value) == size
                ):
                    row[key] = _plain(value[i])
        if (
            "scores" in row
            and isinstance(row["scores"], list)
            and row["scores"]
            and not isinstance(row["scores"][0], list)
        ):
            row["prediction"] = int(torch.tensor(row["scores"]).argmax())
        rows.append(row)
    return rows


def write_predictions(rows: list[dict[str, Any]], reports_dir: Path, stem: str, file_format: str = "json") -> Path:
    """Write `<stem>.json` or `<stem>.csv` (nested values as JSON text) under reports_dir, atomically."""
    reports_dir = Path(reports_dir)
    if file_format == "json":
        return atomic_write_text(reports_dir / f"{stem}.json", json.dumps(rows, indent=2, default=str))
    if file_format != "csv":
        raise ConfigError(f"evaluation.predict_file_format={file_format!r}; choose json or csv")
    buffer = io.StringIO()
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (json.dumps(v) if isinstance(v, (list, dict)) else v) for k, v in row.items()})
    return atomic_write_text(reports_dir / f"{stem}.csv", buffer.getvalue())
