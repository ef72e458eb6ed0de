"""Fisher vector and VLAD encodings of sets of IFN features (paper Sec. 6.2, the Fig. 3 baselines).

The paper learns a PCA, a GMM (FV, 256 components) and k-means centres (VLAD, 256) offline on
about 18,000 sampled clothing regions, then encodes the CNN features of trajectories and shop
images and scores them with one single similarity network. Here the IFN trains end to end, so
codebooks fitted once on its initial features would go stale as it learns. Choice:
- when training starts, PCA and k-means are fitted with FAISS on IFN features of sampled training
  regions (`fit_samples` frames and shop images); the FV's diagonal GMM is refined from the k-means
  solution by a few EM steps;
- they are then kept as parameters of soft-assignment encoders (NetVLAD / NetFV style: the
  assignments are softmaxes of the same distances and posteriors), so gradients move PCA and
  codebooks with the IFN. A `fitted` buffer travels with checkpoints, so resuming never refits.

Descriptors are one IFN feature per clothing region, as in the paper: a trajectory is the set of
its T frame features, a shop image a set of one (the paper pooled several detector proposals of a
shop image; our items have one box). With soft assignment a single descriptor still spreads over
its nearest centres. The SSN's fc1 reads the encoding directly: its image half (B m) is already
the linear map to the SSN's hidden size, so no extra projection is added.

Normalisation (`normalise`). The usual FV / VLAD post-processing is available (`true`):
intra-normalisation (per centre, or per FV block; damped so an empty block stays near zero),
signed power and L2, scaled by sqrt(dim) so entries have unit RMS. Trained end to end with the
SSN it collapsed to a constant score (test median rank 50.5 of 100, chance) on the synthetic data
after 300 updates, for both encodings, while the same encoders without it reached test top-1
11% (VLAD) and 8% (FV), as average pooling (9%); so the default (`false`) feeds the raw
statistics: the FV gradients (already means over the set) and the VLAD residuals averaged over
the set, so a trajectory and a single image share one scale.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from mmf_ext.utils.errors import ConfigError
from video2shop.retrieval.faiss_threads import faiss

logger = logging.getLogger("mmf_ext")
ENCODINGS = ("fisher_vector", "vlad")


def signed_power(values: torch.Tensor, power: float, eps: float = 1e-6) -> torch.Tensor:
    """sign(v) |v|^p, shifted so 0 maps to 0 with a bounded gradient there (p < 1 is infinite at 0)."""
    if power == 1.0:
        return values
    return torch.sign(values) * ((values.abs() + eps) ** power - eps**power)


def normalise_encoding(blocks: torch.Tensor, power: float, intra_eps: float | torch.Tensor = 0.0) -> torch.Tensor:
    """[B, R, P] raw blocks -> [B, R * P]: intra-normalise each block, signed power, global L2.

    Intra-normalisation divides a block by sqrt(|v|^2 + eps^2): blocks holding descriptors become
    unit vectors as usual, while a block with (almost) no assignment mass stays (almost) zero, as
    an empty cluster does in hard-assignment VLAD. With eps = 0 a soft-assigned block of mass 1e-6
    would be blown up to a unit vector pointing from its far centre at the descriptor.
    """
    out = blocks / torch.sqrt(blocks.pow(2).sum(-1, keepdim=True) + torch.as_tensor(intra_eps) ** 2 + 1e-24)
    out = signed_power(out, power)
    return F.normalize(out.flatten(1), dim=-1)


def fit_pca(features: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """FAISS PCA of [M, E] features -> (A [dim, E], b [dim]) with y = A x + b."""
    pca = faiss.PCAMatrix(features.shape[1], dim)
    pca.train(features)
    matrix = faiss.vector_to_array(pca.A).reshape(-1, features.shape[1])[:dim]
    return matrix.astype(np.float32), faiss.vector_to_array(pca.b)[:dim].astype(np.float32)


def fit_kmeans(features: np.ndarray, clusters: int, seed: int, iterations: int = 25) -> np.ndarray:
    """FAISS k-means of [M, D] features -> centroids [K, D]."""
    if len(features) < clusters:
        raise ConfigError(
            f"encoding: {len(features)} samples cannot fit {clusters} clusters; raise encoding.fit_samples"
        )
    kmeans = faiss.Kmeans(
        features.shape[1], clusters, niter=iterations, seed=seed, verbose=False, min_points_per_centroid=1
    )
    kmeans.train(np.ascontiguousarray(features, dtype=np.float32))
    return np.asarray(kmeans.centroids, dtype=np.float32).reshape(clusters, -1)


def fit_diagonal_gmm(
    features: torch.Tensor, means: torch.Tensor, iterations: int, floor_ratio: float = 1e-3
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """EM for a diagonal GMM started from k-means centres -> (log weights [K], means [K, D], variances [K, D]).

    The variance floor is `floor_ratio` times the mean feature variance, so a component that
    captures a single point does not collapse.
    """
    x = features.double()
    mu = means.double().clone()
    floor = float(x.var(0).mean()) * floor_ratio + 1e-12
    nearest = torch.cdist(x, mu).argmin(1)
    resp = F.one_hot(nearest, mu.shape[0]).double()  # k-means assignments start the M step
    log_weights = var = None
    for step in range(iterations + 1):
        counts = resp.sum(0) + 1e-10
        mu = (resp.t() @ x) / counts[:, None]
        var = ((resp.t() @ (x * x)) / counts[:, None] - mu * mu).clamp_min(floor)
        log_weights = torch.log(counts / counts.sum())
        if step == iterations:
            break
        resp = torch.softmax(_gaussian_log_joint(x, log_weights, mu, var), dim=1)
    return log_weights.float(), mu.float(), var.float()


def _gaussian_log_joint(
    x: torch.Tensor, log_weights: torch.Tensor, means: torch.Tensor, var: torch.Tensor
) -> torch.Tensor:
    """log pi_k + log N(x; mu_k, diag var_k) for x [..., D] -> [..., K]."""
    inv = 1.0 / var
    quad = (x * x) @ inv.t() - 2 * x @ (means * inv).t() + (means * means * inv).sum(-1)
    log_det = torch.log(var).sum(-1)
    return log_weights - 0.5 * (quad + log_det + x.shape[-1] * math.log(2 * math.pi))


class SetEncoding(nn.Module):
    """A set of descriptors [B, N, E] -> one normalised vector [B, output_dim]; PCA first."""

    sums_over_set = False  # VLAD sums residuals over the set; the FV statistics are already means

    def __init__(
        self, input_dim: int, num_clusters: int, pca_dim: int | None, power: float = 0.5, normalise: bool = False
    ) -> None:
        super().__init__()
        if num_clusters < 1:
            raise ConfigError(f"encoding.num_clusters={num_clusters} must be positive")
        if pca_dim is not None and not 1 <= pca_dim <= input_dim:
            raise ConfigError(f"encoding.pca_dim={pca_dim} must be between 1 and the IFN feature size {input_dim}")
        self.input_dim = input_dim
        self.descriptor_dim = int(pca_dim) if pca_dim is not None else input_dim
        self.num_clusters = int(num_clusters)
        self.power = float(power)
        self.normalise = bool(normalise)
        self.pca = nn.Linear(input_dim, self.descriptor_dim) if pca_dim is not None else None
        self.register_buffer("fitted", torch.zeros((), dtype=torch.bool))
        self.register_buffer("intra_eps", torch.tensor(1e-3))  # set from the data by fit()

    @property
    def output_dim(self) -> int:
        raise NotImplementedError

    def aggregate(self, descriptors: torch.Tensor) -> torch.Tensor:
        """PCA'd descriptors [B, N, D] -> raw blocks [B, R, D] before normalisation."""
        raise NotImplementedError

    def fit_codebook(self, descriptors: torch.Tensor, seed: int) -> None:
        raise NotImplementedError

    def project(self, features: torch.Tensor) -> torch.Tensor:
        return self.pca(features) if self.pca is not None else features

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """[B, N, E] -> [B, output_dim]: raw mean statistics, or normalised to L2 norm sqrt(output_dim)."""
        blocks = self.aggregate(self.project(features))
        if not self.normalise:  # raw statistics, as means, so a trajectory and a single image share a scale
            return (blocks / features.shape[1] if self.sums_over_set else blocks).flatten(1)
        return normalise_encoding(blocks, self.power, self.intra_eps) * math.sqrt(self.output_dim)

    @torch.no_grad()
    def fit(self, features: torch.Tensor, seed: int = 0) -> None:
        """Fit PCA and the codebook on IFN features [M, E] (FAISS), then mark the encoder fitted."""
        array = np.ascontiguousarray(features.detach().float().cpu().numpy())
        if self.pca is not None:
            matrix, bias = fit_pca(array, self.descriptor_dim)
            self.pca.weight.copy_(torch.from_numpy(matrix))
            self.pca.bias.copy_(torch.from_numpy(bias))
            array = array @ matrix.T + bias
        descriptors = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))
        self.fit_codebook(descriptors, seed)
        # intra eps: a tenth of a single region's largest block (median over the fit regions)
        device = self.intra_eps.device
        blocks = torch.cat(
            [self.aggregate(chunk[:, None].to(device)).norm(dim=-1).amax(1) for chunk in descriptors.split(1024)]
        )
        self.intra_eps.fill_(0.1 * float(blocks.median()))
        self.fitted.fill_(True)


class SoftVLAD(SetEncoding):
    """VLAD with soft assignment: V_k = sum_i a_k(x_i) (x_i - c_k), a = softmax_k(-alpha ||x - c_k||^2).

    As alpha grows this is Jegou et al.'s hard-assignment VLAD; alpha is learned (log-parametrised)
    and its start is set from the data so the nearest centre outweighs the second by 100 at the median.
    """

    sums_over_set = True

    def __init__(
        self, input_dim: int, num_clusters: int, pca_dim: int | None, power: float = 0.5, normalise: bool = False
    ) -> None:
        super().__init__(input_dim, num_clusters, pca_dim, power, normalise)
        self.centers = nn.Parameter(torch.randn(self.num_clusters, self.descriptor_dim) * 0.1)
        self.log_alpha = nn.Parameter(torch.zeros(()))

    @property
    def output_dim(self) -> int:
        return self.num_clusters * self.descriptor_dim

    def assignments(self, descriptors: torch.Tensor) -> torch.Tensor:
        """[B, N, D] -> soft assignments [B, N, K]."""
        squared = (descriptors.unsqueeze(-2) - self.centers).pow(2).sum(-1)
        return torch.softmax(-self.log_alpha.exp() * squared, dim=-1)

    def aggregate(self, descriptors: torch.Tensor) -> torch.Tensor:
        weights = self.assignments(descriptors)  # [B, N, K]
        return weights.transpose(1, 2) @ descriptors - weights.sum(1).unsqueeze(-1) * self.centers

    def fit_codebook(self, descriptors: torch.Tensor, seed: int) -> None:
        centers = torch.from_numpy(fit_kmeans(descriptors.numpy(), self.num_clusters, seed))
        self.centers.copy_(centers)
        if self.num_clusters > 1:
            nearest_two = torch.cdist(descriptors, centers).pow(2).topk(2, dim=1, largest=False).values
            gap = float((nearest_two[:, 1] - nearest_two[:, 0]).median())
            self.log_alpha.fill_(math.log(math.log(100.0) / gap) if gap > 0 else 0.0)


class SoftFisherVector(SetEncoding):
    """Fisher vector of a diagonal GMM (Perronnin & Dance; Sanchez et al.), posteriors kept soft.

    Blocks per component k, over N descriptors with posteriors g_ik:
    G_mu_k = sum_i g_ik (x_i - mu_k) / sigma_k / (N sqrt(pi_k)),
    G_sigma_k = sum_i g_ik ((x_i - mu_k)^2 / sigma_k^2 - 1) / (N sqrt(2 pi_k)); 2K blocks of D.
    """

    def __init__(
        self,
        input_dim: int,
        num_clusters: int,
        pca_dim: int | None,
        power: float = 0.5,
        normalise: bool = False,
        em_iterations: int = 10,
    ) -> None:
        super().__init__(input_dim, num_clusters, pca_dim, power, normalise)
        self.em_iterations = int(em_iterations)  # EM steps of the GMM fit, started from k-means
        self.means = nn.Parameter(torch.randn(self.num_clusters, self.descriptor_dim) * 0.1)
        self.log_variances = nn.Parameter(torch.zeros(self.num_clusters, self.descriptor_dim))
        self.weight_logits = nn.Parameter(torch.zeros(self.num_clusters))

    @property
    def output_dim(self) -> int:
        return 2 * self.num_clusters * self.descriptor_dim

    def posteriors(self, descriptors: torch.Tensor) -> torch.Tensor:
        """[B, N, D] -> GMM posteriors [B, N, K]."""
        log_weights = torch.log_softmax(self.weight_logits, dim=0)
        return torch.softmax(
            _gaussian_log_joint(descriptors, log_weights, self.means, self.log_variances.exp()), dim=-1
        )

    def aggregate(self, descriptors: torch.Tensor) -> torch.Tensor:
        gamma = self.posteriors(descriptors)  # [B, N, K]
        count = descriptors.shape[1]
        weights = torch.softmax(self.weight_logits, dim=0)
        sigma = (0.5 * self.log_variances).exp()
        s0 = gamma.sum(1).unsqueeze(-1)  # [B, K, 1]
        s1 = gamma.transpose(1, 2) @ descriptors  # [B, K, D]
        s2 = gamma.transpose(1, 2) @ (descriptors * descriptors)
        mu = self.means
        g_mu = (s1 - s0 * mu) / sigma / (count * weights.sqrt()[:, None])
        g_sigma = ((s2 - 2 * mu * s1 + mu * mu * s0) / (sigma * sigma) - s0) / (count * (2 * weights).sqrt()[:, None])
        return torch.cat([g_mu, g_sigma], dim=1)  # [B, 2K, D]

    def fit_codebook(self, descriptors: torch.Tensor, seed: int) -> None:
        iterations = self.em_iterations
        centers = torch.from_numpy(fit_kmeans(descriptors.numpy(), self.num_clusters, seed))
        log_weights, means, variances = fit_diagonal_gmm(descriptors, centers, iterations)
        self.means.copy_(means)
        self.log_variances.copy_(variances.log())
        self.weight_logits.copy_(log_weights)


def build_encoding(kind: str, input_dim: int, config: Any) -> SetEncoding:
    """`fisher_vector` or `vlad` from the model's `encoding:` config section (asymnet's defaults)."""
    args = (
        input_dim,
        int(config.num_clusters),
        int(config.pca_dim) if config.pca_dim is not None else None,
        float(config.power),
        bool(config.normalise),
    )
    if kind == "vlad":
        return SoftVLAD(*args)
    if kind == "fisher_vector":
        return SoftFisherVector(*args, em_iterations=int(config.em_iterations))
    raise ConfigError(f"encoding {kind!r} is unknown; choose {', '.join(ENCODINGS)}")


# -- fitting on training data ------------------------------------------------------------------
@torch.no_grad()
def region_features(
    ifn: nn.Module, dataset: Any, samples: int, seed: int, device: torch.device, chunk: int = 128
) -> torch.Tensor:
    """IFN features [M, E] of about `samples` clothing regions (trajectory frames and shop images)
    from randomly chosen training items.

    The IFN runs in training mode, as it will when it meets these features, and its BatchNorm
    running statistics are restored afterwards so fitting leaves no trace on the model.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(dataset))
    regions: list[torch.Tensor] = []
    total = 0
    for index in order:
        item = dataset[int(index)]
        for key in ("video", "images"):
            value = item.get(key)
            if value is not None:
                regions.append(value)
                total += value.shape[0]
        if total >= samples:
            break
    if not regions:
        raise ConfigError("encoding: the training split gave no frames or shop images to fit the codebooks on")
    images = torch.cat(regions)[:samples]
    buffers = {name: value.clone() for name, value in ifn.named_buffers()}
    was_training = ifn.training
    ifn.train()
    try:
        features = torch.cat(
            [ifn(images[s : s + chunk].to(device)).float().cpu() for s in range(0, len(images), chunk)]
        )
    finally:
        for name, value in ifn.named_buffers():
            value.copy_(buffers[name])
        ifn.train(was_training)
    return features


def fit_on_training_regions(encoding: SetEncoding, ifn: nn.Module, trainer: Any, config: Any) -> None:
    """Fit an unfitted encoder on IFN features of sampled training regions (called when training starts)."""
    if bool(encoding.fitted):
        return
    datamodule = getattr(trainer, "datamodule", None)
    dataset = datamodule.get_dataset("train") if datamodule is not None else None
    if dataset is None:
        logger.warning("encoding: no training dataset to fit PCA and codebooks on; keeping their initial values")
        return
    seed = int(config.seed)
    device = next(ifn.parameters()).device
    features = region_features(ifn, dataset, int(config.fit_samples), seed, device)
    encoding.fit(features, seed)
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        for parameter in encoding.parameters():  # every rank encodes with rank 0's PCA and codebook
            torch.distributed.broadcast(parameter.data, src=0)
    logger.info(
        "encoding: fitted %s (PCA %s, %d clusters) on %d training regions",
        type(encoding).__name__,
        encoding.descriptor_dim if encoding.pca is not None else "none",
        encoding.num_clusters,
        len(features),
    )
