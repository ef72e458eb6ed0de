"""What the cosine-similarity baselines share: IFN construction, evaluation, the scoring rule.

A query (trajectory) gives states [T', D] and a shop image an L2-normalised embedding [D]; the
score of a pair is mean_t(state_t . image). With L2-normalised frame embeddings as states this is
the paper's "average similarity" over a trajectory's frames with cosine similarity (Table 1,
CS / RC); with one normalised video embedding as the state it is the cosine of a dual encoder. The
mean commutes with the dot product, so the whole gallery is scored by one matrix product of the
mean state and the image embeddings: exact for any gallery size, so no shortlist is needed (and
`retrieval.shortlist` is not read). The evaluation output follows docs/architecture.md's
retrieval contract, as AsymNet's does, so `topk_retrieval_accuracy` and predictions work as is.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from mmf_ext.common.sample import SampleList
from video2shop.models.asymnet.ifn import ImageFeatureNetwork
from mmf_ext.models.base_model import BaseModel
from video2shop.retrieval.eval_outputs import query_gallery_positions


def build_ifn(config: Any) -> ImageFeatureNetwork:
    """The IFN of asymnet's config shape (`backbone`, `spp_levels`, `feature_dim`, ...): same features, fair comparison."""
    return ImageFeatureNetwork(str(config.backbone), tuple(config.spp_levels), int(config.feature_dim),
                               config.get("pretrained"), float(config.get("dropout", 0.0)))


def naive_cosine_scores(query_states: torch.Tensor, gallery_embeddings: torch.Tensor) -> torch.Tensor:
    """Reference per pair, for tests: [N, T, D] states and [N, D] gallery rows -> [N] mean_t cos(state_t, g).

    States are compared by cosine whatever their norm; equal to the model's scores when the
    states are normalised, as every baseline here makes them.
    """
    return F.cosine_similarity(query_states, gallery_embeddings[:, None, :], dim=-1).mean(1)


class CosineRetrievalModel(BaseModel):
    """Base of the cosine baselines: subclasses implement `query_states` and `embed_images`."""

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

    # -- evaluation -------------------------------------------------------------------------
    def _evaluation_output(self, sample_list: SampleList) -> dict[str, Any]:
        is_query = [bool(v) for v in sample_list.is_query]
        size = len(is_query)
        states_out: list[Any] = [None] * size
        query_embedding: list[Any] = [None] * size
        gallery_features: list[Any] = [None] * size
        query_rows = [i for i in range(size) if is_query[i]]
        gallery_rows = [i for i in range(size) if not is_query[i]]
        if query_rows:
            video = sample_list.video
            videos = torch.stack([video[i] for i in query_rows]) if isinstance(video, list) else video[query_rows]
            states = self.query_states(videos)
            pooled = states.mean(1)
            for k, row in enumerate(query_rows):
                states_out[row], query_embedding[row] = states[k], pooled[k]
        if gallery_rows:
            images = torch.stack([sample_list.image[i] for i in gallery_rows])
            embeddings = self.embed_images(images)
            for k, row in enumerate(gallery_rows):
                gallery_features[row] = embeddings[k]
        return {"is_query": torch.tensor(is_query), "query_states": states_out,
                "query_embedding": query_embedding, "gallery_features": gallery_features}

    def training_output(self, sample_list: SampleList) -> dict[str, Any]:
        raise NotImplementedError

    def forward(self, sample_list: SampleList) -> dict[str, Any]:
        if "labels" in sample_list and "images" in sample_list:
            return self.training_output(sample_list)
        return self._evaluation_output(sample_list)

    def aggregate_eval_outputs(self, sample_list: SampleList, model_output: dict[str, Any]) -> dict[str, Any]:
        query_positions, gallery_positions, empty = query_gallery_positions(model_output)
        if empty is not None:
            return empty
        query_embedding = torch.stack([model_output["query_embedding"][i] for i in query_positions.tolist()])
        gallery = torch.stack([model_output["gallery_features"][i] for i in gallery_positions.tolist()])
        return {
            "scores": self.score_matrix(query_embedding, gallery).cpu(),
            "query_positions": query_positions,
            "gallery_positions": gallery_positions,
            "query_embedding": query_embedding.cpu(),
            "gallery_features": gallery.cpu(),
        }
