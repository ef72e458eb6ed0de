from pathlib import Path

import pytest

from mmf_ext.utils.configuration import build_config, load_yaml
from mmf_ext.utils.errors import ConfigError
from tests.helpers import PLUGIN_DIR

BASE = ["model=always_one_model", "dataset=always_one", f"env.user_dir={PLUGIN_DIR}"]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_merge_order_defaults_model_dataset_config_file_then_command_line(tmp_path):
    config = build_config(BASE)
    assert config.model_config.always_one_model.hidden == 16  # model defaults
    assert config.dataset_config.always_one.train_size == 64  # dataset defaults
    assert config.training.batch_size == 32  # framework defaults

    user = write(
        tmp_path / "user.yaml", "model_config:\n  always_one_model:\n    hidden: 4\ntraining:\n  batch_size: 8\n"
    )
    config = build_config([f"config={user}", *BASE])
    assert config.model_config.always_one_model.hidden == 4
    assert config.training.batch_size == 8

    config = build_config([f"config={user}", *BASE, "training.batch_size=2", "model_config.always_one_model.hidden=3"])
    assert config.training.batch_size == 2 and config.model_config.always_one_model.hidden == 3


def test_includes_merge_first_recursively_and_relative_to_the_including_file(tmp_path):
    write(tmp_path / "base" / "inner.yaml", "training:\n  seed: 7\n  batch_size: 3\n")
    write(tmp_path / "base" / "outer.yaml", "includes:\n  - inner.yaml\ntraining:\n  batch_size: 5\n")
    top = write(tmp_path / "top.yaml", "includes:\n  - base/outer.yaml\ntraining:\n  log_interval: 9\n")
    merged = load_yaml(top)
    assert merged.training == {"seed": 7, "batch_size": 5, "log_interval": 9}


def test_include_cycle_is_reported(tmp_path):
    write(tmp_path / "a.yaml", "includes: [b.yaml]\n")
    write(tmp_path / "b.yaml", "includes: [a.yaml]\n")
    with pytest.raises(ConfigError, match="cycle"):
        load_yaml(tmp_path / "a.yaml")


def test_unknown_override_key_names_the_closest_keys():
    with pytest.raises(ConfigError) as error:
        build_config([*BASE, "training.batch_sise=4"])
    message = str(error.value)
    assert "unknown config key 'training.batch_sise'" in message
    assert "training.batch_size" in message
    assert "\n" not in message


def test_plus_prefix_adds_a_new_key_on_purpose():
    config = build_config([*BASE, "+optimizer.params.momentum=0.9"])
    assert config.optimizer.params.momentum == 0.9


def test_dataset_is_an_alias_of_datasets_and_list_indices_work(tmp_path):
    user = write(tmp_path / "u.yaml", "evaluation:\n  metrics: [accuracy, accuracy]\n")
    config = build_config(
        [
            f"config={user}",
            "model=always_one_model",
            "datasets=always_one",
            f"env.user_dir={PLUGIN_DIR}",
            "evaluation.metrics.1=mean_squared_error",
        ]
    )
    assert config.datasets == "always_one"
    assert list(config.evaluation.metrics) == ["accuracy", "mean_squared_error"]


def test_model_and_dataset_are_required():
    with pytest.raises(ConfigError, match="model=<name>"):
        build_config(["dataset=always_one", f"env.user_dir={PLUGIN_DIR}"])
    with pytest.raises(ConfigError, match="dataset=<name>"):
        build_config(["model=always_one_model", f"env.user_dir={PLUGIN_DIR}"])


def test_malformed_yaml_names_file_line_and_column(tmp_path):
    bad = write(tmp_path / "bad.yaml", "training:\n  batch_size: [1, 2\n")
    with pytest.raises(ConfigError) as error:
        build_config([f"config={bad}", *BASE])
    assert str(bad) in str(error.value) and "line" in str(error.value) and "malformed YAML" in str(error.value)


def test_missing_config_file_is_reported():
    with pytest.raises(ConfigError, match="config file not found"):
        build_config(["config=does/not/exist.yaml", *BASE])


def test_env_paths_come_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MMF_SAVE_DIR", str(tmp_path / "save"))
    monkeypatch.setenv("MMF_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MMF_CACHE_DIR", str(tmp_path / "cache"))
    config = build_config(BASE)
    assert config.env.save_dir == str(tmp_path / "save")
    assert config.env.data_dir == str(tmp_path / "data")
    assert config.env.cache_dir == str(tmp_path / "cache")


def test_user_dir_from_the_environment_is_imported(monkeypatch):
    monkeypatch.setenv("MMF_USER_DIR", str(PLUGIN_DIR))
    config = build_config(["model=always_one_model", "dataset=always_one"])
    assert config.model == "always_one_model"


def test_missing_user_dir_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="env.user_dir"):
        build_config(["model=m", "dataset=d", f"env.user_dir={tmp_path / 'nope'}"])


@pytest.mark.parametrize("text", ["fp16: 'false'", "fp16: 0", "fp16: sometimes"])
def test_a_true_or_false_key_refuses_other_values_in_a_config_file(tmp_path, text):
    user = write(tmp_path / "user.yaml", f"training:\n  {text}\n")
    with pytest.raises(ConfigError) as error:
        build_config([f"config={user}", *BASE])
    message = str(error.value)
    assert message.startswith(str(user)) and "training.fp16=" in message and "not true or false" in message


def test_a_true_or_false_key_refuses_other_values_on_the_command_line():
    with pytest.raises(ConfigError, match=r"command line: training.pin_memory='maybe' is not true or false"):
        build_config([*BASE, "training.pin_memory=maybe"])


def test_a_true_or_false_key_takes_true_false_null_and_interpolations(tmp_path):
    text = "training:\n  fp16: yes\n  pin_memory: ${training.fp16}\n  tensorboard: null\n"
    user = write(tmp_path / "user.yaml", text)
    config = build_config([f"config={user}", *BASE, "training.detect_anomaly=false"])
    assert config.training.fp16 is True and config.training.pin_memory is True
    assert config.training.tensorboard is None and config.training.detect_anomaly is False
