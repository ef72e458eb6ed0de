"""The registered `infonce_dual_encoder` model: today's usual baseline for video-to-shop retrieval.

As in RICE-style dual encoders: a video tower (IFN per frame, then a temporal mean or a small
temporal transformer with attention pooling) and an image tower (IFN), each ending in a linear
head and L2 normalisation; trained by a symmetric InfoNCE loss with a learnable temperature over
the in-batch pairs, scored by cosine similarity (a matrix product, exact for any gallery).

In a batch of n training items, video i's positives are the positive shop images of every item
with i's product (usually its own S); every other image of the batch is a negative, its own S
negatives included. A negative image of another item cannot be checked against i's product (the
item does not name it), so a rare false negative is possible; with hundreds of products and
batches of 8 it barely happens. Several positives per anchor: each positive gets its own term
against the anchor's negatives only (positives never compete with each other).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import SampleList
from mmf_ext.utils.errors import ConfigError
from video2shop.models.baselines.cosine import CosineRetrievalModel, build_ifn
from video2shop.models.metric_losses import multi_positive_infonce, same_product_mask
from video2shop.paths import model_defaults

TEMPORAL = ("mean", "transformer")


def sinusoidal_positions(length: int, dim: int, device: torch.device) -> torch.Tensor:
    """[length, dim] fixed positional encodings (no maximum trajectory length)."""
    position = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    rates = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * rates)
    table[:, 1::2] = torch.cos(position * rates[: dim // 2])
    return table


class TemporalTransformerPool(nn.Module):
    """Frame features [B, T, E] -> one vector [B, dim]: a small transformer, then attention pooling."""

    def __init__(self, input_dim: int, dim: int, layers: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.input = nn.Linear(input_dim, dim)
        layer = nn.TransformerEncoderLayer(dim, heads, dim_feedforward=2 * dim, dropout=dropout, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.attention = nn.Linear(dim, 1)
        self.dim = dim

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        x = self.input(frames) + sinusoidal_positions(frames.shape[1], self.dim, frames.device)
        x = self.encoder(x)
        weights = torch.softmax(self.attention(x).squeeze(-1), dim=1)
        return (weights.unsqueeze(-1) * x).sum(1)


@registry.register_model("infonce_dual_encoder")
class InfoNCEDualEncoder(CosineRetrievalModel):
    @classmethod
    def config_path(cls) -> str:
        return model_defaults("infonce_dual_encoder")

    def build(self) -> None:
        c = self.config
        self.temporal = str(c.temporal)
        if self.temporal not in TEMPORAL:
            raise ConfigError(
                f"model_config.infonce_dual_encoder.temporal={self.temporal!r}; choose {', '.join(TEMPORAL)}"
            )
        self.video_ifn = build_ifn(c.ifn)
        self.image_ifn = self.video_ifn if bool(c.shared_ifn) else build_ifn(c.ifn)
        feature_dim, embedding_dim = int(c.ifn.feature_dim), int(c.embedding_dim)
        if self.temporal == "transformer":
            t = c.transformer
            self.temporal_pool: nn.Module | None = TemporalTransformerPool(
                feature_dim, int(t.dim), int(t.layers), int(t.heads), float(t.dropout)
            )
            pooled_dim = int(t.dim)
        else:
            self.temporal_pool = None
            pooled_dim = feature_dim
        self.video_head = nn.Linear(pooled_dim, embedding_dim)
        self.image_head = nn.Linear(feature_dim, embedding_dim)
        temperature = float(c.temperature)
        if temperature <= 0:
            raise ConfigError(f"model_config.infonce_dual_encoder.temperature={temperature} must be positive")
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1.0 / temperature)))
        self.max_logit_scale = math.log(float(c.max_logit_scale))

    # -- towers -----------------------------------------------------------------------------
    def embed_videos(self, videos: torch.Tensor) -> torch.Tensor:
        """uint8 videos [B, T, 3, H, W] -> L2-normalised video embeddings [B, D]."""
        frames = self.video_ifn(videos.flatten(0, 1)).view(*videos.shape[:2], -1)
        pooled = self.temporal_pool(frames) if self.temporal_pool is not None else frames.mean(1)
        return F.normalize(self.video_head(pooled), dim=-1)

    def query_states(self, videos: torch.Tensor) -> torch.Tensor:
        return self.embed_videos(videos)[:, None, :]

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.image_head(self.image_ifn(images)), dim=-1)

    # -- training ---------------------------------------------------------------------------
    def training_output(self, sample_list: SampleList) -> dict[str, Any]:
        videos, images = sample_list.video, sample_list.images  # [n, T, ...], [n, 2S, ...]
        n, pairs = images.shape[:2]
        labels = sample_list.labels.float() > 0.5  # [n, 2S]
        video_embeddings = self.embed_videos(videos)  # [n, D]
        image_embeddings = self.embed_images(images.flatten(0, 1))  # [n * 2S, D]
        scale = self.logit_scale.clamp(max=self.max_logit_scale).exp()
        logits = scale * video_embeddings @ image_embeddings.t()  # [n, n * 2S]

        ids = list(sample_list.product_id) if "product_id" in sample_list else [str(i) for i in range(n)]
        same_product = same_product_mask(ids, logits.device)  # [n, n]
        positives = (same_product[:, :, None] & labels[None, :, :]).reshape(n, n * pairs)
        video_to_image = multi_positive_infonce(logits, positives)
        is_positive_image = labels.reshape(-1)  # image -> video terms exist for positive images only
        image_to_video = multi_positive_infonce(logits.t()[is_positive_image], positives.t()[is_positive_image])
        own = logits.view(n, n, pairs)[torch.arange(n), torch.arange(n)] / scale  # each video's own 2S cosines
        return {"scores": own.detach(), "losses": {"infonce_loss": 0.5 * (video_to_image + image_to_video)}}
