"""End to end through the plugin package: programmatic run(), the mmf_run command, mmf_predict."""

import csv
import json

import pytest
import torch
import yaml

from mmf_cli.predict import predict
from mmf_cli.run import run
from tests.helpers import PLUGIN_DIR, last_run, load_state, max_param_diff, plugin_opts, run_cli


def test_programmatic_run_trains_validates_tests_and_writes_the_save_dir(tmp_path):
    results = run(plugin_opts(tmp_path, "training.max_updates=20", "training.tensorboard=true"))
    assert set(results) == {"val", "test"}
    assert 0.0 <= results["test"]["test/always_one/accuracy"] <= 1.0

    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert saved["model"] == "always_one_model" and saved["training"]["max_updates"] == 20
    for name in (
        "current.ckpt",
        "best.ckpt",
        "models/model_10.ckpt",
        "models/model_20.ckpt",
        "train.log",
        "always_one_model_final.pth",
    ):
        assert (tmp_path / name).is_file(), name
    (metrics_csv,) = (tmp_path / "logs").glob("version_*/metrics.csv")
    rows = list(csv.DictReader(metrics_csv.open()))
    logged = {key for row in rows for key, value in row.items() if value}
    assert {"train/always_one/cross_entropy", "val/always_one/accuracy", "test/always_one/accuracy"} <= logged
    assert "test/always_one/accuracy" in (tmp_path / "train.log").read_text()
    assert list((tmp_path / "tensorboard" / "run").glob("version_*/events.out.tfevents.*"))


def test_training_learns_the_plugin_problem(tmp_path):
    results = run(plugin_opts(tmp_path, "training.max_updates=60", "run_type=train_val"))
    assert results["val"]["val/always_one/accuracy"] > 0.75


def test_mmf_run_command_with_user_dir(tmp_path):
    done = run_cli("mmf_cli.run", plugin_opts(tmp_path, "training.max_updates=10", "run_type=train_val"))
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "current.ckpt").is_file() and (tmp_path / "config.yaml").is_file()
    assert "val/always_one/accuracy" in (tmp_path / "train.log").read_text()


def test_test_run_from_best_ckpt_reproduces_the_trained_score(tmp_path):
    """As in MMF, training with validation ends on best.ckpt's weights, and tests those."""
    trained = run(plugin_opts(tmp_path / "a", "training.max_updates=20", "run_type=train_val_test"))
    evaluated = run(
        plugin_opts(tmp_path / "b", "run_type=test", f"checkpoint.resume_file={tmp_path / 'a' / 'best.ckpt'}")
    )
    assert evaluated["test"] == dict(trained["test"].items())


def test_mmf_predict_writes_the_chosen_format_and_keeps_its_options(tmp_path):
    run(plugin_opts(tmp_path, "training.max_updates=10", "run_type=train"))
    predict(plugin_opts(tmp_path, "checkpoint.resume=true", "dataset_config.always_one.test_size=5"))
    reports = last_run(tmp_path, "predict") / "reports"  # never the training run's own files
    rows = json.loads((reports / "always_one_test_predictions.json").read_text())
    assert len(rows) == 5  # the override reached the run
    assert [row["sample_index"] for row in rows] == [0, 1, 2, 3, 4]
    assert {"scores", "prediction", "targets"} <= set(rows[0])
    assert not (reports / "always_one_test_predictions.csv").exists()
    assert not (tmp_path / "reports").exists() and (last_run(tmp_path, "predict") / "config.yaml").is_file()
    predict(plugin_opts(tmp_path, "checkpoint.resume=true", "run_type=val", "evaluation.predict_file_format=csv"))
    with (last_run(tmp_path, "val") / "reports" / "always_one_val_predictions.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 21


def test_pretrained_weights_load_with_a_state_mapping(tmp_path):
    run(plugin_opts(tmp_path / "a", "training.max_updates=10", "run_type=train"))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        f"includes: [{PLUGIN_DIR / 'config.yaml'}]\n"
        "checkpoint:\n  pretrained_state_mapping:\n    'classifier.': 'classifier.'\n"
    )
    run(
        plugin_opts(
            tmp_path / "b",
            f"config={mapping}",
            "run_type=train",
            "training.max_updates=1",
            "optimizer.params.lr=0.0",
            "checkpoint.resume_pretrained=true",
            f"checkpoint.resume_file={tmp_path / 'a' / 'current.ckpt'}",
        )
    )
    assert (
        max_param_diff(load_state(tmp_path / "a" / "current.ckpt"), load_state(tmp_path / "b" / "current.ckpt")) == 0.0
    )


def test_pretrained_weights_load_without_a_mapping(tmp_path):
    run(plugin_opts(tmp_path / "a", "training.max_updates=10", "run_type=train"))
    run(
        plugin_opts(
            tmp_path / "b",
            "run_type=train",
            "training.max_updates=1",
            "optimizer.params.lr=0.0",
            "checkpoint.resume_pretrained=true",
            f"checkpoint.resume_file={tmp_path / 'a' / 'current.ckpt'}",
        )
    )
    assert (
        max_param_diff(load_state(tmp_path / "a" / "current.ckpt"), load_state(tmp_path / "b" / "current.ckpt")) == 0.0
    )


@pytest.mark.parametrize(
    "args, expected",
    [
        (["model=always_one_model", "dataset=always_one", "training.batchsize=3"], "training.batch_size"),
        (["model=no_such_model", "dataset=always_one"], "No model registered under the name 'no_such_model'"),
        (["model=always_one_model", "dataset=no_such_data"], "No builder registered under the name 'no_such_data'"),
        (["config=missing.yaml", "model=always_one_model", "dataset=always_one"], "config file not found"),
        (["model=always_one_model", "dataset=always_one", "run_type=fly"], "run_type='fly' is unknown"),
        (["model=always_one_model", "dataset=always_one", "training.cpu_threads=0"], "training.cpu_threads=0: give"),
        (
            ["model=always_one_model", "dataset=always_one", "training.load_aware_threads=maybe"],
            "training.load_aware_threads='maybe' is not true or false",
        ),
    ],
)
def test_user_errors_exit_2_with_one_line(tmp_path, args, expected):
    done = run_cli("mmf_cli.run", [*args, f"env.user_dir={PLUGIN_DIR}", f"env.save_dir={tmp_path}"], timeout=120)
    assert done.returncode == 2
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and expected in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_malformed_yaml_exits_2_and_debug_shows_the_traceback(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {batch_size: 1\n")
    args = [f"config={bad}", "model=always_one_model", "dataset=always_one", f"env.user_dir={PLUGIN_DIR}"]
    done = run_cli("mmf_cli.run", args, timeout=120)
    assert done.returncode == 2 and "malformed YAML" in done.stderr and str(bad) in done.stderr
    debug = run_cli("mmf_cli.run", [*args, "--debug"], timeout=120)
    assert debug.returncode != 0 and "Traceback" in debug.stderr


def test_an_untrained_model_is_evaluated_only_on_purpose(tmp_path):
    done = run_cli("mmf_cli.predict", plugin_opts(tmp_path), timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "would evaluate untrained weights" in lines[0]
    assert "checkpoint.allow_untrained=true" in lines[0]
    results = run(plugin_opts(tmp_path, "run_type=test", "checkpoint.allow_untrained=true"))
    assert 0.0 <= results["test"]["test/always_one/accuracy"] <= 1.0


def test_a_model_whose_config_gives_its_weights_is_evaluated_without_a_checkpoint(tmp_path, monkeypatch):
    from mmf_ext.common.registry import registry
    from mmf_ext.utils.env import import_user_module

    import_user_module(PLUGIN_DIR)
    model_class = registry.get_model_class("always_one_model")
    monkeypatch.setattr(model_class, "weights_source", lambda self: "a pretrained file", raising=False)
    results = run(plugin_opts(tmp_path, "run_type=test"))  # no checkpoint.allow_untrained needed
    assert 0.0 <= results["test"]["test/always_one/accuracy"] <= 1.0
    log = (last_run(tmp_path, "test") / "train.log").read_text()
    assert "no checkpoint; evaluating the weights of a pretrained file" in log


def test_a_checkpoint_of_another_model_or_shape_is_one_line(tmp_path):
    run(plugin_opts(tmp_path / "a", "training.max_updates=2", "run_type=train"))
    state = torch.load(tmp_path / "a" / "current.ckpt", weights_only=True)
    state["config"]["model"] = "clothing_detector"
    torch.save(state, tmp_path / "other_model.ckpt")
    done = run_cli(
        "mmf_cli.run",
        plugin_opts(tmp_path / "b", "run_type=test", f"checkpoint.resume_file={tmp_path / 'other_model.ckpt'}"),
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1
    assert "holds a model=clothing_detector checkpoint, but this run is model=always_one_model" in lines[0]
    done = run_cli(
        "mmf_cli.run",
        plugin_opts(
            tmp_path / "c",
            "run_type=test",
            "model_config.always_one_model.hidden=5",
            f"checkpoint.resume_file={tmp_path / 'a' / 'current.ckpt'}",
        ),
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and "do not fit model=always_one_model" in lines[0]
    assert "differently shaped" in lines[0]


def test_a_test_run_writes_its_own_folder_and_leaves_the_training_run_alone(tmp_path):
    run(plugin_opts(tmp_path, "training.max_updates=10", "run_type=train"))
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    run(plugin_opts(tmp_path, "run_type=test", "checkpoint.resume=true"))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    folder = last_run(tmp_path, "test")
    assert (
        "run_type: test" in (folder / "config.yaml").read_text()
        and "test/always_one/accuracy" in (folder / "train.log").read_text()
    )


def test_the_terminal_gets_headlines_and_a_closing_summary_not_lightnings_noise(tmp_path):
    done = run_cli("mmf_cli.run", plugin_opts(tmp_path, "training.max_updates=10"))
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout + done.stderr
    assert "Tip:" not in out and "GPU available" not in out and "LeafSpec" not in out and "┃" not in out
    assert (
        "test: accuracy 0." in done.stdout
        and f"checkpoints: {tmp_path} (current.ckpt, best.ckpt (update" in done.stdout
    )
    assert f"reports: {tmp_path / 'reports'}; log: {tmp_path / 'train.log'}" in done.stdout


def test_the_run_applies_and_logs_its_cpu_threads(tmp_path, monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    before = torch.get_num_threads()
    try:
        run(plugin_opts(tmp_path / "forced", "training.max_updates=2", "run_type=train", "training.cpu_threads=2"))
        assert torch.get_num_threads() == 2
        log = (tmp_path / "forced" / "train.log").read_text()
        assert "CPU threads: 2 intra-op (training.cpu_threads=2), 1 inter-op; 0 DataLoader workers x 1 thread (" in log
        monkeypatch.setenv("OMP_NUM_THREADS", "1")
        run(plugin_opts(tmp_path / "env", "training.max_updates=2", "run_type=train", "training.cpu_threads=2"))
        assert torch.get_num_threads() == 1
        log = (tmp_path / "env" / "train.log").read_text()
        assert "1 intra-op (OMP_NUM_THREADS=1 set in the environment: it wins over training.cpu_threads)" in log
    finally:
        torch.set_num_threads(before)
