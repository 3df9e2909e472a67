r"""(Attentive) Neural Processes and the pooled MLP: the meta-learning baselines of Omnipush.

In the Omnipush benchmark a *task* is one object. Each task has context pushes
:math:`(x_i, y_i)_{i \in C}` and target pushes :math:`(x_j, y_j)_{j \in T}`, where :math:`x` is
the 3-d push parameters and :math:`y = (\Delta x, \Delta y, \Delta\theta)`. The official baselines
(MIT-Omnipush/omnipush-metalearning-baselines: ``network.py``, ``module.py``, ``omnipush_ANP.py``,
``omnipush_pooldata.py``) are re-implemented here; the code is our own.

Neural Process (Garnelo et al. 2018, "Neural Processes", Eq. 8-9; Kim et al. 2019, "Attentive
Neural Processes", arXiv 1901.05761, Eq. 3-4). The conditional predictive is

.. math:: p(y_T \mid x_T, x_C, y_C) = \int p(y_T \mid x_T, r_C, z)\, q(z \mid s_C)\, dz,

with a *deterministic path* :math:`r_C` (mean of per-pair encodings; or, in the ANP, cross-attention
from each target :math:`x_*` to the context :math:`x_C`, Kim et al. Sec. 3, Fig. 2), a *latent path*
:math:`s_C \to q(z \mid s_C) = \mathcal N(\mu, \operatorname{diag}\sigma^2)` and a decoder giving
a diagonal Gaussian over :math:`y`. Training maximises the ELBO (Kim et al. Eq. 4)

.. math:: \log p(y_T \mid x_T, x_C, y_C) \ge
          \mathbb E_{q(z \mid s_T)} \log p(y_T \mid x_T, r_C, z) - \mathrm{KL}(q(z \mid s_T) \,\|\, q(z \mid s_C)),

where, following the DeepMind / Omnipush convention, the *target set contains the context set*
("all" points), so :math:`q(z \mid s_T)` is the posterior given all points and the prior is
:math:`q(z \mid s_C)`. The loss returned by :class:`NeuralProcess` is the negative of a one-sample
estimate (z drawn by reparameterisation from the posterior).

Facts taken from the official code and how we follow them:

* hidden width 128 (``omnipush_ANP.py``: ``LatentModel(num_hidden=128)``), latent dim = hidden
  (``LatentEncoder(num_hidden, num_hidden)``);
* ANP (``network.LatentModel`` / ``module.py``): both the latent and the deterministic encoder
  project ``[x, y]`` linearly to ``hidden`` and apply **2 multi-head self-attention layers** (4
  heads) over the context pairs; the deterministic path then applies **2 cross-attention layers**
  with queries ``Linear(target_x)``, keys ``Linear(context_x)`` and values the self-attended pairs.
  Each attention block is ``LayerNorm(q + Linear([q, MHA(q, k, v)]))``, as in ``module.Attention``
  (we drop its dropout-0.1 so the model is deterministic given ``z``);
* latent encoder: mean over points, ``relu(Linear)``, then ``mu`` and
  ``sigma = 0.1 + 0.9 * sigmoid(.)`` (``module.LatentEncoder``; identical to DeepMind's ANP);
* decoder (``module.Decoder``): ``[r, z, Linear(target_x)]`` through 3 ReLU layers of the
  concatenated width, then a linear map to ``2 * y_dim`` split into mean and a std parameter.
  The official code uses ``std = exp(.)`` (unbounded); we default to DeepMind's bounded
  ``std = 0.1 + 0.9 * softplus(.)`` (``decoder_std="softplus"``) and offer ``decoder_std="exp"``
  for the official form;
* averaging (``network.LatentModel.forward``): ``nll = -mean`` of the per-element Gaussian
  log-density over ``(B, T, y_dim)``; ``kl`` is the per-latent-dimension KL **averaged** over
  ``(B, latent)`` (``kl_div(...).mean()``), and ``loss = nll + kl``. Note the official
  ``kl_div`` treats the pre-sigmoid ``log_sigma`` as a log-variance, which is inconsistent with the
  sigma it samples with; we use the exact KL of the two diagonal Gaussians actually used.

Non-attentive NP (``attention=False``): both encoders are MLPs on ``[x, y]`` followed by the mean
over points (Garnelo et al. Eq. 8, the permutation-invariant aggregator :math:`r = \frac1n\sum r_i`).

Pooled baseline (``omnipush_pooldata.py``, ``NeuralNet``): an MLP ``3 -> 256 -> 256 -> 256 -> 6``
trained on all pushes of all objects; the 6 outputs are split into mean and **log std** (the
official code uses ``Normal(mu, exp(log_std))``, not a log-variance), loss ``-mean log p``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

Tensor = torch.Tensor

__all__ = [
    "NPOutput",
    "NeuralProcess",
    "attentive_np",
    "MLPBaseline",
    "gaussian_log_likelihood",
    "rmse",
]


# --------------------------------------------------------------------------------------------
# metrics
# --------------------------------------------------------------------------------------------
def gaussian_log_likelihood(y: Tensor, mean: Tensor, std: Tensor, reduction: str = "mean") -> Tensor:
    r"""Log-density of ``y`` under :math:`\mathcal N(\text{mean}, \operatorname{diag} \text{std}^2)`
    per point: summed over the last (output) dimension, then averaged over all leading dims
    (``reduction="mean"``) or returned per point (``"none"``, shape ``y.shape[:-1]``).

    Per point this is :math:`\sum_d -\tfrac12 \log(2\pi\sigma_d^2) - (y_d-\mu_d)^2 / (2\sigma_d^2)`;
    the official scripts log ``mean(log_p) * y_dim``, which equals this per-point mean.
    """
    if not (y.shape == mean.shape == std.shape):
        raise ValueError(f"y, mean, std must have equal shapes, got {tuple(y.shape)}, "
                         f"{tuple(mean.shape)}, {tuple(std.shape)}")
    var = std * std
    elem = -0.5 * (math.log(2 * math.pi) + torch.log(var)) - (y - mean) ** 2 / (2 * var)
    per_point = elem.sum(dim=-1)
    if reduction == "none":
        return per_point
    if reduction == "mean":
        return per_point.mean()
    raise ValueError(f"reduction must be 'mean' or 'none', got {reduction!r}")


def rmse(y: Tensor, mean: Tensor) -> Tensor:
    """Root of the mean squared error over all elements (as ``sqrt(MSELoss)`` in the official
    scripts)."""
    if y.shape != mean.shape:
        raise ValueError(f"y and mean must have equal shapes, got {tuple(y.shape)} and {tuple(mean.shape)}")
    return torch.sqrt(((y - mean) ** 2).mean())


# --------------------------------------------------------------------------------------------
# building blocks
# --------------------------------------------------------------------------------------------
def _mlp(in_dim: int, hidden: int, layers: int) -> nn.Sequential:
    """``layers`` Linear maps ``in_dim -> hidden -> ... -> hidden`` with ReLU between them."""
    mods: list[nn.Module] = []
    d = in_dim
    for i in range(layers):
        mods.append(nn.Linear(d, hidden))
        if i < layers - 1:
            mods.append(nn.ReLU())
        d = hidden
    return nn.Sequential(*mods)


class AttentionBlock(nn.Module):
    """Multi-head dot-product attention with the official residual form (``module.Attention``):
    ``out = LayerNorm(q + W_o [q, MHA(q, k, v)])``. Shapes: q (B,Q,H), k and v (B,K,H) -> (B,Q,H)."""

    def __init__(self, hidden: int, heads: int = 4):
        super().__init__()
        if hidden % heads:
            raise ValueError(f"hidden ({hidden}) must be divisible by heads ({heads})")
        self.heads, self.head_dim = heads, hidden // heads
        self.wq = nn.Linear(hidden, hidden, bias=False)
        self.wk = nn.Linear(hidden, hidden, bias=False)
        self.wv = nn.Linear(hidden, hidden, bias=False)
        self.out = nn.Linear(2 * hidden, hidden)
        self.norm = nn.LayerNorm(hidden)

    def _split(self, t: Tensor) -> Tensor:  # (B,N,H) -> (B,heads,N,H/heads)
        b, n, _ = t.shape
        return t.view(b, n, self.heads, self.head_dim).transpose(1, 2)

    def forward(self, query: Tensor, key: Tensor, value: Tensor) -> Tensor:
        q, k, v = self._split(self.wq(query)), self._split(self.wk(key)), self._split(self.wv(value))
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.head_dim), dim=-1)  # (B,h,Q,K)
        ctx = (att @ v).transpose(1, 2).reshape(query.shape)                             # (B,Q,H)
        return self.norm(query + self.out(torch.cat([query, ctx], dim=-1)))


class DeterministicEncoder(nn.Module):
    """Deterministic path ``r``. Returns (B,T,H): one representation per target point.

    ``attention=False``: r_i = MLP([x_i, y_i]) (B,C,H), mean over C, broadcast to T (Garnelo Eq. 8).
    ``attention=True``: Linear([x, y]) + 2 self-attention layers over the pairs (B,C,H), then
    2 cross-attention layers, queries Linear(target_x) (B,T,H), keys Linear(context_x) (B,C,H)
    (Kim et al. Sec. 3; official ``module.DeterministicEncoder``).
    """

    def __init__(self, x_dim: int, y_dim: int, hidden: int, attention: bool):
        super().__init__()
        self.attention = attention
        if attention:
            self.pair = nn.Linear(x_dim + y_dim, hidden)
            self.self_att = nn.ModuleList([AttentionBlock(hidden) for _ in range(2)])
            self.cross_att = nn.ModuleList([AttentionBlock(hidden) for _ in range(2)])
            self.key_proj = nn.Linear(x_dim, hidden)
            self.query_proj = nn.Linear(x_dim, hidden)
        else:
            self.pair = _mlp(x_dim + y_dim, hidden, 3)

    def forward(self, cx: Tensor, cy: Tensor, tx: Tensor) -> Tensor:
        h = self.pair(torch.cat([cx, cy], dim=-1))              # (B,C,H)
        if not self.attention:
            return h.mean(dim=1, keepdim=True).expand(-1, tx.shape[1], -1)  # (B,T,H)
        for blk in self.self_att:
            h = blk(h, h, h)                                    # (B,C,H)
        q, k = self.query_proj(tx), self.key_proj(cx)           # (B,T,H), (B,C,H)
        for blk in self.cross_att:
            q = blk(q, k, h)                                    # (B,T,H)
        return q


class LatentEncoder(nn.Module):
    """Latent path: ``s = mean_i enc([x_i, y_i])`` -> ``mu``, ``sigma = 0.1 + 0.9 sigmoid(.)``.
    Input (B,N,dx), (B,N,dy); output mu, sigma (B,L). With ``attention=True`` the pair encoder is
    Linear + 2 self-attention layers (official ``module.LatentEncoder``), else an MLP."""

    def __init__(self, x_dim: int, y_dim: int, hidden: int, latent_dim: int, attention: bool):
        super().__init__()
        self.attention = attention
        if attention:
            self.pair = nn.Linear(x_dim + y_dim, hidden)
            self.self_att = nn.ModuleList([AttentionBlock(hidden) for _ in range(2)])
        else:
            self.pair = _mlp(x_dim + y_dim, hidden, 2)
        self.penultimate = nn.Linear(hidden, hidden)
        self.mu = nn.Linear(hidden, latent_dim)
        self.sigma = nn.Linear(hidden, latent_dim)

    def forward(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        h = self.pair(torch.cat([x, y], dim=-1))                # (B,N,H)
        if self.attention:
            for blk in self.self_att:
                h = blk(h, h, h)
        s = torch.relu(self.penultimate(h.mean(dim=1)))          # (B,H)
        return self.mu(s), 0.1 + 0.9 * torch.sigmoid(self.sigma(s))  # (B,L), (B,L)


@dataclass
class NPOutput:
    """Predictive mean and std (B,T,dy); ``loss``, ``nll``, ``kl`` (scalars) when target_y given."""

    mean: Tensor
    std: Tensor
    loss: Optional[Tensor] = None
    nll: Optional[Tensor] = None
    kl: Optional[Tensor] = None


def _check_np_inputs(cx: Tensor, cy: Tensor, tx: Tensor, ty: Optional[Tensor], x_dim: int, y_dim: int) -> None:
    named = [("context_x", cx, x_dim), ("context_y", cy, y_dim), ("target_x", tx, x_dim)]
    if ty is not None:
        named.append(("target_y", ty, y_dim))
    for name, t, d in named:
        if t.dim() != 3:
            raise ValueError(f"{name} must have shape (B, N, {d}), got {tuple(t.shape)}")
        if t.shape[-1] != d:
            raise ValueError(f"{name} last dimension must be {d}, got {t.shape[-1]} (shape {tuple(t.shape)})")
    batch = {name: t.shape[0] for name, t, _ in named}
    if len(set(batch.values())) != 1:
        raise ValueError(f"mismatched batch sizes: {batch}")
    if cx.shape[1] != cy.shape[1]:
        raise ValueError(f"context_x and context_y have different numbers of points: {cx.shape[1]} vs {cy.shape[1]}")
    if ty is not None and tx.shape[1] != ty.shape[1]:
        raise ValueError(f"target_x and target_y have different numbers of points: {tx.shape[1]} vs {ty.shape[1]}")
    if cx.shape[1] == 0:
        raise ValueError("empty context: need at least one context point per task")
    if tx.shape[1] == 0:
        raise ValueError("empty target set: need at least one target point per task")


class NeuralProcess(nn.Module):
    """(Attentive) Neural Process. See the module docstring for equations and official sources.

    Args:
        x_dim, y_dim: input / output sizes (3 and 3 for Omnipush).
        hidden: width of every layer (128 official); the latent has the same size.
        latent, deterministic: which paths to use (at least one).
        attention: ANP (self-attention in both encoders + cross-attention deterministic path).
        decoder_std: ``"softplus"`` (0.1 + 0.9 softplus, DeepMind, default) or ``"exp"`` (official).
    """

    def __init__(self, x_dim: int = 3, y_dim: int = 3, hidden: int = 128, latent: bool = True,
                 deterministic: bool = True, attention: bool = False, decoder_std: str = "softplus"):
        super().__init__()
        if not (latent or deterministic):
            raise ValueError("at least one of latent / deterministic paths must be enabled")
        if decoder_std not in ("softplus", "exp"):
            raise ValueError(f"decoder_std must be 'softplus' or 'exp', got {decoder_std!r}")
        self.x_dim, self.y_dim, self.hidden = x_dim, y_dim, hidden
        self.latent, self.deterministic, self.attention = latent, deterministic, attention
        self.decoder_std = decoder_std
        self.det_encoder = DeterministicEncoder(x_dim, y_dim, hidden, attention) if deterministic else None
        self.lat_encoder = LatentEncoder(x_dim, y_dim, hidden, hidden, attention) if latent else None
        self.target_proj = nn.Linear(x_dim, hidden)
        width = hidden * (1 + int(deterministic) + int(latent))
        self.decoder = nn.Sequential(*[m for _ in range(3) for m in (nn.Linear(width, width), nn.ReLU())],
                                     nn.Linear(width, 2 * y_dim))

    def forward(self, context_x: Tensor, context_y: Tensor, target_x: Tensor,
                target_y: Optional[Tensor] = None) -> NPOutput:
        """context_x (B,C,dx), context_y (B,C,dy), target_x (B,T,dx), target_y (B,T,dy) or None.

        With ``target_y`` z ~ q(z | targets) (posterior; targets should include the context), else
        z ~ q(z | context) (prior). Returns :class:`NPOutput`.
        """
        _check_np_inputs(context_x, context_y, target_x, target_y, self.x_dim, self.y_dim)
        T = target_x.shape[1]
        feats = [self.target_proj(target_x)]                               # (B,T,H)
        if self.det_encoder is not None:
            feats.insert(0, self.det_encoder(context_x, context_y, target_x))  # (B,T,H)
        prior = posterior = None
        if self.lat_encoder is not None:
            prior = torch.distributions.Normal(*self.lat_encoder(context_x, context_y))   # (B,L)
            q = prior
            if target_y is not None:
                posterior = torch.distributions.Normal(*self.lat_encoder(target_x, target_y))
                q = posterior
            z = q.rsample()                                                # (B,L)
            feats.insert(-1, z.unsqueeze(1).expand(-1, T, -1))            # (B,T,L)
        out = self.decoder(torch.cat(feats, dim=-1))                      # (B,T,2dy)
        mean, raw = out.split(self.y_dim, dim=-1)                         # (B,T,dy) each
        std = 0.1 + 0.9 * F.softplus(raw) if self.decoder_std == "softplus" else torch.exp(raw)
        if target_y is None:
            return NPOutput(mean, std)
        # official averaging: mean over (B,T,dy) of log N, mean over (B,L) of per-dim KL
        nll = -torch.distributions.Normal(mean, std).log_prob(target_y).mean()
        if posterior is not None:
            kl = torch.distributions.kl_divergence(posterior, prior).mean()
        else:
            kl = torch.zeros((), dtype=mean.dtype, device=mean.device)
        return NPOutput(mean, std, loss=nll + kl, nll=nll, kl=kl)


def attentive_np(**kw) -> NeuralProcess:
    """The Attentive Neural Process (Kim et al. 2019; official ``network.LatentModel``)."""
    kw.setdefault("attention", True)
    if not kw["attention"]:
        raise ValueError("attentive_np requires attention=True")
    return NeuralProcess(**kw)


class MLPBaseline(nn.Module):
    """Pooled-data baseline (official ``omnipush_pooldata.NeuralNet``): MLP
    ``x_dim -> hidden x layers (ReLU) -> 2*y_dim`` split into mean and log std; std = exp(log std).
    Input (..., dx); output mean, std (..., dy)."""

    def __init__(self, x_dim: int = 3, y_dim: int = 3, hidden: int = 256, layers: int = 3):
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers must be >= 1, got {layers}")
        self.x_dim, self.y_dim = x_dim, y_dim
        mods: list[nn.Module] = []
        d = x_dim
        for _ in range(layers):
            mods += [nn.Linear(d, hidden), nn.ReLU()]
            d = hidden
        mods.append(nn.Linear(d, 2 * y_dim))
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.dim() < 1 or x.shape[-1] != self.x_dim:
            raise ValueError(f"x last dimension must be {self.x_dim}, got shape {tuple(x.shape)}")
        mean, log_std = self.net(x).split(self.y_dim, dim=-1)
        return mean, torch.exp(log_std)

    def gaussian_nll(self, x: Tensor, y: Tensor) -> Tensor:
        """Official training loss: ``-mean`` over all elements of ``log N(y; mean, std)``."""
        if y.shape[-1] != self.y_dim or y.shape[:-1] != x.shape[:-1]:
            raise ValueError(f"y must have shape {tuple(x.shape[:-1]) + (self.y_dim,)}, got {tuple(y.shape)}")
        mean, std = self(x)
        return -torch.distributions.Normal(mean, std).log_prob(y).mean()
