"""MMF's training, checkpoint, evaluation and env keys do what they do in MMF (runs of the always_one plugin)."""

import json

import pytest
import torch
from lightning.pytorch.callbacks import Callback as LightningCallback

from mmf_cli.run import run
from mmf_ext.common.registry import registry
from mmf_ext.trainers.callbacks import Callback, NaNLossError
from mmf_ext.utils.errors import ConfigError
from tests.helpers import load_state, max_param_diff, plugin_opts


@registry.register_callback("test_counting_lightning_callback")
class CountingLightningCallback(LightningCallback):
    calls = 0

    def __init__(self, step: int = 1) -> None:
        self.step = step

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        type(self).calls += self.step


@registry.register_callback("test_counting_mmf_callback")
class CountingMMFCallback(Callback):
    updates: list[int] = []

    def on_update_end(self, **kwargs):
        type(self).updates.append(kwargs["update"])
        assert self.trainer.num_updates == kwargs["update"] and self.config.training.max_updates == 6


def test_update_frequency_accumulates_batches_into_one_update(tmp_path):
    """Two batches of 4 per update reach the parameters of one batch of 8: the same samples, averaged."""
    common = ("run_type=train", "training.max_updates=12", "training.checkpoint_interval=12")
    run(plugin_opts(tmp_path / "eight", *common, "training.batch_size=8"))
    run(plugin_opts(tmp_path / "four_twice", *common, "training.batch_size=4", "training.update_frequency=2"))
    eight = load_state(tmp_path / "eight" / "current.ckpt")
    accumulated = load_state(tmp_path / "four_twice" / "current.ckpt")
    assert torch.load(tmp_path / "four_twice" / "current.ckpt", weights_only=True)["global_step"] == 12
    assert max_param_diff(eight, accumulated) < 1e-6


def test_callbacks_lightning_and_mmf_style_run_with_their_params(tmp_path):
    CountingLightningCallback.calls, CountingMMFCallback.updates = 0, []
    callbacks = "[{type: test_counting_lightning_callback, params: {step: 2}}, {type: test_counting_mmf_callback}]"
    run(plugin_opts(tmp_path, "run_type=train", "training.max_updates=6", f"training.callbacks={callbacks}"))
    assert CountingLightningCallback.calls == 12 and CountingMMFCallback.updates == [1, 2, 3, 4, 5, 6]


def test_a_nan_loss_stops_training_in_one_line(tmp_path):
    with pytest.raises(NaNLossError, match="NaN in the training loss at update"):
        run(plugin_opts(tmp_path, "run_type=train", "training.max_updates=20", "optimizer.params.lr=1e38"))
    run(
        plugin_opts(
            tmp_path / "on",
            "run_type=train",
            "training.max_updates=3",
            "optimizer.params.lr=1e38",
            "training.exit_on_nan_losses=false",
        )
    )  # MMF's switch off: it trains on


def test_json_log_format_and_logger_level(tmp_path):
    run(plugin_opts(tmp_path / "json", "run_type=train", "training.max_updates=10", "training.log_format=json"))
    records = [json.loads(line) for line in (tmp_path / "json" / "train.log").read_text().splitlines()]
    progress = [r for r in records if "progress" in r]
    assert progress and progress[0]["progress"] == "5/10" and "lr" in progress[0]["values"]
    run(plugin_opts(tmp_path / "quiet", "run_type=train", "training.max_updates=10", "training.logger_level=warning"))
    assert "| INFO |" not in (tmp_path / "quiet" / "train.log").read_text()


def test_checkpoint_resets(tmp_path):
    adam = ("optimizer.type=adam", "optimizer.params.lr=0.01", "run_type=train")
    run(plugin_opts(tmp_path / "a", *adam, "training.max_updates=10"))
    source = tmp_path / "a" / "current.ckpt"

    run(
        plugin_opts(
            tmp_path / "counts",
            *adam,
            "training.max_updates=4",
            f"checkpoint.resume_file={source}",
            "checkpoint.reset.counts=true",
        )
    )  # weights and optimizer state kept, updates from 0
    state = torch.load(tmp_path / "counts" / "current.ckpt", weights_only=True)
    assert state["global_step"] == 4 and state["optimizer_states"][0]["state"][0]["step"] == 14

    run(
        plugin_opts(
            tmp_path / "optimizer",
            *adam,
            "training.max_updates=14",
            f"checkpoint.resume_file={source}",
            "checkpoint.reset.optimizer=true",
        )
    )  # the update count kept, a fresh optimizer
    state = torch.load(tmp_path / "optimizer" / "current.ckpt", weights_only=True)
    assert state["global_step"] == 14 and state["optimizer_states"][0]["state"][0]["step"] == 4
    assert not (tmp_path / "optimizer" / ".resume_with_reset.ckpt").exists()

    run(
        plugin_opts(
            tmp_path / "all",
            "run_type=train",
            "training.max_updates=1",
            "optimizer.params.lr=0.0",
            f"checkpoint.resume_file={source}",
            "checkpoint.reset.all=true",
        )
    )  # weights only
    assert torch.load(tmp_path / "all" / "current.ckpt", weights_only=True)["global_step"] == 1
    assert max_param_diff(load_state(source), load_state(tmp_path / "all" / "current.ckpt")) == 0.0


def test_checkpoints_carry_the_run_config_and_git_details(tmp_path):
    run(plugin_opts(tmp_path, "run_type=train", "training.max_updates=5", "training.checkpoint_interval=5"))
    state = torch.load(tmp_path / "current.ckpt", weights_only=True)
    assert state["config"]["model"] == "always_one_model" and state["config"]["training"]["max_updates"] == 5
    assert len(state["git/commit_hash"]) == 40  # the tests run from a git checkout
    run(
        plugin_opts(
            tmp_path / "no_git", "run_type=train", "training.max_updates=5", "checkpoint.save_git_details=false"
        )
    )
    assert not [k for k in torch.load(tmp_path / "no_git" / "current.ckpt", weights_only=True) if k.startswith("git/")]


def test_report_tensorboard_and_log_dirs(tmp_path):
    run(
        plugin_opts(
            tmp_path / "save",
            "training.max_updates=10",
            "training.tensorboard=true",
            f"env.report_dir={tmp_path / 'reports'}",
            f"env.tensorboard_logdir={tmp_path / 'tb'}",
            f"env.log_dir={tmp_path / 'logs'}",
            "evaluation.predict=true",
        )
    )
    assert (tmp_path / "reports" / "always_one_test_predictions.json").is_file()  # predict: rows, not metrics
    assert list((tmp_path / "tb" / "run").glob("version_*/events.out.tfevents.*"))
    assert (tmp_path / "logs" / "train.log").is_file() and (tmp_path / "logs" / "logs").is_dir()
    assert not (tmp_path / "save" / "train.log").exists()


def test_a_criteria_no_metric_reports_is_an_error_before_training(tmp_path):
    with pytest.raises(ConfigError, match="names no metric this run reports; its metrics report val/always_one/acc"):
        run(plugin_opts(tmp_path, "training.early_stop.criteria=always_one/acuracy"))
    assert not (tmp_path / "current.ckpt").exists()
    run(
        plugin_opts(
            tmp_path / "ok",
            "run_type=train_val",
            "training.max_updates=10",
            "training.early_stop.criteria=always_one/accuracy",
        )
    )  # MMF's dataset/metric form
    assert (tmp_path / "ok" / "best.ckpt").is_file()


def test_evaluation_use_cpu_keeps_results_identical(tmp_path):
    on_cpu = run(plugin_opts(tmp_path / "cpu", "training.max_updates=10", "evaluation.use_cpu=true"))
    default = run(plugin_opts(tmp_path / "default", "training.max_updates=10"))
    assert on_cpu["test"] == default["test"]
