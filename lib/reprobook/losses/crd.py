r"""Contrastive Representation Distillation (Tian, Krishnan, Isola, ICLR 2020, arXiv 1910.10699).

Official code: HobbitLong/RepDistiller ``crd/criterion.py`` (``CRDLoss``, ``ContrastLoss``,
``Embed``) and ``crd/memory.py`` (``ContrastMemory``).

The student's and the teacher's penultimate features (``feat[-1]`` of ``model(x, is_feat=True)``)
are embedded by :class:`Embed`, :math:`g^S(s), g^T(t)` (a linear map to 128-d, then L2
normalisation; **both** trained with the student). With ``M`` the number of training samples
and ``N`` (here ``K``) negatives per positive, the critic is

.. math:: h(T, S) = \frac{\exp(g^T(t)^\top g^S(s)/\tau)}{\exp(g^T(t)^\top g^S(s)/\tau) + N/M},

and CRD maximises the NCE lower bound on the mutual information of teacher and student
representations (the ``L_critic`` of Sec. 3; Eq. 18 in the official code's comments),

.. math:: \mathcal{L}_\mathrm{critic}(h) = \mathbb{E}_{q(T,S|C=1)}[\log h(T,S)]
          + N\,\mathbb{E}_{q(T,S|C=0)}[\log(1 - h(T,S))].

As in the official code, :math:`\exp(\cdot/\tau)` is divided by a partition estimate
:math:`Z` (``Z = M * mean(exp(s))`` of the first batch) and the negatives' embeddings come from
two momentum memory banks (``M x 128``, momentum 0.5, ``tau = 0.07``, ``K = 16384``): the
**student anchor** is scored against the **teacher bank** and the **teacher anchor** against the
**student bank**, and the loss is the sum of the two NCE terms. That is exactly two-view CMC, so
:class:`CRDLoss` is :class:`~reprobook.losses.multiview.MultiviewContrast` with views
``[student embedding, teacher embedding]`` and the NCE criterion of :mod:`reprobook.losses.nce`
(which drops the official ``eps = 1e-7`` in the denominators; a relative change of < 1e-6 at
K/M = 0.33). The rows scored are the class-aware ``sample_idx`` of
:func:`reprobook.data.contrast_sampler.contrast_indices` (negatives never of the anchor's class);
without it they are uniform draws, as the official ``ContrastMemory`` when ``contrast_idx=None``.

Differences from the official code, all documented options:

* ``z_momentum=None`` (default) is the official one-shot partition estimate; a float gives the
  running estimate of :class:`~reprobook.losses.nce.PartitionEstimate`.
* The banks start L2-normalised (:class:`~reprobook.losses.nce.MemoryBank`); the official rows
  are uniform in ``[-stdv, stdv]`` with ``stdv = 1/sqrt(D/3)``, i.e. of norm about 1, not exactly 1.
"""
from __future__ import annotations

import torch
from torch import nn

from .multiview import MultiviewContrast


class Embed(nn.Module):
    """``x`` ``(B, ...)`` -> flattened -> ``Linear(dim_in, dim_out)`` -> L2-normalised ``(B, dim_out)``
    (``normalize=False``: CC's embedding, RepDistiller's ``LinearEmbed``)."""

    def __init__(self, dim_in: int, dim_out: int = 128, normalize: bool = True):
        super().__init__()
        if int(dim_in) < 1 or int(dim_out) < 1:
            raise ValueError(f"Embed needs dim_in >= 1 and dim_out >= 1, got {dim_in} -> {dim_out}")
        self.dim_in, self.dim_out, self.normalize = int(dim_in), int(dim_out), bool(normalize)
        self.linear = nn.Linear(self.dim_in, self.dim_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(x.shape[0], -1)
        if x.shape[1] != self.dim_in:
            raise ValueError(f"Embed expects {self.dim_in} input features per sample, got {x.shape[1]}")
        z = self.linear(x)                                                     # (B, dim_out)
        return nn.functional.normalize(z, dim=1) if self.normalize else z


class CRDLoss(nn.Module):
    """The CRD objective (module docstring), with the official defaults.

    ``forward(f_s, f_t, index, sample_idx=None, generator=None)``: ``f_s`` ``(B, s_dim)`` and
    ``f_t`` ``(B, t_dim)`` the pooled features, ``index`` ``(B,)`` the samples' rows in the banks
    (their dataset indices), ``sample_idx`` ``(B, 1 + K)`` the rows to score (positive first).
    Returns the scalar loss; ``self.stats`` keeps the last step's monitors (positive probability
    and log Z per direction, ``0`` the student, ``1`` the teacher).
    """

    def __init__(self, s_dim: int, t_dim: int, n_data: int, feat_dim: int = 128, K: int = 16384,
                 tau: float = 0.07, momentum: float = 0.5, z_momentum: float | None = None,
                 exclude_positive: bool = True, generator: torch.Generator | None = None):
        super().__init__()
        self.embed_s = Embed(s_dim, feat_dim)                 # student g^S
        self.embed_t = Embed(t_dim, feat_dim)                 # teacher g^T
        # banks[0] the student bank (official memory_v1), banks[1] the teacher bank (memory_v2)
        self.contrast = MultiviewContrast(2, n_data, dim=feat_dim, K=K, tau=tau, momentum=momentum,
                                          criterion="nce", graph="core", z_momentum=z_momentum,
                                          exclude_positive=exclude_positive, generator=generator)
        self.stats: dict[str, torch.Tensor] = {}

    @property
    def K(self) -> int:
        return self.contrast.K

    @property
    def n_data(self) -> int:
        return self.contrast.n_data

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor, index, sample_idx: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        if f_s.shape[0] != f_t.shape[0]:
            raise ValueError(f"student and teacher batches differ: {f_s.shape[0]} vs {f_t.shape[0]}")
        e_s, e_t = self.embed_s(f_s), self.embed_t(f_t)                       # (B, 128) each, unit norm
        # direction 0->1: student anchor vs teacher bank; 1->0: teacher anchor vs student bank
        loss, stats = self.contrast([e_s, e_t], index, generator=generator, sample_idx=sample_idx)
        self.stats = {k: v.detach() for k, v in stats.items()}
        return loss
