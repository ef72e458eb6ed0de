"""`import mmf.X.Y` is `mmf_ext.X.Y`: the same module objects, lazily; one-line errors for the rest."""

import importlib
import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mmf
import mmf_ext.common.registry
from mmf_ext.utils.general import mmf_alias_status

REPO_ROOT = Path(__file__).resolve().parents[3]
COMPAT_DIR = REPO_ROOT / "mmf_ext" / "compat"


def run_python(code: str, *path_first: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, path_first), str(REPO_ROOT), str(COMPAT_DIR)])
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
    )


def test_mmf_modules_are_the_very_mmf_ext_modules():
    import mmf.common.registry
    import mmf.common.sample

    assert mmf.common.registry is mmf_ext.common.registry
    assert mmf.common.registry.registry is mmf_ext.common.registry.registry
    assert sys.modules["mmf.common.sample"] is sys.modules["mmf_ext.common.sample"]
    assert mmf.common.registry.__spec__.name == "mmf_ext.common.registry"  # importlib's overwrite is undone
    assert mmf.common.registry.__name__ == "mmf_ext.common.registry"


@pytest.mark.parametrize(
    "name",
    [
        "mmf.common.sample",
        "mmf.models.base_model",
        "mmf.datasets.base_dataset",
        "mmf.datasets.base_dataset_builder",
        "mmf.datasets.processors",
        "mmf.datasets.processors.processors",
        "mmf.modules.metrics",
        "mmf.modules.losses",
        "mmf.utils.general",
        "mmf.utils.env",
        "mmf.utils.distributed",
    ],
)
def test_the_modules_mmf_users_import_resolve(name):
    assert importlib.import_module(name) is importlib.import_module("mmf_ext" + name[3:])


def test_mmf_user_code_runs_unchanged():
    from mmf.common.registry import registry
    from mmf.common.sample import Sample, SampleList, convert_batch_to_sample_list
    from mmf.datasets.processors import BaseProcessor, Processor
    from mmf.datasets.processors.processors import BaseProcessor as SameBaseProcessor
    from mmf.modules.losses import Losses, MMFLoss
    from mmf.modules.metrics import BaseMetric, Metrics
    from mmf.utils.general import get_absolute_path, get_current_device, get_mmf_root

    assert BaseProcessor is SameBaseProcessor and callable(get_absolute_path) and callable(get_current_device)
    assert get_mmf_root() and registry.get_loss_class("logit_bce") and Losses and MMFLoss and Processor
    assert isinstance(convert_batch_to_sample_list([Sample({"x": 1})]), SampleList)
    assert issubclass(registry.get_metric_class("accuracy"), BaseMetric) and Metrics


def test_aliasing_is_lazy_and_the_alias_finder_comes_first():
    done = run_python("""
        import sys
        import mmf
        assert type(sys.meta_path[0]).__name__ == "MmfAliasFinder", sys.meta_path
        assert "mmf_ext.common.registry" not in sys.modules and "mmf_ext.modules.metrics" not in sys.modules
        import mmf.common.registry
        assert "mmf_ext.modules.metrics" not in sys.modules
        print(mmf.metrics.__name__)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "mmf_ext.modules.metrics"


@pytest.mark.parametrize(
    "name, words",
    [
        ("mmf.utils.text", "downloaded vocabularies"),
        ("mmf.models.visual_bert", "model zoo"),
        ("mmf.utils.download", "downloads are out of scope"),
        ("mmf.datasets.builders.vqa2", "dataset zoo"),
        ("mmf.modules.encoders", "pretrained weights"),
        ("mmf.no_such_thing", "which has no mmf_ext.no_such_thing"),
    ],
)
def test_an_mmf_module_not_provided_is_a_one_line_module_not_found_error(name, words):
    with pytest.raises(ModuleNotFoundError) as error:
        importlib.import_module(name)
    message = str(error.value)
    assert "\n" not in message and " is not available: " in message and words in message
    assert "Instead" in message or "Coming from MMF" in message


def test_the_alias_status_says_alias_for_ours():
    status = mmf_alias_status()
    assert status.kind == "alias" and Path(status.path) == COMPAT_DIR / "mmf" and status.message is None


def test_the_alias_status_names_a_real_mmf_that_shadows_ours(tmp_path):
    fake = tmp_path / "mmf"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise RuntimeError('a real MMF must not be imported to be detected')\n")
    done = run_python(
        """
        from mmf_ext.utils.general import mmf_alias_status
        status = mmf_alias_status()
        print(status.kind, status.path)
        print(status.message)
    """,
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    kind_line, message = done.stdout.strip().splitlines()
    assert kind_line == f"mmf {fake}"
    assert str(fake) in message and "shadows" in message


def test_the_alias_status_says_missing_when_nothing_provides_mmf(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "mmf" else real_find_spec(name, *a)
    )
    status = mmf_alias_status()
    assert status.kind == "missing" and "pip install -e ." in status.message


def test_the_top_package_exposes_mmfs_names_lazily():
    assert mmf.common is sys.modules["mmf_ext.common"] and mmf.losses is sys.modules["mmf_ext.modules.losses"]
    assert isinstance(mmf.__version__, str)
    with pytest.raises(AttributeError, match="mmf.modules.poolers is not available"):
        _ = mmf.poolers
