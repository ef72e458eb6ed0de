"""A tiny plugin package (MMF's "always one" spirit): a model, a dataset and a metric.

Tests import it through env.user_dir=tests/plugins/always_one, exactly as users plug in theirs.
"""

from . import dataset, model  # noqa: F401  (registration happens on import)
