import pytest

from mmf_cli.run import run
from mmf_ext.utils.errors import ConfigError
from tests.helpers import plugin_opts


def test_early_stop_ends_training_when_the_criteria_stops_improving(tmp_path):
    run(
        plugin_opts(
            tmp_path,
            "run_type=train_val",
            "training.max_updates=200",
            "training.evaluation_interval=5",
            "training.checkpoint_interval=5",
            "optimizer.params.lr=0.0",
            "training.early_stop.enabled=true",
            "training.early_stop.criteria=val/always_one/accuracy",
            "training.early_stop.patience=2",
        )
    )
    steps = sorted(int(p.stem.split("_")[1]) for p in (tmp_path / "models").glob("model_*.ckpt"))
    assert steps[-1] < 200  # nothing improves with lr=0, so patience ends the run early


def test_max_epochs_sets_the_number_of_updates_and_a_scheduler_runs(tmp_path):
    run(
        plugin_opts(
            tmp_path,
            "run_type=train",
            "training.max_epochs=2",
            "training.max_updates=null",
            "training.lr_scheduler=true",
            "scheduler.type=warmup_cosine",
            "scheduler.params.num_warmup_steps=2",
            "scheduler.params.num_training_steps=16",
        )
    )
    assert (tmp_path / "models" / "model_16.ckpt").is_file()  # 64 items // batch 8 = 8 updates per epoch


def test_unknown_optimizer_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="optimizer.type='Adamm'"):
        run(plugin_opts(tmp_path, "run_type=train", "training.max_updates=1", "optimizer.type=Adamm"))
