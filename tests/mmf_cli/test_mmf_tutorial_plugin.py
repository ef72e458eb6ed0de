"""A plugin written from MMF's tutorials (tests/plugins/mmf_tutorial) trains, validates and tests
through `mmf_run env.user_dir=...` with no edit: `mmf.*` imports, `import_files`, relative
`config=` / `config_path()` / `includes:`, dataset processors, `self._dataset_type`, a metric
whose `__init__` takes no name, a loss named like a built-in, one-hot targets, `adam_w`, `5e-3`,
`warmup_linear` with `lr_scheduler: true`, and `criteria: <dataset>/<metric>`."""

import csv
import subprocess
import sys

import pytest
import torch

from tests.helpers import REPO_ROOT, cli_env

PLUGIN = REPO_ROOT / "tests" / "plugins" / "mmf_tutorial"


@pytest.fixture(scope="module")
def tutorial_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("tutorial")
    command = [
        sys.executable,
        "-m",
        "mmf_cli.run",
        "config=configs/experiments/defaults.yaml",
        "model=tutorial_mlp",
        "dataset=toy_clevr",
        f"env.user_dir={PLUGIN}",
        f"env.save_dir={work / 'save'}",
        f"env.data_dir={work / 'data'}",
        "training.progress_bar=false",
    ]
    done = subprocess.run(command, cwd=work, env=cli_env(), capture_output=True, text=True, timeout=300)
    rows = []
    metrics_csv = work / "save" / "logs" / "version_0" / "metrics.csv"
    if metrics_csv.is_file():
        rows = list(csv.DictReader(metrics_csv.open()))
    return done, work / "save", rows


def column(rows, name):
    return [(int(row["step"]), float(row[name])) for row in rows if row.get(name)]


def test_the_tutorial_plugin_trains_validates_and_tests_unchanged(tutorial_run):
    done, save, _ = tutorial_run
    assert done.returncode == 0, done.stderr[-3000:]
    for name in ("config.yaml", "current.ckpt", "best.ckpt", "train.log", "tutorial_mlp_final.pth"):
        assert (save / name).is_file(), name
    assert "mmf_tutorial.loss.SoftTargetCrossEntropy replaces the built-in" in done.stderr


def test_the_warmup_happened_and_the_learning_rate_was_logged(tutorial_run):
    _, _, rows = tutorial_run
    lrs = column(rows, "lr-AdamW")
    warmup = [lr for step, lr in lrs if step < 10]
    decay = [lr for step, lr in lrs if step >= 10]
    assert warmup and decay
    assert warmup == sorted(warmup) and warmup[0] < 5e-3 / 2  # linear warmup from 0 over 10 updates
    assert decay == sorted(decay, reverse=True) and max(lr for _, lr in lrs) <= 5e-3 + 1e-12


def test_best_ckpt_follows_the_mmf_form_criteria(tutorial_run):
    _, save, rows = tutorial_run
    accuracy = column(rows, "val/toy_clevr/accuracy")
    assert len(accuracy) == 3  # updates 20, 40, 60
    best_value = max(value for _, value in accuracy)
    first_best = next(i for i, (_, value) in enumerate(accuracy) if value == best_value)
    state = torch.load(save / "best.ckpt", map_location="cpu", weights_only=True)
    callback = next(v for k, v in state["callbacks"].items() if "MMFCheckpoint" in k)
    assert callback["best_step"] == 20 * (first_best + 1) == state["global_step"]
    assert callback["best_value"] == pytest.approx(best_value)


def test_the_builtin_accuracy_with_one_hot_targets_agrees_with_the_plugins_metric(tutorial_run):
    _, _, rows = tutorial_run
    (builtin,) = [value for _, value in column(rows, "test/toy_clevr/accuracy")]
    (plugin,) = [value for _, value in column(rows, "test/toy_clevr/toy_accuracy")]
    assert builtin == plugin and builtin > 0.9  # the task is learnt, and both count the same hits
