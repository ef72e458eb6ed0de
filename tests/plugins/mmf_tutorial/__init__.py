"""A plugin written the way MMF's tutorials teach (dataset, processors, metrics, losses, concat_bert).

Nothing here knows about mmf_ext: every import is MMF's (`mmf.*`), the configs are MMF configs,
and tests/mmf_ext/test_mmf_tutorial_plugin.py trains it through `mmf_run env.user_dir=...`
without an edit. MMF's `import_files` imports the package's modules.
"""

from mmf.utils.env import import_files

import_files(__file__, "mmf_tutorial")
