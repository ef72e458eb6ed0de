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
from video2shop.models.asymnet.training_signal import (
    PhaseSchedule,
    PretrainingObjective,
    check_pair_loss,
    hard_negative_positions,
    pair_loss,
)
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
        self.schedule = PhaseSchedule.from_config(c)
        self.phase = self.schedule.phase
        self.approximate_training = bool(c.approximate_training)
        self.pair_loss = check_pair_loss(str(c.pair_loss))
        self.hard_negatives = int(c.hard_negatives)
        if self.hard_negatives < 0 or (self.hard_negatives and not self.approximate_training):
            raise ConfigError(
                f"model_config.asymnet.hard_negatives={self.hard_negatives}: a count >= 0, mined from the batch's "
                "shared encodings, so it needs approximate_training: true"
            )
        self.ifn = ImageFeatureNetwork.from_config(c.ifn)
        feature_dim = self.ifn.feature_dim
        self.encoding = (
            build_encoding(self.representation, feature_dim, c.encoding) if self.representation in ENCODINGS else None
        )
        image_dim = self.encoding.output_dim if self.encoding is not None else feature_dim
        if self.representation == "lstm":
            self.vfn = VideoFeatureNetwork(
                feature_dim, int(c.vfn.hidden_dim), int(c.vfn.levels), float(c.vfn.dropout), str(c.vfn.init)
            )
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
        self.ssn = SingleSimilarityNetwork(state_dim, image_dim, int(c.ssn.hidden), str(c.ssn.init))
        self.tree = FusionTree(branches, int(c.ssn.hidden)) if self.fusion == "tree" else None
        self.key_volume = nn.Linear(int(c.ssn.hidden), 1) if self.fusion == "kvm" else None
        pretraining = c.ifn_pretraining
        self.pretraining = PretrainingObjective.from_config(pretraining)
        self.freeze_ifn_after_pretraining = str(pretraining.afterwards) == "freeze"
        self.pretrain_head = (
            nn.Linear(feature_dim, int(pretraining.embedding_dim)) if self.schedule.pretrain_until > 0 else None
        )
        if self.pretrain_head is not None and self.encoding is not None:
            raise ConfigError(
                f"model_config.asymnet.ifn_pretraining.until={self.schedule.pretrain_until} with representation="
                f"{self.representation}: the encoding is fitted on the IFN before training starts; pretrain in a "
                "separate run and load it with ifn.pretrained"
            )
        budget = c.scoring.get("memory_budget_mb")
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int | float) or budget <= 0):
            raise ConfigError(
                f"model_config.asymnet.scoring.memory_budget_mb={budget!r}; give a size in MB above 0, or null"
            )
        self.memory_budget_mb = float(budget) if budget is not None else None

    # -- phases -----------------------------------------------------------------------------
    def current_phase(self) -> str:
        """pretrain | ssn | fusion | alternate (Alg. 1, both every update) | joint (baselines without fusion nodes)."""
        trainer = getattr(self, "_trainer", None)
        total = int(trainer.max_steps) if trainer is not None and trainer.max_steps and trainer.max_steps > 0 else 1
        phase = self.schedule.at(self.global_step / total)
        if self.fusion != "tree" and phase != "pretrain":
            return "joint"  # baselines without fusion nodes train in one step
        return phase

    def progress_label(self) -> str | None:
        """The phase being trained (ssn, then fusion with phase=both) for the progress bar."""
        return f"phase {self.current_phase()}"

    def selectable_as_best(self) -> bool:
        """Only the model being trained for retrieval competes for best.ckpt: never one with an untrained
        similarity network (phase pretrain) or, with phase both, with untrained gates."""
        phase = self.current_phase()
        return phase != "pretrain" and not (self.phase == "both" and self.fusion == "tree" and phase == "ssn")

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
    def _ifn_frozen(self, phase: str) -> bool:
        return self.freeze_ifn_after_pretraining and phase != "pretrain"

    def _frozen_or_trained(self, images: torch.Tensor, frozen: bool) -> torch.Tensor:
        if not frozen:
            return self.encode_images(images)
        self.ifn.eval()
        with torch.no_grad():
            return self.encode_images(images)

    def _pair_outputs(self, sample_list: SampleList, phase: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Leaf logits z [n, P, W, L], fc1 features x [n, P, W, L, D] and labels [n, P] for every pair:
        the items' 2S shop images, then with `hard_negatives` the batch's hardest other-product images."""
        video, images, labels = sample_list.video, sample_list.images, sample_list.labels.float()
        n, pairs = images.shape[:2]
        frozen = self._ifn_frozen(phase)
        image_features = self.encode_gallery(self._frozen_or_trained(images, frozen))  # [n, 2S, E]
        if self.approximate_training:
            states = self.encode_trajectories(self._frozen_or_trained(video, frozen))  # [n, W, L, D], once
            query = self.ssn.state_projection(states)  # [n, W, L, H]
            gallery = self.ssn.image_projection(image_features)  # [n, 2S, H]
            if self.hard_negatives:
                gallery, labels = self._with_hard_negatives(query, gallery, labels, sample_list)
            features, logits = self.ssn.from_preactivation(query[:, None] + gallery[:, :, None, None])
            return logits, features, labels
        repeated = video[:, None].expand(-1, pairs, *video.shape[1:]).reshape(n * pairs, *video.shape[1:])
        states = self.encode_trajectories(self._frozen_or_trained(repeated, frozen))  # encoded again per pair
        states = states.view(n, pairs, *states.shape[1:])
        expanded = image_features[:, :, None, None, :].expand(*states.shape[:-1], -1)
        features, logits = self.ssn(states, expanded)
        return logits, features, labels

    def _with_hard_negatives(
        self, query: torch.Tensor, gallery: torch.Tensor, labels: torch.Tensor, sample_list: SampleList
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Append to each item's image pre-activations the `hard_negatives` other-product shop images of the
        batch it scores highest now (their gradients flow as any pair's)."""
        n, pairs, width = gallery.shape
        ids = [str(p) for p in sample_list.product_id] if "product_id" in sample_list else [str(i) for i in range(n)]
        flat = gallery.reshape(n * pairs, width)
        with torch.no_grad():
            pre = query.mean((1, 2))[:, None] + flat[None]  # [n, n * 2S, H]: mean state, cheap and enough to rank
            scores = self.ssn.from_preactivation(pre)[1].view(n, n, pairs)
        positions = hard_negative_positions(scores, labels, ids, self.hard_negatives)  # [n, k]
        own_negative = torch.arange(n, device=gallery.device)[:, None] * pairs + labels.argmin(1, keepdim=True)
        positions = torch.where(positions < 0, own_negative, positions)  # too few candidates: repeat an own one
        hard = flat[positions]  # [n, k, H]
        return torch.cat([gallery, hard], dim=1), torch.cat([labels, labels.new_zeros(positions.shape)], dim=1)

    def _pretraining_output(self, sample_list: SampleList) -> dict[str, Any]:
        """Phase pretrain: the IFN (and a projection head used only here) by the metric-learning objective."""
        video, images = sample_list.video, sample_list.images
        n, frames, pairs = video.shape[0], video.shape[1], images.shape[1]
        self.ifn.train()
        features = self.ifn(torch.cat([video.flatten(0, 1), images.flatten(0, 1)]))  # one Siamese pass
        embeddings = F.normalize(self.pretrain_head(features), dim=-1)
        frame_embeddings = embeddings[: n * frames].view(n, frames, -1)
        image_embeddings = embeddings[n * frames :].view(n, pairs, -1)
        ids = [str(p) for p in sample_list.product_id] if "product_id" in sample_list else [str(i) for i in range(n)]
        loss = self.pretraining(frame_embeddings, image_embeddings, sample_list.labels.float(), ids)
        scores = (frame_embeddings @ image_embeddings.transpose(1, 2)).mean(1)
        return {"scores": scores.detach(), "losses": {"ifn_pretraining_loss": loss}}

    def _fusion_nll(self, logits: torch.Tensor, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Eq. 9's negative log-likelihood per pair and window, for the gates only (inputs come detached)."""
        flat_labels = labels[:, :, None].expand(*logits.shape[:-1]).reshape(-1)
        log_likelihood = mixture_log_likelihood(
            self.tree,
            torch.sigmoid(logits).reshape(-1, logits.shape[-1]),
            features.reshape(-1, *features.shape[-2:]),
            flat_labels,
        )
        return -log_likelihood / flat_labels.numel()

    def training_output(self, sample_list: SampleList) -> dict[str, Any]:
        phase = self.current_phase()
        pairs = sample_list.images.shape[1]
        if phase == "pretrain":
            return self._pretraining_output(sample_list)
        if phase == "fusion":
            for module in self._encoders():
                module.eval()
            with torch.no_grad():
                logits, features, labels = self._pair_outputs(sample_list, phase)
            loss = self._fusion_nll(logits, features, labels)
            scores = self.tree(torch.sigmoid(logits), features).mean(-1)
            return {"scores": scores[:, :pairs], "losses": {"fusion_nll": loss}}
        for module in self._encoders():
            module.train()
        logits, features, labels = self._pair_outputs(sample_list, phase)
        if phase in ("ssn", "alternate") or self.fusion in ("avg", "max", "last"):
            losses = pair_loss(logits, labels, self.pair_loss)  # Eq. 5 (and / or ranking) over every leaf
            if phase == "alternate":  # Alg. 1: the fusion nodes learn from this iteration's SSN outputs too
                losses["fusion_nll"] = self._fusion_nll(logits.detach(), features.detach(), labels)
            scores = self.fuse(logits, features).mean(-1)
            return {"scores": scores[:, :pairs].detach(), "losses": losses}
        fused = self.fuse(logits, features).mean(-1).clamp(1e-6, 1 - 1e-6)  # kvm: loss on the fused score
        return {"scores": fused[:, :pairs], "losses": {"fused_log_loss": F.binary_cross_entropy(fused, labels)}}

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
        shortlist = ShortlistSettings.from_config(self.config.shortlist)
        if shortlist is not None and windows > 1:
            raise ConfigError(
                f"model_config.asymnet.shortlist.enabled=true needs one window per query, and these queries have "
                f"{windows} (more frames than the {self.num_leaves} leaves); set the dataset's num_frames to "
                f"{self.num_leaves} or disable the shortlist"
            )
        return search(
            self,
            query_states.to(self.device),
            gallery_features.to(self.device),
            shortlist=shortlist,
            query_embeddings=query_embedding.to(self.device),
            memory_budget_mb=self.memory_budget_mb,
        )
