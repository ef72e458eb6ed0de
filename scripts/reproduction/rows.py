"""Running the rows of a reproduce file, each as its own process in a fresh folder, and what each measured.

Every row runs with this tree's code first on PYTHONPATH (whatever an installed copy points at), with its data,
cache and save dirs under the output folder, its output in <out>/logs/<row>.log. Its record holds the command,
wall time, exit status, the thread and worker settings it ran with, and its results (the run's report JSONs, or
a benchmark's last JSON line).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from omegaconf import OmegaConf

from mmf_ext.utils import cpu_kernels
from mmf_ext.utils.errors import UserError
from reproduction.spec import Row

REPO_ROOT = Path(__file__).resolve().parents[2]
PLUGIN_ROOT = REPO_ROOT / "projects" / "video2shop"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
# which SIMD kernels torch (ATen, oneDNN, MKL) and FAISS pick: another pick sums in another order (RESULTS.md)
KERNEL_VARIABLES = (*cpu_kernels.KERNEL_VARIABLES, "FAISS_OPT_LEVEL")
TRAINING_SETTINGS = ("max_updates", "batch_size", "num_workers", "seed")


@dataclass(frozen=True)
class Workspace:
    """The fresh folder a reproduction runs in: data, cache, save dirs and logs."""

    out: Path

    @property
    def data(self) -> Path:
        return self.out / "data"

    @property
    def cache(self) -> Path:
        return self.out / "cache"

    def save_root(self, row: Row) -> Path:
        return self.out / "save" / row.name

    def save_dir(self, row: Row) -> Path:
        """Where the row's run writes: its save root (an ablation: the runner's folder for the config)."""
        return self.save_root(row) / Path(row.config).stem if row.kind == "ablation" else self.save_root(row)

    def log(self, row: Row) -> Path:
        return self.out / "logs" / f"{row.name}.log"


def command(row: Row, workspace: Workspace, saves: dict[str, Path]) -> list[str]:
    """The row's command line, placeholders filled ({out}, {data}, {cache}, {save.NAME})."""
    names = {"out": workspace.out, "data": workspace.data, "cache": workspace.cache, "save": SimpleNamespace(**saves)}

    def filled(values: tuple[str, ...]) -> list[str]:
        try:
            return [value.format_map(names) for value in values]
        except (AttributeError, KeyError) as error:
            raise UserError(f"row {row.name}: {error} in its command names nothing known") from None

    # the folders, and the threads pinned for the whole run: training.load_aware_threads would lower them
    # while other work runs on the machine, and another thread count trains another model
    places = [f"env.data_dir={workspace.data}", f"env.cache_dir={workspace.cache}", "training.load_aware_threads=false"]
    if row.kind == "mmf_run":
        return [
            sys.executable,
            "-m",
            "mmf_cli.run",
            *filled(row.args),
            f"env.save_dir={workspace.save_dir(row)}",
            *places,
        ]
    if row.kind == "ablation":
        root = workspace.save_root(row)
        model = ["--model", row.model] if row.model else []
        return [
            sys.executable,
            str(REPO_ROOT / "scripts" / "run_ablations.py"),
            row.config,
            "--dataset",
            row.dataset,
            *model,
            "--save-root",
            str(root),
            "--out",
            str(root / "table.md"),
            *filled(row.overrides),
            *places,
        ]
    if row.kind == "benchmark":
        return [sys.executable, str(REPO_ROOT / "scripts" / "benchmark.py"), *filled(row.args)]
    if row.kind == "video2shop":
        return [sys.executable, "-m", "video2shop.cli.main", *filled(row.args)]
    raise UserError(f"row {row.name}: kind {row.kind} runs no command")


def child_environment(row: Row) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), str(PLUGIN_ROOT), env.get("PYTHONPATH")) if p)
    env.update(row.env)
    return env


def thread_settings(env: dict[str, str]) -> dict[str, Any]:
    """The thread settings a child starts with: the variables, the cores, and torch's resulting thread count
    (this process has the child's variables unless the row sets its own, so torch counts as the child's does)."""
    settings: dict[str, Any] = {name: env.get(name) for name in THREAD_VARIABLES}
    settings["cpu_count"] = os.cpu_count()
    own = env.get("OMP_NUM_THREADS")
    same = own == os.environ.get("OMP_NUM_THREADS")
    settings["torch_threads"] = torch.get_num_threads() if same or not own else int(own)
    return settings


def run_reports(save_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The newest run under a save dir: its report JSONs by stem and its training settings (from config.yaml)."""
    folders = sorted({p.parent for p in save_dir.rglob("reports/*.json")}, key=lambda p: p.stat().st_mtime)
    if not folders:
        raise UserError(f"{save_dir}: the run wrote no reports/*.json")
    reports = {path.stem: json.loads(path.read_text()) for path in sorted(folders[-1].glob("*.json"))}
    config_path = folders[-1].parent / "config.yaml"
    settings: dict[str, Any] = {}
    if config_path.is_file():
        training = OmegaConf.load(config_path).get("training") or {}
        settings = {key: training.get(key) for key in TRAINING_SETTINGS if key in training}
    return reports, settings


def last_json_line(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise UserError("the benchmark printed no JSON line")


def chance(row: Row, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Random ranking against the gallery of row `of`: top-k = k / G, median rank (G + 1) / 2."""
    overall = results[row.of]["metrics"]["test_retrieval"]["overall"]
    ks = [int(k) for k in results[row.of]["metrics"]["test_retrieval"].get("k", [1, 5, 10, 20])]
    gallery = int(overall["images"])
    values = {f"top{k}_accuracy": min(1.0, k / gallery) for k in ks}
    return {"test_retrieval": {"overall": {**values, "median_rank": (gallery + 1) / 2, "images": gallery}}}


def averaged(values: list[Any]) -> Any:
    """The mean of numbers, nested mappings averaged key by key (keys all of them have), other values kept
    where all are equal (the k list, image counts) and dropped (None) where they differ."""
    first = values[0]
    if all(isinstance(v, dict) for v in values):
        merged = {key: averaged([v[key] for v in values]) for key in first if all(key in v for v in values)}
        return {key: value for key, value in merged.items() if value is not None}
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return sum(values) / len(values)
    return first if all(v == first for v in values) else None


def mean(row: Row, results: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The figures of the rows `over` averaged (e.g. seeds): a headline one seed's luck does not move."""
    return {**averaged([results[name]["metrics"] for name in row.over]), "runs": len(row.over)}


DERIVED = {"chance": chance, "mean": mean}


def run_row(row: Row, workspace: Workspace, results: dict[str, dict[str, Any]], echo: bool = True) -> dict[str, Any]:
    """Run one row and return its record (a failed run: its exit status and the last lines of its log)."""
    started = time.strftime("%Y-%m-%dT%H:%M:%S")
    derive = DERIVED.get(row.kind)
    if derive is not None:  # no command: figures made from rows measured before it
        return {"kind": row.kind, "started": started, "wall_s": 0.0, "returncode": 0, "metrics": derive(row, results)}
    saves = {name: Path(record["save_dir"]) for name, record in results.items() if record.get("save_dir")}
    argv = command(row, workspace, saves)
    env = child_environment(row)
    log = workspace.log(row)
    log.parent.mkdir(parents=True, exist_ok=True)
    if echo:
        print(f"== {row.name}: {' '.join(argv[1:])}", flush=True)
    start = time.perf_counter()
    with open(log, "w") as handle:  # streamed, so a long row can be followed with tail -f
        done = subprocess.run(argv, cwd=REPO_ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT)
    output = log.read_text(errors="replace")
    record: dict[str, Any] = {
        "kind": row.kind,
        "command": argv[1:],
        "started": started,
        "wall_s": round(time.perf_counter() - start, 1),
        "returncode": done.returncode,
        "log": str(log),
        "threads": thread_settings(env),
        "cpu_kernels": {name: env.get(name) for name in KERNEL_VARIABLES},
    }
    if row.kind not in ("benchmark", "video2shop"):
        record["save_dir"] = str(workspace.save_dir(row))
    try:
        if done.returncode != 0:
            raise UserError(f"exit status {done.returncode}")
        if row.kind == "video2shop":  # a step other rows need (e.g. generating a dataset folder): no figures
            record["metrics"] = {}
        elif row.kind == "benchmark":
            record["metrics"] = last_json_line(output)
            record["threads"]["torch_threads"] = record["metrics"].get(
                "torch_threads", record["threads"]["torch_threads"]
            )
        else:
            record["metrics"], record["settings"] = run_reports(workspace.save_dir(row))
    except (UserError, json.JSONDecodeError) as error:
        tail = " | ".join(output.strip().splitlines()[-3:])
        record["returncode"] = done.returncode or 1
        record["error"] = f"{error}; last lines of {log}: {tail}"
    return record
