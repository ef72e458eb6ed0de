"""What every retrieval model shares: training or evaluation by the batch, and the query/gallery split.

An evaluation split is all queries (trajectories) then all gallery items (shop images), as
docs/architecture.md's retrieval contract says. Per sample the forward pass gives `query_states`,
`query_embedding` (queries) or `gallery_features` (gallery items), None elsewhere; once the whole
split is gathered, `aggregate_eval_outputs` stacks each side and scores every query against every
gallery item. A subclass gives the encoders and the scoring rule; AsymNet and the cosine
baselines derive from here.
"""

from __future__ import annotations

from typing import Any

import torch

from mmf_ext.common.sample import SampleList
from mmf_ext.models.base_model import BaseModel


class RetrievalModel(BaseModel):
    """Base of the video-to-shop retrieval models: subclasses implement the four methods below."""

    def training_output(self, sample_list: SampleList) -> dict[str, Any]:
        """A training batch (`video`, `images`, `labels`) -> {"scores", "losses"}."""
        raise NotImplementedError

    def encode_query_videos(self, videos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 videos [B, T, 3, H, W] -> (query states [B, ...] for scoring, pooled embeddings [B, E])."""
        raise NotImplementedError

    def encode_gallery_images(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 shop images [N, 3, H, W] -> gallery features [N, E]."""
        raise NotImplementedError

    def score_gallery(
        self, query_states: torch.Tensor, query_embedding: torch.Tensor, gallery_features: torch.Tensor
    ) -> torch.Tensor:
        """The stacked split (states [Q, ...], embeddings [Q, E], gallery features [G, E]) -> scores [Q, G]."""
        raise NotImplementedError

    def score_split(
        self,
        sample_list: SampleList,
        query_positions: torch.Tensor,
        query_states: torch.Tensor,
        query_embedding: torch.Tensor,
        gallery_features: torch.Tensor,
    ) -> torch.Tensor:
        """Scores [Q, G] of a gathered split; a model that reads the queries' sample fields (their
        category, at `query_positions` of `sample_list`) overrides this, the others score_gallery."""
        return self.score_gallery(query_states, query_embedding, gallery_features)

    @staticmethod
    def query_gallery_positions(
        model_output: dict[str, Any],
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any] | None]:
        """Positions of the queries and of the gallery items in a split's gathered `is_query` flags.

        The third value is the finished (empty) aggregate when either side is missing, so a model
        returns it as it is instead of scoring nothing.
        """
        is_query = model_output["is_query"].bool()
        query_positions = torch.nonzero(is_query).flatten()
        gallery_positions = torch.nonzero(~is_query).flatten()
        empty = None
        if len(query_positions) == 0 or len(gallery_positions) == 0:
            empty = {
                "scores": torch.empty(len(query_positions), len(gallery_positions)),
                "query_positions": query_positions,
                "gallery_positions": gallery_positions,
            }
        return query_positions, gallery_positions, empty

    # -- the framework's contract -----------------------------------------------------------
    def forward(self, sample_list: SampleList) -> dict[str, Any]:
        if "labels" in sample_list and "images" in sample_list:
            return self.training_output(sample_list)
        return self.evaluation_output(sample_list)

    def evaluation_output(self, sample_list: SampleList) -> dict[str, Any]:
        """Per sample: the query's states and embedding, or the gallery item's features (None elsewhere)."""
        is_query = [bool(v) for v in sample_list.is_query]
        size = len(is_query)
        query_states: list[Any] = [None] * size
        query_embedding: list[Any] = [None] * size
        gallery_features: list[Any] = [None] * size
        query_rows = [i for i in range(size) if is_query[i]]
        gallery_rows = [i for i in range(size) if not is_query[i]]
        if query_rows:
            video = sample_list.video
            videos = torch.stack([video[i] for i in query_rows]) if isinstance(video, list) else video[query_rows]
            states, pooled = self.encode_query_videos(videos)
            for k, row in enumerate(query_rows):
                query_states[row], query_embedding[row] = states[k], pooled[k]
        if gallery_rows:
            features = self.encode_gallery_images(torch.stack([sample_list.image[i] for i in gallery_rows]))
            for k, row in enumerate(gallery_rows):
                gallery_features[row] = features[k]
        return {
            "is_query": torch.tensor(is_query),
            "query_states": query_states,
            "query_embedding": query_embedding,
            "gallery_features": gallery_features,
        }

    def aggregate_eval_outputs(self, sample_list: SampleList, model_output: dict[str, Any]) -> dict[str, Any]:
        query_positions, gallery_positions, empty = self.query_gallery_positions(model_output)
        if empty is not None:
            return empty
        queries, gallery = query_positions.tolist(), gallery_positions.tolist()
        query_states = torch.stack([model_output["query_states"][i] for i in queries])
        query_embedding = torch.stack([model_output["query_embedding"][i] for i in queries])
        gallery_features = torch.stack([model_output["gallery_features"][i] for i in gallery])
        scores = self.score_split(sample_list, query_positions, query_states, query_embedding, gallery_features)
        return {
            "scores": scores.cpu(),
            "query_positions": query_positions,
            "gallery_positions": gallery_positions,
            "query_embedding": query_embedding.cpu(),
            "gallery_features": gallery_features.cpu(),
        }
