"""Features of a frozen encoder over a whole dataset, in batches, without gradients."""
from __future__ import annotations

from typing import Callable

import torch

from ..train.loop import autocast_for


@torch.no_grad()
def extract_features(encoder: Callable[[torch.Tensor], torch.Tensor], images: torch.Tensor,
                     transform: Callable | None = None, batch_size: int = 1024,
                     amp: bool | str = "auto") -> torch.Tensor:
    """``encoder(transform(images[k:k+b]))`` for all batches, as float32 ``(N, D)`` on the images' device."""
    was_training = getattr(encoder, "training", False)
    if hasattr(encoder, "eval"):
        encoder.eval()
    out = []
    try:
        for k in range(0, len(images), batch_size):
            x = images[k:k + batch_size]
            if transform is not None:
                x = transform(x)
            with autocast_for(images.device, amp):
                out.append(encoder(x).float())
    finally:
        if was_training:
            encoder.train()
    return torch.cat(out) if out else torch.zeros(0)


PROJECTIONS = ("pca", "tsne")


def project_2d(features, method: str = "tsne", seed: int = 0, perplexity: float = 30.0):
    """``(N, D)`` features -> ``(N, 2)`` float64 numpy points, by scikit-learn's PCA or t-SNE.

    t-SNE starts from the PCA projection (``init="pca"``) with ``perplexity`` capped below N, and
    ``seed`` fixes both; PCA is deterministic up to the sign of each axis, fixed here so that the
    largest-magnitude loading of each component is positive.
    """
    import numpy as np

    if method not in PROJECTIONS:
        raise ValueError(f"unknown projection {method!r}; valid: {', '.join(PROJECTIONS)}")
    x = features.detach().cpu().double().numpy() if torch.is_tensor(features) else np.asarray(features, np.float64)
    if x.ndim != 2 or len(x) < 3:
        raise ValueError(f"features must have shape (N, D) with N >= 3, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("features contain NaN or inf")
    if np.linalg.matrix_rank(x - x.mean(0)) < 2:        # t-SNE's PCA start divides by the spread
        raise ValueError("features span fewer than 2 dimensions (e.g. every row is the same): nothing to project "
                         "to 2-d; a collapsed embedding?")
    if method == "pca":
        from sklearn.decomposition import PCA

        pca = PCA(n_components=2, random_state=seed).fit(x)
        signs = np.sign(pca.components_[np.arange(2), np.abs(pca.components_).argmax(1)])
        return pca.transform(x) * signs
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, perplexity=min(perplexity, (len(x) - 1) / 3), init="pca", random_state=seed
                ).fit_transform(x)
