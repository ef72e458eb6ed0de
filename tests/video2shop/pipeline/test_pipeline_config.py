"""The pipeline's yaml defaults, user files and strict overrides."""

import pytest

from mmf_ext.utils.errors import ConfigError
from video2shop.pipeline.config import load_pipeline_config, tracker_config


def test_defaults_hold_every_tracker_setting_and_t_follows_the_model():
    config = load_pipeline_config()
    settings = tracker_config(config)
    assert config.pipeline.trajectories.length is None  # search uses the model's trained num_frames (paper config: 32)
    assert load_pipeline_config(None, ["pipeline.trajectories.length=32"]).pipeline.trajectories.length == 32
    assert settings.redetect_interval == config.pipeline.tracker.redetect_interval
    assert settings.kcf == {"detect_thresh": 0.2}


def test_a_file_and_overrides_change_settings(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("pipeline:\n  tracker:\n    match_iou: 0.45\n    kcf: {interp_factor: 0.1}\n")
    config = load_pipeline_config(path, ["pipeline.tracker.max_missed=4"])
    settings = tracker_config(config)
    assert (settings.match_iou, settings.max_missed, settings.kcf["interp_factor"]) == (0.45, 4, 0.1)


def test_unknown_keys_are_errors_that_name_them(tmp_path):
    with pytest.raises(ConfigError, match="pipeline.tracker.max_mised"):
        load_pipeline_config(overrides=["pipeline.tracker.max_mised=3"])
    path = tmp_path / "bad.yaml"
    path.write_text("pipeline:\n  tracker:\n    redetect_every: 3\n")
    with pytest.raises(ConfigError, match="redetect_every"):
        load_pipeline_config(path)


def test_true_or_false_settings_refuse_other_values_in_a_file_and_on_the_command_line(tmp_path):
    path = tmp_path / "quoted.yaml"
    path.write_text("pipeline:\n  shots:\n    enabled: 'false'\n")
    with pytest.raises(ConfigError, match=r"quoted.yaml: pipeline.shots.enabled='false' is not true or false"):
        load_pipeline_config(path)
    with pytest.raises(ConfigError, match=r"pipeline.tracker.class_aware=1 is not true or false"):
        load_pipeline_config(overrides=["pipeline.tracker.class_aware=1"])
    assert load_pipeline_config(overrides=["pipeline.tracker.class_aware=false"]).pipeline.tracker.class_aware is False
