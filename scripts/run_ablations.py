"""Run a list of configs and write a markdown table of their test top-k accuracy.

    python scripts/run_ablations.py projects/video2shop/configs/asymnet.yaml \
        projects/video2shop/configs/ablations/*.yaml --dataset synthetic_video2shop \
        [--model asymnet] [--out save/ablations.md] [--save-root save/ablations] [key=value ...]

Each config runs through mmf_run's programmatic entry (train, then test); extra key=value
options apply to every run (e.g. training.max_updates=200 for a quick look). A config that names
its model (`model: contrastive_softmax`, as the baseline overlays do) runs that model; the others
run --model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from mmf_cli.run import run  # noqa: E402  (the tree's framework, found through the path above)
from mmf_ext.utils.configuration import load_yaml  # noqa: E402
from mmf_ext.utils.file_io import atomic_write_text  # noqa: E402


def table(rows: list[tuple[str, dict[str, float]]], dataset: str, ks: tuple[int, ...] = (1, 5, 10, 20)) -> str:
    lines = ["| variant | " + " | ".join(f"top-{k}" for k in ks) + " | median rank |", "|" + " --- |" * (len(ks) + 2)]
    for name, metrics in rows:
        cells = [f"{100 * metrics.get(f'test/{dataset}/top{k}_accuracy', float('nan')):.2f}" for k in ks]
        cells.append(f"{metrics.get(f'test/{dataset}/median_rank', float('nan')):.1f}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def config_model(config: str, default: str) -> str:
    """The model a config file names with `model:` (after its includes), else the default."""
    named = load_yaml(config).get("model")
    return str(named) if named else default


def finished_results(save_dir: Path, dataset: str) -> dict[str, float] | None:
    """The overall test figures of a finished run, read back from its retrieval report."""
    report = save_dir / "reports" / "test_retrieval.json"
    if not report.is_file():
        return None
    overall = json.loads(report.read_text())["overall"]
    return {f"test/{dataset}/{key}": float(value) for key, value in overall.items() if isinstance(value, (int, float))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run_ablations.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="+", help="config files, then optional key=value overrides")
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model", default="asymnet", help="model of the configs that do not name one with `model:`")
    parser.add_argument("--out", type=Path, default=Path("save/ablations.md"))
    parser.add_argument("--save-root", type=Path, default=Path("save/ablations"))
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="take a variant's figures from its finished run (<save-root>/<name>/reports/test_retrieval.json) "
        "instead of running it again",
    )
    args = parser.parse_intermixed_args(argv)
    configs = [c for c in args.configs if "=" not in c]
    overrides = [c for c in args.configs if "=" in c]

    rows = []
    for config in configs:
        name = Path(config).stem
        print(f"== {name}", flush=True)
        finished = finished_results(args.save_root / name, args.dataset) if args.reuse else None
        if finished is not None:
            rows.append((name, finished))
            continue
        opts = [
            f"config={config}",
            f"model={config_model(config, args.model)}",
            f"dataset={args.dataset}",
            "run_type=train_val_test",
            f"env.save_dir={args.save_root / name}",
            *overrides,
        ]
        results = run(opts)
        rows.append((name, results.get("test", {})))
        text = table(rows, args.dataset)
        atomic_write_text(args.out, f"# Ablations on {args.dataset}\n\nTest top-k accuracy (%).\n\n{text}\n")
    print(table(rows, args.dataset))
    print(f"table written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
