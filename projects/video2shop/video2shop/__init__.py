"""Video2Shop: AsymNet (CVPR 2017) and its baselines as a plugin of the mmf_ext framework.

Importing the package registers its models, dataset builders and metrics, exactly as an outside
plugin named by `env.user_dir` does. `mmf_run` finds it through the `mmf_ext.plugins` entry
point declared in setup.py, so the README's commands need no `env.user_dir`.
"""

from video2shop.datasets import builder as _builder  # noqa: F401
from video2shop.models.asymnet import model as _asymnet  # noqa: F401
from video2shop.models.baselines import category_similarity as _ft  # noqa: F401
from video2shop.models.baselines import contrastive_softmax as _cs  # noqa: F401
from video2shop.models.baselines import infonce_dual_encoder as _infonce  # noqa: F401
from video2shop.models.baselines import pretrained_cosine as _al  # noqa: F401
from video2shop.models.detector import model as _detector  # noqa: F401
from video2shop.modules import detection_metrics as _detection_metrics  # noqa: F401
from video2shop.modules import retrieval_metrics as _retrieval_metrics  # noqa: F401
