"""FAISS under the framework's thread policy: import faiss from here.

faiss-cpu bundles its own OpenMP runtime, so torch.set_num_threads does not reach it and FAISS
searches and k-means would run one thread per CPU whatever the policy chose, oversubscribing a
busy machine. Registering its setter puts it under the policy and the adaptive loops
(mmf_ext.utils.thread_pools).
"""

from __future__ import annotations

import faiss

from mmf_ext.utils.thread_pools import register_thread_pool

register_thread_pool("faiss", faiss.omp_set_num_threads)

__all__ = ["faiss"]
