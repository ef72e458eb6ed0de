"""MMF's config semantics: OmegaConf's YAML rules in every file, file keys checked like the command line,
MMF keys honoured or refused in one line, MMF's path resolution for includes and plugins."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mmf_ext.utils.configuration import build_config, parse_opts
from mmf_ext.utils.errors import ConfigError
from tests.helpers import PLUGIN_DIR, cli_env, run_cli

BASE = ["model=always_one_model", "dataset=always_one", f"env.user_dir={PLUGIN_DIR}"]


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_exponent_floats_are_floats_in_files_includes_and_on_the_command_line(tmp_path):
    write(tmp_path / "inner.yaml", "optimizer:\n  params:\n    eps: 1e-8\n")
    user = write(
        tmp_path / "user.yaml", "includes: [inner.yaml]\noptimizer:\n  type: adam_w\n  params:\n    lr: 5e-3\n"
    )
    config = build_config([f"config={user}", *BASE, "optimizer.params.weight_decay=1e-4"])
    params = config.optimizer.params
    assert (params.lr, params.eps, params.weight_decay) == (0.005, 1e-8, 1e-4)
    assert all(isinstance(v, float) for v in params.values())


@pytest.mark.parametrize(
    "section_text, key, closest",
    [
        ("training:\n  max_update: 5\n", "training.max_update", "training.max_updates"),
        ("evaluation:\n  metric: [accuracy]\n", "evaluation.metric", "evaluation.metrics"),
        ("checkpoint:\n  resume_fil: x.ckpt\n", "checkpoint.resume_fil", "checkpoint.resume_file"),
        ("env:\n  save_dirr: /tmp/x\n", "env.save_dirr", "env.save_dir"),
        ("distributed:\n  world_siz: 2\n", "distributed.world_siz", "distributed.world_size"),
        ("optimizer:\n  typ: SGD\n", "optimizer.typ", "optimizer.type"),
        ("scheduler:\n  tpye: warmup_linear\n", "scheduler.tpye", "scheduler.type"),
        (
            "model_config:\n  always_one_model:\n    hiden: 4\n",
            "model_config.always_one_model.hiden",
            "model_config.always_one_model.hidden",
        ),
        (
            "dataset_config:\n  always_one:\n    train_sise: 4\n",
            "dataset_config.always_one.train_sise",
            "dataset_config.always_one.train_size",
        ),
    ],
)
def test_a_typo_in_a_config_file_names_the_key_the_file_and_the_closest_keys(tmp_path, section_text, key, closest):
    user = write(tmp_path / "user.yaml", section_text)
    with pytest.raises(ConfigError) as error:
        build_config([f"config={user}", *BASE])
    message = str(error.value)
    assert message.startswith(f"{user}: unknown config key '{key}'") and closest in message and "\n" not in message


def test_a_typo_in_an_included_file_names_the_included_file(tmp_path):
    inner = write(tmp_path / "parts" / "inner.yaml", "training:\n  batchsize: 4\n")
    user = write(tmp_path / "user.yaml", "includes: [parts/inner.yaml]\n")
    with pytest.raises(ConfigError, match=f"^{inner}: unknown config key 'training.batchsize'"):
        build_config([f"config={user}", *BASE])


def test_a_file_typo_through_mmf_run_exits_2_with_one_line(tmp_path):
    user = write(tmp_path / "user.yaml", "training:\n  max_update: 5\n")
    done = run_cli("mmf_cli.run", [f"config={user}", *BASE, f"env.save_dir={tmp_path / 'save'}"], timeout=120)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1 and str(user) in lines[0] and "training.max_updates" in lines[0]
    assert not (tmp_path / "save" / "current.ckpt").exists()


def test_a_new_component_section_and_component_params_are_allowed(tmp_path):
    user = write(
        tmp_path / "user.yaml",
        (
            "model_config:\n  some_other_model:\n    anything: 1\n"
            "dataset_config:\n  other_data:\n    whatever: {deep: true}\n"
            "optimizer:\n  type: SGD\n  params:\n    lr: 0.1\n    nesterov: true\n    momentum: 0.9\n"
            "checkpoint:\n  pretrained_state_mapping:\n    'a.': 'b.'\n"
        ),
    )
    config = build_config([f"config={user}", *BASE])
    assert config.model_config.some_other_model.anything == 1 and config.optimizer.params.nesterov is True


def test_the_framework_optimizer_params_apply_only_without_a_users_optimizer(tmp_path):
    assert dict(build_config(BASE).optimizer.params) == {"lr": 0.001, "weight_decay": 0.0001}
    plugin_default = build_config(BASE)  # the plugin's config.yaml is not used here: only defaults
    assert plugin_default.optimizer.type == "AdamW"
    user = write(tmp_path / "user.yaml", "optimizer:\n  type: adam_w\n  params:\n    lr: 5e-5\n")
    assert dict(build_config([f"config={user}", *BASE]).optimizer.params) == {"lr": 5e-5}
    assert dict(build_config([*BASE, "optimizer.type=SGD", "optimizer.params.lr=0.1"]).optimizer.params) == {"lr": 0.1}


def test_plus_still_adds_a_key_on_purpose_and_a_plain_unknown_key_is_refused():
    assert build_config([*BASE, "+model_config.always_one_model.extra=3"]).model_config.always_one_model.extra == 3
    with pytest.raises(ConfigError, match="Write \\+model_config.always_one_model.extra=VALUE"):
        build_config([*BASE, "model_config.always_one_model.extra=3"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("training:\n  fast_read: true\n", "training.fast_read=True is an MMF setting"),
        ("checkpoint:\n  resume_zoo: visual_bert.pretrained.coco\n", "use checkpoint.resume_file=PATH"),
        ("trainer:\n  params:\n    precision: 16\n", "use training.fp16=true"),
        ("training:\n  resume_file: a.ckpt\n", "write checkpoint.resume_file instead"),
        ("training:\n  gradient_clip_val: 1.0\n", "write training.clip_gradients=true"),
        ("learning_rate: 0.1\n", "write optimizer.params.lr instead"),
    ],
)
def test_mmf_keys_not_implemented_are_refused_naming_what_to_use(tmp_path, text, expected):
    user = write(tmp_path / "user.yaml", text)
    with pytest.raises(ConfigError, match=expected) as error:
        build_config([f"config={user}", *BASE])
    assert str(error.value).startswith(str(user))


def test_mmf_defaults_written_out_in_a_config_are_accepted(tmp_path):
    user = write(
        tmp_path / "user.yaml",
        (
            "config_version: 1.0\ntraining:\n  fast_read: false\n  trainer: mmf\n  colored_logs: true\n"
            "trainer:\n  type: lightning\n  params:\n    precision: 32\n"
            "checkpoint:\n  resume_zoo: null\n  reset:\n    all: false\n"
            "multitasking:\n  enabled: true\n"
        ),
    )
    assert build_config([f"config={user}", *BASE]).training.trainer == "mmf"


def test_includes_config_and_config_path_resolve_relative_to_the_user_dir(tmp_path):
    """MMF's tutorials write `config=configs/experiments/x.yaml` and `config_path()` relative to the plugin."""
    plugin = tmp_path / "my_plugin"
    shutil.copytree(PLUGIN_DIR, plugin)
    model_py = plugin / "model.py"
    model_py.write_text(
        model_py.read_text().replace('str(Path(__file__).with_name("model.yaml"))', '"configs/model.yaml"')
    )
    (plugin / "configs").mkdir()
    shutil.move(plugin / "model.yaml", plugin / "configs" / "model.yaml")
    write(plugin / "configs" / "experiments" / "base.yaml", "training:\n  seed: 11\n")
    write(
        plugin / "configs" / "experiments" / "run.yaml",
        "includes:\n  - configs/experiments/base.yaml\ntraining:\n  batch_size: 4\n",
    )
    script = (
        "from mmf_ext.utils.configuration import build_config\n"
        f"c = build_config(['config=configs/experiments/run.yaml', 'model=always_one_model', 'dataset=always_one',"
        f" 'env.user_dir={plugin}'])\n"
        "print(c.training.seed, c.training.batch_size, c.model_config.always_one_model.hidden)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, env=cli_env(), timeout=120
    )
    assert done.returncode == 0, done.stderr[-1500:]
    assert done.stdout.split() == ["11", "4", "16"]


def test_command_line_spellings_of_mmf(tmp_path):
    assert parse_opts(["training.batch_size", "4", "model", "m"]) == [("training.batch_size", "4"), ("model", "m")]
    user = write(tmp_path / "u.yaml", "evaluation:\n  metrics: [accuracy, accuracy]\n")
    config = build_config([f"config={user}", *BASE, "evaluation.metrics[1]=mean_squared_error"])
    assert list(config.evaluation.metrics) == ["accuracy", "mean_squared_error"]


def test_the_model_section_names_its_model_and_always_has_losses():
    section = build_config(BASE).model_config.always_one_model
    assert section.model == "always_one_model" and section.losses[0].type == "cross_entropy"
