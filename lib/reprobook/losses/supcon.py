r"""Supervised contrastive loss (Khosla et al., NeurIPS 2020, arXiv 2004.11362).

Book: book/05-supcon. Official code: HobbitLong/SupContrast ``losses.py`` (``SupConLoss``),
and google-research ``supcon`` (the two forms, L_out and L_in).

For a batch of B samples with V views each, the 2B (VB) embeddings are indexed by i ∈ I;
A(i) = I \ {i} are the candidates of anchor i and P(i) = {p ∈ A(i): y_p = y_i} its positives.
"""
from __future__ import annotations

import torch
from torch import nn

from ..train.distributed import all_gather_no_grad, all_gather_with_grad, rank_and_world
from ._checks import as_labels, check_features, check_normalized, check_number

FORMS = ("out", "in")
CONTRAST_MODES = ("all", "one")


def supcon_terms(anchor: torch.Tensor, anchor_labels: torch.Tensor, anchor_index: torch.Tensor,
                 contrast: torch.Tensor, contrast_labels: torch.Tensor, tau: float,
                 form: str = "out") -> torch.Tensor:
    r"""Per-anchor losses ``(N_a,)`` of Eq. (2) (``form="out"``) or Eq. (3) (``form="in"``):

    .. math:: \mathcal{L}^{out}_i = \frac{-1}{|P(i)|}\sum_{p\in P(i)}
              \log\frac{\exp(z_i\cdot z_p/\tau)}{\sum_{a\in A(i)}\exp(z_i\cdot z_a/\tau)},\qquad
              \mathcal{L}^{in}_i = -\log\Big\{\frac{1}{|P(i)|}\sum_{p\in P(i)}
              \frac{\exp(z_i\cdot z_p/\tau)}{\sum_{a\in A(i)}\exp(z_i\cdot z_a/\tau)}\Big\}

    * ``anchor`` ``(N_a, D)`` with labels ``(N_a,)`` and ``anchor_index`` ``(N_a,)``: the row of
      each anchor in ``contrast`` (excluded from its own A(i));
    * ``contrast`` ``(N_c, D)`` with labels ``(N_c,)``: every embedding of the (global) batch.

    Anchors without positives get loss 0 (the official code's convention since its Dec 2023 fix:
    they are not NaN, and still count in the batch mean).
    """
    logits = anchor @ contrast.T / tau                                     # (N_a, N_c)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()                                            # softmax in fp32
    self_mask = torch.zeros_like(logits, dtype=torch.bool)
    self_mask[torch.arange(len(anchor), device=anchor.device), anchor_index] = True
    logits = logits.masked_fill(self_mask, float("-inf"))                  # a ∈ A(i) = I \ {i}
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)       # log softmax over A(i)
    pos = (anchor_labels[:, None] == contrast_labels[None, :]) & ~self_mask  # P(i)
    n_pos = pos.sum(1)
    has_pos = n_pos > 0
    if form == "out":
        summed = torch.where(pos, log_prob, torch.zeros_like(log_prob)).sum(1)
        loss = -summed / n_pos.clamp_min(1)
    elif form == "in":
        lse = torch.logsumexp(log_prob.masked_fill(~pos, float("-inf")), dim=1)
        loss = -(lse - torch.log(n_pos.clamp_min(1).to(lse.dtype)))
    else:
        raise ValueError(f"unknown form {form!r}; valid: {', '.join(FORMS)}")
    return torch.where(has_pos, loss, torch.zeros_like(loss))


def _view_major(features: torch.Tensor) -> torch.Tensor:
    """``(B, V, D) -> (V*B, D)``: all first views, then all second views (as SupContrast)."""
    return torch.cat(features.unbind(dim=1), dim=0)


class SupConLoss(nn.Module):
    r"""The supervised contrastive loss of Khosla et al. (2020), as the official ``SupConLoss``.

    ``forward(features, labels=None)`` with ``features`` ``(B, V, D)`` (L2-normalised, V views
    per sample) and integer ``labels`` ``(B,)``. Without labels the positives of an anchor are
    its other views only: the SimCLR / NT-Xent loss. The loss is the mean over anchors of the
    per-anchor loss (Eq. 2 ``form="out"``, recommended; Eq. 3 ``form="in"``) times
    ``tau / base_tau`` (the official scaling, 1 by default).

    ``contrast_mode="all"`` uses every view as an anchor; ``"one"`` only the first view (the
    contrast set is always every view). With ``gather=True`` under ``torch.distributed``,
    features and labels are all-gathered with gradient (each rank's anchors against the whole
    global batch), so the loss equals the single-process loss on the concatenated batch.
    """

    def __init__(self, tau: float = 0.07, base_tau: float | None = None, form: str = "out",
                 contrast_mode: str = "all", gather: bool = True):
        super().__init__()
        check_number(tau, "tau", positive=True)
        if base_tau is not None:
            check_number(base_tau, "base_tau", positive=True)
        if form not in FORMS:
            raise ValueError(f"unknown form {form!r}; valid: {', '.join(FORMS)}")
        if contrast_mode not in CONTRAST_MODES:
            raise ValueError(f"unknown contrast_mode {contrast_mode!r}; valid: {', '.join(CONTRAST_MODES)}")
        self.tau, self.base_tau = tau, tau if base_tau is None else base_tau
        self.form, self.contrast_mode, self.gather = form, contrast_mode, gather

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None,
                check: bool = True) -> torch.Tensor:
        check_features(features, "features", ndim=3, values=check)
        if check:
            check_normalized(features, "features")
        B, V, D = features.shape
        if V < 1 or (V == 1 and labels is None):
            raise ValueError(f"features must be (B, V, D) with V >= 2 views when labels is None, got V = {V}")
        if labels is not None:
            labels = as_labels(labels, B, features.device)
        rank, world = rank_and_world() if self.gather else (0, 1)
        ids = torch.arange(B, device=features.device) + rank * B            # sample ids in the global batch
        if labels is None:
            labels = ids                                                     # SimCLR: positives = own views
        all_features = all_gather_with_grad(features) if world > 1 else features   # (W*B, V, D)
        all_labels = all_gather_no_grad(labels) if world > 1 else labels
        NB = all_features.shape[0]
        contrast = _view_major(all_features)                                 # (V*NB, D)
        contrast_labels = all_labels.repeat(V)
        if self.contrast_mode == "all":
            anchor, anchor_views = _view_major(features), V                  # local anchors (V*B, D)
        else:
            anchor, anchor_views = features[:, 0], 1                         # (B, D)
        view = torch.arange(anchor_views, device=features.device).repeat_interleave(B)
        anchor_index = view * NB + ids.repeat(anchor_views)                  # row of each anchor in contrast
        terms = supcon_terms(anchor, labels.repeat(anchor_views), anchor_index, contrast, contrast_labels,
                             self.tau, self.form)
        return (self.tau / self.base_tau) * terms.mean()


def supcon_loss(features: torch.Tensor, labels: torch.Tensor | None = None, tau: float = 0.07,
                base_tau: float | None = None, form: str = "out", contrast_mode: str = "all") -> torch.Tensor:
    """Functional form of :class:`SupConLoss` (single process)."""
    return SupConLoss(tau, base_tau, form, contrast_mode, gather=False)(features, labels)
