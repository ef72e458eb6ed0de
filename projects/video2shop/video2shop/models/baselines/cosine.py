"""What the cosine-similarity baselines share: IFN construction, evaluation, the scoring rule.

A query (trajectory) gives states [T', D] and a shop image an L2-normalised embedding [D]; the
score of a pair is mean_t(state_t . image). With L2-normalised frame embeddings as states this is
the paper's "average similarity" over a trajectory's frames with cosine similarity (Table 1,
CS / RC); with one normalised video embedding as the state it is the cosine of a dual encoder. The
mean commutes with the dot product, so the whole gallery is scored by one matrix product of the
mean state and the image embeddings: exact for any gallery size, so no shortlist is needed (and
the shortlist settings AsymNet has do not exist here). The evaluation output follows docs/architecture.md's
retrieval contract, as AsymNet's does, so `topk_retrieval_accuracy` and predictions work as is.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from video2shop.models.asymnet.ifn import ImageFeatureNetwork
from video2shop.models.retrieval_model import RetrievalModel


def build_ifn(config: Any) -> ImageFeatureNetwork:
    """The IFN of asymnet's config shape (`backbone`, `spp_levels`, `feature_dim`, ...): same features, so a fair
    comparison."""
    return ImageFeatureNetwork.from_config(config)


def naive_cosine_scores(query_states: torch.Tensor, gallery_embeddings: torch.Tensor) -> torch.Tensor:
    """Reference per pair, for tests: [N, T, D] states and [N, D] gallery rows -> [N] mean_t cos(state_t, g).

    States are compared by cosine whatever their norm; equal to the model's scores when the
    states are normalised, as every baseline here makes them.
    """
    return F.cosine_similarity(query_states, gallery_embeddings[:, None, :], dim=-1).mean(1)


class CosineRetrievalModel(RetrievalModel):
    """Base of the cosine baselines: subclasses implement `query_states`, `embed_images` and `training_output`."""

    def query_states(self, videos: torch.Tensor) -> torch.Tensor:
        """uint8 videos [B, T, 3, H, W] -> L2-normalised states [B, T', D] (T' frames, or 1 video vector)."""
        raise NotImplementedError

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images [N, 3, H, W] -> L2-normalised embeddings [N, D]."""
        raise NotImplementedError

    @staticmethod
    def score_matrix(query_embedding: torch.Tensor, gallery_embeddings: torch.Tensor) -> torch.Tensor:
        """[Q, D] mean states and [G, D] image embeddings -> [Q, G] scores (one matrix product)."""
        return query_embedding.float() @ gallery_embeddings.float().t()

    # -- evaluation (RetrievalModel) -------------------------------------------------------
    def encode_query_videos(self, videos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        states = self.query_states(videos)
        return states, states.mean(1)

    def encode_gallery_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed_images(images)

    def score_gallery(
        self, query_states: torch.Tensor, query_embedding: torch.Tensor, gallery_features: torch.Tensor
    ) -> torch.Tensor:
        return self.score_matrix(query_embedding, gallery_features)
