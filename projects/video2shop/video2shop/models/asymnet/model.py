"""The registered `asymnet` model: IFN + VFN + SSN leaves + fusion tree, with two-step training.

Training items carry one trajectory and 2S shop images (S positives, S negatives). With
`approximate_training: true` (paper Alg. 1) the trajectory is encoded once and its hidden states
are shared by all 2S pairs (autograd sums their gradients, Eq. 12); with `false` it is encoded again
for every pair. Phases (Sec. 4.3): `ssn` trains IFN, VFN and SSN with the log loss of Eq. 5;
`fusion` freezes them and trains the gates by the mixture log-likelihood of Eq. 9; `both` runs the
two in sequence in one run, switching after `fusion_start` of the updates.

Baselines of the paper are options of the same model: `representation` avg_pool / max_pool
(pooled frame features scored by one SSN) or fisher_vector / vlad (frame features and shop images
encoded by video2shop.models.asymnet.encodings, fitted when training starts), `vfn.levels` 1-4, and
`fusion` avg / max / last / kvm (key-volume attention) instead of the tree.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from omegaconf import OmegaConf
from torch import nn

from mmf_ext.common.registry import registry
from mmf_ext.common.sample import SampleList
from mmf_ext.utils.errors import ConfigError
from video2shop.models.asymnet.encodings import ENCODINGS, build_encoding, fit_on_training_regions
from video2shop.models.asymnet.fusion_tree import FusionTree, mixture_log_likelihood
from video2shop.models.asymnet.ifn import ImageFeatureNetwork
from video2shop.models.asymnet.pair_head import LeafProjectionHead
from video2shop.models.asymnet.ssn import SingleSimilarityNetwork
from video2shop.models.asymnet.vfn import VideoFeatureNetwork
from video2shop.models.retrieval_model import RetrievalModel
from video2shop.paths import model_defaults
from video2shop.retrieval.search import ShortlistSettings, search
from video2shop.video.sampling import window_starts

FUSIONS = ("tree", "avg", "max", "last", "kvm")
REPRESENTATIONS = ("lstm", "avg_pool", "max_pool", *ENCODINGS)


@registry.register_model("asymnet")
class AsymNet(RetrievalModel):
    @classmethod
    def config_path(cls) -> str:
        return model_defaults("asymnet")

    # -- construction -----------------------------------------------------------------------
    def build(self) -> None:
        c = self.config
        self.representation = str(c.representation)
        self.fusion = str(c.fusion)
        if self.representation not in REPRESENTATIONS:
            raise ConfigError(
                f"model_config.asymnet.representation={self.representation!r}; choose {', '.join(REPRESENTATIONS)}"
            )
        if self.fusion not in FUSIONS:
            raise ConfigError(f"model_config.asymnet.fusion={self.fusion!r}; choose {', '.join(FUSIONS)}")
        self.phase = str(c.phase)
        if self.phase not in ("ssn", "fusion", "both"):
            raise ConfigError(f"model_config.asymnet.phase={self.phase!r}; choose ssn, fusion or both")
        self.approximate_training = bool(c.approximate_training)
        self.ifn = ImageFeatureNetwork(
            str(c.ifn.backbone),
            tuple(c.ifn.spp_levels),
            int(c.ifn.feature_dim),
            c.ifn.get("pretrained"),
            float(c.ifn.dropout),
        )
        feature_dim = int(c.ifn.feature_dim)
        self.encoding = (
            build_encoding(self.representation, feature_dim, c.encoding) if self.representation in ENCODINGS else None
        )
        image_dim = self.encoding.output_dim if self.encoding is not None else feature_dim
        if self.representation == "lstm":
            self.vfn = VideoFeatureNetwork(feature_dim, int(c.vfn.hidden_dim), int(c.vfn.levels), float(c.vfn.dropout))
            state_dim = int(c.vfn.hidden_dim)
            branches = (
                list(OmegaConf.to_container(c.tree, resolve=True)) if self.fusion == "tree" else [int(c.num_leaves)]
            )
            self.num_leaves = math.prod(branches) if self.fusion == "tree" else int(c.num_leaves)
        else:
            self.vfn = None
            state_dim = image_dim  # pooled features, or the encoding of the frame set
            self.num_leaves = 1
            branches = [1]
            if self.fusion in ("tree", "kvm"):
                self.fusion = "last"  # a pooled trajectory is a single leaf: nothing to fuse
        self.ssn = SingleSimilarityNetwork(state_dim, image_dim, int(c.ssn.hidden))
        self.tree = FusionTree(branches, int(c.ssn.hidden)) if self.fusion == "tree" else None
        self.key_volume = nn.Linear(int(c.ssn.hidden), 1) if self.fusion == "kvm" else None
        budget = c.scoring.get("memory_budget_mb")
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int | float) or budget <= 0):
            raise ConfigError(
                f"model_config.asymnet.scoring.memory_budget_mb={budget!r}; give a size in MB above 0, or null"
            )
        self.memory_budget_mb = float(budget) if budget is not None else None

    # -- phases -----------------------------------------------------------------------------
    def current_phase(self) -> str:
        if self.fusion != "tree":
            return "joint"  # baselines without fusion nodes train in one step
        if self.phase != "both":
            return self.phase
        trainer = getattr(self, "_trainer", None)
        total = int(trainer.max_steps) if trainer is not None and trainer.max_steps and trainer.max_steps > 0 else 1
        return "ssn" if self.global_step < float(self.config.fusion_start) * total else "fusion"

    def progress_label(self) -> str | None:
        """The phase being trained (ssn, then fusion with phase=both) for the progress bar."""
        return f"phase {self.current_phase()}"

    def selectable_as_best(self) -> bool:
        """With phase both, only the two-step model competes for best.ckpt, never one with untrained gates."""
        return not (self.phase == "both" and self.fusion == "tree" and self.current_phase() == "ssn")

    def _encoders(self) -> list[nn.Module]:
        return [m for m in (self.ifn, self.vfn, self.encoding, self.ssn) if m is not None]

    def on_train_start(self) -> None:
        if self.encoding is not None:  # FV / VLAD: fit PCA and codebooks on training regions, once
            fit_on_training_regions(self.encoding, self.ifn, self.trainer, self.config.encoding)

    # -- encoding ---------------------------------------------------------------------------
    def encode_images(self, images: torch.Tensor) -> torch.Tensor:
        """[..., 3, H, W] -> IFN features [..., E]."""
        shape = images.shape[:-3]
        return self.ifn(images.reshape(-1, *images.shape[-3:])).view(*shape, -1)

    def encode_trajectories(self, frame_features: torch.Tensor) -> torch.Tensor:
        """IFN features of frames [B, T, E] -> states [B, W, L, D]: W sliding windows of L leaves."""
        batch, length, _ = frame_features.shape
        if self.representation == "avg_pool":
            return frame_features.mean(1)[:, None, None, :]
        if self.representation == "max_pool":
            return frame_features.amax(1)[:, None, None, :]
        if self.encoding is not None:
            return self.encoding(frame_features)[:, None, None, :]
        leaves = self.num_leaves
        if length < leaves:  # loop the trajectory to the number of leaves
            frame_features = frame_features[:, [i % length for i in range(leaves)]]
            length = leaves
        starts = window_starts(length, leaves)
        windows = torch.stack([frame_features[:, s : s + leaves] for s in starts], dim=1)  # [B, W, L, E]
        states = self.vfn(windows.reshape(batch * len(starts), leaves, -1))
        return states.view(batch, len(starts), leaves, -1)

    def encode_gallery(self, image_features: torch.Tensor) -> torch.Tensor:
        """IFN features of shop images [..., E] -> what the SSN reads: the features, or their encoding as a set of
        one (FV / VLAD)."""
        if self.encoding is None:
            return image_features
        encoded = self.encoding(image_features.reshape(-1, 1, image_features.shape[-1]))
        return encoded.view(*image_features.shape[:-1], -1)

    # -- similarity -------------------------------------------------------------------------
    def fuse(self, leaf_logits: torch.Tensor, leaf_features: torch.Tensor) -> torch.Tensor:
        """Leaf logits z [..., L] and fc1 features x [..., L, D] -> global similarity in (0, 1)."""
        similarity = torch.sigmoid(leaf_logits)
        if self.fusion == "tree":
            return self.tree(similarity, leaf_features)
        if self.fusion == "avg":
            return similarity.mean(-1)
        if self.fusion == "max":
            return similarity.amax(-1)
        if self.fusion == "last":
            return similarity[..., -1]
        weights = torch.softmax(self.key_volume(leaf_features).squeeze(-1), dim=-1)  # kvm
        return (weights * similarity).sum(-1)

    # FactorizedPairScorer (video2shop.retrieval.interfaces) -------------------------------------
    def query_projection(self, query_states: torch.Tensor) -> torch.Tensor:
        return self.ssn.state_projection(query_states)

    def reference_query_parts(self, gallery_features: torch.Tensor) -> torch.Tensor:
        """Query pre-activations [N, L, H] of still trajectories (each image held over every leaf).

        Typical of what queries give the first SSN layer, computed from the gallery alone, so a
        shortlist's feature map can be fitted when a catalog is indexed (see ReluFeatureMap).
        """
        still = gallery_features[:, None, :].expand(-1, self.num_leaves, -1)
        return self.query_projection(self.encode_trajectories(still)[:, 0])

    def gallery_projection(self, gallery_features: torch.Tensor) -> torch.Tensor:
        return self.ssn.image_projection(self.encode_gallery(gallery_features))

    def pair_head(self) -> LeafProjectionHead:
        """fc2 and the fusion as one product of each leaf's fc1 feature with a few vectors (see pair_head.py)."""
        return LeafProjectionHead(self.fusion, self.ssn.fc2, self.tree, self.key_volume)

    def score_pairs(self, query_states: torch.Tensor, gallery_features: torch.Tensor) -> torch.Tensor:
        expanded = self.encode_gallery(gallery_features)[:, None, :].expand(-1, query_states.shape[1], -1)
        features, logits = self.ssn(query_states, expanded)
        return self.fuse(logits, features)

    # -- training ---------------------------------------------------------------------------
    def _pair_outputs(self, video: torch.Tensor, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Leaf logits z [n, 2S, W, L] and fc1 features x [n, 2S, W, L, D] for every pair."""
        n, pairs = images.shape[:2]
        image_features = self.encode_gallery(self.encode_images(images))  # [n, 2S, E] (encoded for FV / VLAD)
        if self.approximate_training:
            states = self.encode_trajectories(self.encode_images(video))  # [n, W, L, D], once
            pre = (
                self.ssn.state_projection(states)[:, None] + self.ssn.image_projection(image_features)[:, :, None, None]
            )
            features, logits = self.ssn.from_preactivation(pre)
            return logits, features
        repeated = video[:, None].expand(-1, pairs, *video.shape[1:]).reshape(n * pairs, *video.shape[1:])
        states = self.encode_trajectories(self.encode_images(repeated))  # encoded again for every pair
        states = states.view(n, pairs, *states.shape[1:])
        expanded = image_features[:, :, None, None, :].expand(*states.shape[:-1], -1)
        features, logits = self.ssn(states, expanded)
        return logits, features

    def training_output(self, sample_list: SampleList) -> dict[str, Any]:
        phase = self.current_phase()
        labels = sample_list.labels.float()  # [n, 2S]
        if phase == "fusion":
            for module in self._encoders():
                module.eval()
            with torch.no_grad():
                logits, features = self._pair_outputs(sample_list.video, sample_list.images)
            similarity = torch.sigmoid(logits)
            flat_labels = labels[:, :, None].expand(*logits.shape[:-1]).reshape(-1)
            log_likelihood = mixture_log_likelihood(
                self.tree,
                similarity.reshape(-1, logits.shape[-1]),
                features.reshape(-1, *features.shape[-2:]),
                flat_labels,
            )
            loss = -log_likelihood / flat_labels.numel()
            scores = self.tree(similarity, features).mean(-1)
            return {"scores": scores, "losses": {"fusion_nll": loss}}
        for module in self._encoders():
            module.train()
        logits, features = self._pair_outputs(sample_list.video, sample_list.images)
        if phase == "ssn" or self.fusion in ("avg", "max", "last"):
            target = labels[:, :, None, None].expand_as(logits)
            loss = F.binary_cross_entropy_with_logits(logits, target)  # Eq. 5 over every leaf
            scores = self.fuse(logits, features).mean(-1)
            return {"scores": scores, "losses": {"ssn_log_loss": loss}}
        fused = self.fuse(logits, features).mean(-1).clamp(1e-6, 1 - 1e-6)  # kvm: loss on the fused score
        return {"scores": fused, "losses": {"fused_log_loss": F.binary_cross_entropy(fused, labels)}}

    # -- evaluation (RetrievalModel) -------------------------------------------------------
    def encode_query_videos(self, videos: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Videos -> states [B, W, L, D] (sliding windows) and the cosine-normalised mean IFN feature [B, E]."""
        frame_features = self.encode_images(videos)
        return self.encode_trajectories(frame_features), F.normalize(frame_features.mean(1), dim=-1)

    def encode_gallery_images(self, images: torch.Tensor) -> torch.Tensor:
        return self.encode_images(images)

    def score_gallery(
        self, query_states: torch.Tensor, query_embedding: torch.Tensor, gallery_features: torch.Tensor
    ) -> torch.Tensor:
        """Exact scores, the mean over a query's windows; with `shortlist.enabled` and one window per
        query, exact scores of each query's shortlist and -inf elsewhere."""
        windows = query_states.shape[1]
        shortlist = ShortlistSettings.from_config(self.config.shortlist) if windows == 1 else None
        return search(
            self,
            query_states.to(self.device),
            gallery_features.to(self.device),
            shortlist=shortlist,
            query_embeddings=query_embedding.to(self.device),
            memory_budget_mb=self.memory_budget_mb,
        )
