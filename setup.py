"""Video2Shop: an MMF-style plugin project (mmf_ext, mmf_cli) on PyTorch Lightning 2."""

from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent
PLUGIN_DIR = "projects/video2shop/video2shop"
MMF_ALIAS_DIR = "mmf_ext/compat/mmf"

setup(
    name="video2shop",
    version="0.1.0",
    description="Find the exact shop item for clothing seen in a video (AsymNet, CVPR 2017) "
    "with an MMF-compatible framework on PyTorch Lightning 2",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10,<3.13",
    # The framework (mmf_ext, mmf_cli) sits at the top; the video2shop plugin beside its project
    # configs in projects/video2shop/video2shop, like detectron2's projects/<name>/<package>.
    # `mmf` is the framework's alias package (MMF's import paths onto mmf_ext); its source is
    # mmf_ext/compat/mmf, which find_packages skips (mmf_ext/compat has no __init__.py).
    packages=find_packages(include=["mmf_ext", "mmf_ext.*", "mmf_cli", "mmf_cli.*"])
    + ["mmf"]
    + ["video2shop"]
    + [f"video2shop.{name}" for name in find_packages(PLUGIN_DIR)],
    package_dir={"video2shop": PLUGIN_DIR, "mmf": MMF_ALIAS_DIR},
    package_data={"mmf_ext": ["configs/*.yaml"], "video2shop": ["configs/**/*.yaml"]},
    include_package_data=True,
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "lightning>=2.1,<3",
        "omegaconf>=2.3,<2.5",
        "numpy>=1.24",
        "decord>=0.6",
        "opencv-contrib-python-headless>=4.8",
        "faiss-cpu>=1.7.4",
        "tqdm>=4.60",
        "matplotlib>=3.6",
        "torchmetrics>=1.2",
        "pycocotools>=2.0.7",
    ],
    extras_require={
        "test": ["pytest>=7.4", "pytest-xdist>=3.5", "tensorboard>=2.12"],
        "tensorboard": ["tensorboard>=2.12"],
        "lint": ["ruff>=0.6", "import-linter>=2.1"],
    },
    entry_points={
        "console_scripts": [
            "mmf_run=mmf_cli.run:main",
            "mmf_predict=mmf_cli.predict:main",
            "video2shop=video2shop.cli.main:main",
        ],
        # Plugins that mmf_run imports before it looks up a model or dataset (mmf_ext.utils.env).
        "mmf_ext.plugins": ["video2shop = video2shop"],
    },
)
