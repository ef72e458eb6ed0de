"""The registered `contrastive_softmax` model: Table 1's CS and RC baselines, cosine similarity.

Our reading of the paper's two rows (Sec. 6.4), both a Siamese network on the IFN (one set of
weights for frames and shop images) with an embedding layer and a softmax layer on the IFN
feature, trained on the sum of a contrastive and a softmax loss:
- CS (Bell & Bala 2015): the classic contrastive loss (positives pulled to distance 0, negatives
  pushed beyond `negative_margin`) with a softmax over product identities
  (`softmax_over: identity`). The paper credits RC's gain to category information, so CS gets none.
- RC (Wang et al. 2016): the robust contrastive loss, which relaxes the penalty on positive pairs
  (they cost only beyond `positive_margin`), in multi-task training with a softmax over clothing
  categories (`softmax_over: category`; Wang et al.'s second task was ImageNet classes, which this
  project does not have, and the paper says RC "exploits the category information of clothing").
Pairs are the training items' own: every frame of the trajectory against each of its S positive
and S negative shop images, labelled by the item (distances of L2-normalised embeddings, in
[0, 2]). The softmax sees the trajectory's frames and its positive shop images, whose identity and
category are the item's; negatives' products are not in the item. At test a trajectory scores a
shop image by the average cosine similarity of its frames (the paper's "average similarity").
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import SampleList
from mmf_ext.utils.errors import ConfigError
from video2shop.models.baselines.cosine import CosineRetrievalModel, build_ifn
from video2shop.models.metric_losses import contrastive_loss
from video2shop.paths import model_defaults

SOFTMAX_TARGETS = ("identity", "category")


@registry.register_model("contrastive_softmax")
class ContrastiveSoftmax(CosineRetrievalModel):
    @classmethod
    def config_path(cls) -> str:
        return model_defaults("contrastive_softmax")

    def build(self) -> None:
        c = self.config
        self.softmax_over = str(c.softmax_over)
        if self.softmax_over not in SOFTMAX_TARGETS:
            raise ConfigError(
                f"model_config.contrastive_softmax.softmax_over={self.softmax_over!r}; "
                f"choose {', '.join(SOFTMAX_TARGETS)}"
            )
        self.ifn = build_ifn(c.ifn)
        feature_dim = int(c.ifn.feature_dim)
        self.embedding = nn.Linear(feature_dim, int(c.embedding_dim))
        self.num_classes = int(c.num_identities if self.softmax_over == "identity" else c.num_categories)
        self.classifier = nn.Linear(feature_dim, self.num_classes)
        self.softmax_weight = float(c.softmax_weight)
        self.negative_margin = float(c.negative_margin)
        self.positive_margin = float(c.positive_margin)
        self.identity_index: dict[str, int] = {}

    # -- classes ----------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        """Number the training products once, sorted, so runs and resumed runs agree on the classes."""
        datamodule = getattr(self.trainer, "datamodule", None)
        dataset = datamodule.get_dataset("train") if datamodule is not None else None
        ids = getattr(dataset, "product_ids", None)
        if self.softmax_over == "identity" and ids:
            if len(ids) > self.num_classes:
                raise ConfigError(
                    f"model_config.contrastive_softmax.num_identities={self.num_classes} is below the "
                    f"{len(ids)} training products; raise it"
                )
            self.identity_index = {pid: i for i, pid in enumerate(sorted(ids))}

    def class_targets(self, sample_list: SampleList) -> torch.Tensor:
        """Per training item, the softmax class (product identity or category); -1 = unknown (ignored)."""
        if self.softmax_over == "category":
            targets = torch.as_tensor(sample_list.category, dtype=torch.long).to(self.device)
            if (targets >= self.num_classes).any():
                raise ConfigError(
                    f"model_config.contrastive_softmax.num_categories={self.num_classes} is below the "
                    f"dataset's category index {int(targets.max())}; raise it"
                )
            return targets
        out = []
        for pid in sample_list.product_id:
            if pid not in self.identity_index:  # outside a trainer run: number products as they come
                if len(self.identity_index) >= self.num_classes:
                    raise ConfigError(
                        f"model_config.contrastive_softmax.num_identities={self.num_classes}: "
                        "more products than classes"
                    )
                self.identity_index[pid] = len(self.identity_index)
            out.append(self.identity_index[pid])
        return torch.tensor(out, dtype=torch.long, device=self.device)

    # -- encoding ---------------------------------------------------------------------------
    def embed(self, features: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.embedding(features), dim=-1)

    def query_states(self, videos: torch.Tensor) -> torch.Tensor:
        frames = self.ifn(videos.flatten(0, 1))
        return self.embed(frames).view(*videos.shape[:2], -1)  # one state per frame: average similarity

    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.embed(self.ifn(images))

    # -- training ---------------------------------------------------------------------------
    def training_output(self, sample_list: SampleList) -> dict[str, Any]:
        video, images = sample_list.video, sample_list.images  # [n, T, ...], [n, 2S, ...]
        n, frames, pairs = video.shape[0], video.shape[1], images.shape[1]
        labels = sample_list.labels.float()  # [n, 2S]
        features = self.ifn(torch.cat([video.flatten(0, 1), images.flatten(0, 1)]))  # one Siamese pass
        frame_features, image_features = features[: n * frames], features[n * frames :]
        frame_embeddings = self.embed(frame_features).view(n, frames, -1)
        image_embeddings = self.embed(image_features).view(n, pairs, -1)
        cosine = frame_embeddings @ image_embeddings.transpose(1, 2)  # [n, T, 2S]
        contrastive = contrastive_loss(
            cosine, labels[:, None, :].expand_as(cosine), self.negative_margin, self.positive_margin
        )

        targets = self.class_targets(sample_list)  # [n]
        positive = labels > 0.5
        logits = torch.cat(
            [self.classifier(frame_features), self.classifier(image_features.view(n, pairs, -1)[positive])]
        )
        class_targets = torch.cat([targets.repeat_interleave(frames), targets.repeat_interleave(positive.sum(1))])
        known = class_targets >= 0
        softmax = F.cross_entropy(logits[known], class_targets[known]) if known.any() else logits.sum() * 0.0
        return {
            "scores": cosine.mean(1),
            "losses": {"contrastive_loss": contrastive, "softmax_loss": self.softmax_weight * softmax},
        }
