"""The registered `category_similarity` model: Table 1's FT baseline, category-specific similarity networks.

The paper's FT (Sec. 6.4, after Kiapour et al. 2015, "Where to buy it"): "category-specific
two-layer neural networks are trained to predict whether two features extracted by the AlexNet
represent the same product item"; it is the one Table 1 method not scored by cosine. Our reading:
- features: a pretrained IFN's, frozen (frozen.py), as AL's;
- per clothing category one network on the concatenated pair [frame feature; shop feature]:
  fc1 (`hidden` units) + ReLU, fc2 (1 output), logistic; trained on the training items' own pairs
  (every frame against each of the item's S positive and S negative shop images, labels 1 / 0) by
  the log loss, each item through its category's network;
- a trajectory scores a shop image by the average over its frames of that similarity (the
  paper's "average similarity" over a trajectory), through the network of the query's category:
  the category is known in advance (Sec. 6.1), and one network per query keeps a query's ranking
  of the whole gallery on one scale. Within category the query's and the shop image's category
  are the same, so the choice only matters for the whole-gallery figures.
One more network, for "any category", is trained on every item's pairs; it scores queries whose
category is unknown (-1) and `score_gallery`, which sees no categories.
Each network's first layer splits as A frame + B shop + b (video2shop.retrieval.interfaces), so a
split is scored exactly by `exact_score_matrix`, chunk by chunk.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import SampleList
from mmf_ext.utils.errors import ConfigError
from video2shop.models.baselines.frozen import FrozenIFN, frozen_ifn
from video2shop.models.retrieval_model import RetrievalModel
from video2shop.paths import model_defaults
from video2shop.retrieval.scoring import exact_score_matrix

NAME = "category_similarity"


class PairSimilarityNetwork(nn.Module):
    """Two layers on [frame; shop] features -> a similarity in (0, 1); a FactorizedPairScorer."""

    def __init__(self, feature_dim: int, hidden: int) -> None:
        super().__init__()
        self.feature_dim = feature_dim
        self.fc1 = nn.Linear(2 * feature_dim, hidden)
        self.fc2 = nn.Linear(hidden, 1)

    def query_projection(self, query_states: torch.Tensor) -> torch.Tensor:
        return F.linear(query_states, self.fc1.weight[:, : self.feature_dim], self.fc1.bias)

    def gallery_projection(self, gallery_features: torch.Tensor) -> torch.Tensor:
        return F.linear(gallery_features, self.fc1.weight[:, self.feature_dim :])

    def score_preactivations(self, preactivations: torch.Tensor) -> torch.Tensor:
        """[T, Q, G, H] -> [Q, G]: the mean over frames of each pair's similarity."""
        return torch.sigmoid(self.fc2(preactivations.relu_()).squeeze(-1)).mean(0)

    def score_pairs(self, query_states: torch.Tensor, gallery_features: torch.Tensor) -> torch.Tensor:
        """Naive reference: [N, T, D] frames and [N, D] shop features -> [N] average similarities."""
        shop = gallery_features[:, None, :].expand_as(query_states)
        logits = self.fc2(F.relu(self.fc1(torch.cat([query_states, shop], dim=-1)))).squeeze(-1)
        return torch.sigmoid(logits).mean(1)

    def pair_logits(self, frames: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """Training pairs: [n, T, D] frames and [n, P, D] shop images of the same items -> logits [n, T, P]."""
        hidden = self.query_projection(frames)[:, :, None, :] + self.gallery_projection(images)[:, None, :, :]
        return self.fc2(F.relu(hidden)).squeeze(-1)


@registry.register_model(NAME)
class CategorySimilarity(FrozenIFN, RetrievalModel):
    @classmethod
    def config_path(cls) -> str:
        return model_defaults(NAME)

    def build(self) -> None:
        c = self.config
        self.ifn = frozen_ifn(c.ifn, NAME)
        self.num_categories = int(c.num_categories)
        if self.num_categories < 1:
            raise ConfigError(f"model_config.{NAME}.num_categories={self.num_categories} must be at least 1")
        feature_dim, hidden = int(c.ifn.feature_dim), int(c.hidden)
        # networks[i] for category i, networks[num_categories] for any category
        self.networks = nn.ModuleList(
            PairSimilarityNetwork(feature_dim, hidden) for _ in range(self.num_categories + 1)
        )

    def get_optimizer_parameters(self, config: Any) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]  # the similarity networks: the IFN is frozen

    def network_index(self, categories: Any) -> torch.Tensor:
        """Category indices (-1: unknown) -> the index of the network that scores them."""
        index = torch.as_tensor(categories, dtype=torch.long).cpu().clone()
        if (index >= self.num_categories).any():
            raise ConfigError(
                f"model_config.{NAME}.num_categories={self.num_categories} is below the dataset's category "
                f"index {int(index.max())}; raise it"
            )
        index[index < 0] = self.num_categories
        return index

    # -- training ---------------------------------------------------------------------------
    def training_output(self, sample_list: SampleList) -> dict[str, Any]:
        video, images = sample_list.video, sample_list.images  # [n, T, ...], [n, 2S, ...]
        n, frames_per_item, pairs = video.shape[0], video.shape[1], images.shape[1]
        features = self.features(torch.cat([video.flatten(0, 1), images.flatten(0, 1)]))
        frames = features[: n * frames_per_item].view(n, frames_per_item, -1)
        shop = features[n * frames_per_item :].view(n, pairs, -1)
        labels = sample_list.labels.float()[:, None, :].expand(n, frames_per_item, pairs)

        shared = self.networks[self.num_categories].pair_logits(frames, shop)  # [n, T, 2S]
        index = self.network_index(sample_list.category).to(frames.device)
        known = index < self.num_categories
        logits = shared  # each item through its category's network; the shared one where unknown
        for network in index[known].unique().tolist():
            rows = index == network
            logits = logits.index_put((rows,), self.networks[network].pair_logits(frames[rows], shop[rows]))
        category_loss = (
            F.binary_cross_entropy_with_logits(logits[known], labels[known]) if known.any() else logits.sum() * 0.0
        )
        return {
            "scores": torch.sigmoid(logits).mean(1).detach(),  # [n, 2S]: each image's average similarity
            "losses": {
                "category_log_loss": category_loss,
                "shared_log_loss": F.binary_cross_entropy_with_logits(shared, labels),
            },
        }

    # -- evaluation (RetrievalModel) -------------------------------------------------------
    def encode_query_videos(self, videos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frames = self.features(videos.flatten(0, 1)).view(*videos.shape[:2], -1)
        return frames, frames.mean(1)

    def encode_gallery_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)

    def score_by_network(
        self, index: torch.Tensor, query_states: torch.Tensor, gallery_features: torch.Tensor
    ) -> torch.Tensor:
        """[Q] network indices, [Q, T, D] frames, [G, D] shop features -> [Q, G] average similarities."""
        scores = query_states.new_empty(len(query_states), len(gallery_features))
        index = index.to(query_states.device)
        for network in index.unique().tolist():
            rows = index == network
            scores[rows] = exact_score_matrix(self.networks[network], query_states[rows], gallery_features)
        return scores

    def score_split(
        self,
        sample_list: SampleList,
        query_positions: torch.Tensor,
        query_states: torch.Tensor,
        query_embedding: torch.Tensor,
        gallery_features: torch.Tensor,
    ) -> torch.Tensor:
        categories = sample_list.get("category")
        if categories is None:
            return self.score_gallery(query_states, query_embedding, gallery_features)
        index = self.network_index([int(categories[p]) for p in query_positions.tolist()])
        return self.score_by_network(index, query_states, gallery_features)

    def score_gallery(
        self, query_states: torch.Tensor, query_embedding: torch.Tensor, gallery_features: torch.Tensor
    ) -> torch.Tensor:
        """No categories given: every query through the any-category network."""
        index = torch.full((len(query_states),), self.num_categories, dtype=torch.long)
        return self.score_by_network(index, query_states, gallery_features)
