r"""The distillers compared in CRD (Tian, Krishnan, Isola, ICLR 2020, Table 1-2), one interface.

Book: the CRD chapter. Official code: HobbitLong/RepDistiller (``distiller_zoo/*.py`` for the
losses, ``models/util.py`` for the trainable adapters, ``train_student.py`` /
``helper/loops.py`` for which features each one reads, ``helper/pretrain.py`` for the init
stage of AB, FT and FSP, ``scripts/run_cifar_distill.sh`` for the weights).

A RepDistiller model called as ``feats, logit = model(x, is_feat=True)`` returns ``feats``, the
list of intermediate maps then the pooled pre-logit feature, e.g. for resnet8x4
``[(B,32,32,32), (B,64,32,32), (B,128,16,16), (B,256,8,8), (B,256)]``. The student's objective
is (``train_student.py``)

.. math:: \mathcal{L} = \gamma\,\mathcal{L}_\mathrm{CE}(y, z^S) + \alpha\,\mathcal{L}_\mathrm{KD}(z^S, z^T)
          + \beta\,\mathcal{L}_\mathrm{distill}(\text{feats}^S, \text{feats}^T),

with :math:`\gamma = 1, \alpha = 0` and the per-distiller :math:`\beta` of the official script
(KD itself: :math:`\gamma = 0.1`, and its weight 0.9 is the ``beta`` of :class:`KD` here, since
its ``forward`` *is* the KL term). :func:`build_distiller` returns a :class:`Distiller` whose
``forward(feat_s, feat_t, logit_s, logit_t, index=None, sample_idx=None)`` is
:math:`\mathcal{L}_\mathrm{distill}` on the layers the official loop picks, and whose
:meth:`Distiller.objective` combines the three terms.

============  ===========  ===========================  =========================================
name          beta         reads                        trains (besides the student)
============  ===========  ===========================  =========================================
kd            0.9 (γ 0.1)  logits                       -
fitnet        100          feat[hint_layer = 2]         ConvReg regressor
at            1000         feat[1:-1]                   -
sp            3000         feat[-2]                     -
cc            0.02         feat[-1]                     two linear embeddings (128-d)
vid           1            feat[1:-1]                   per-layer regressors + variances
rkd           1            feat[-1]                     -
pkt           30000        feat[-1]                     -
ab            1            feat[1:-1], pre-activation   init stage only: connectors
ft            200          feat[-2]                     translator (init stage: paraphraser)
fsp           50           feat[:-1]                    init stage only (student features)
nst           50           feat[1:-1]                   -
crd           0.8          feat[-1]                     two embeddings (128-d, L2-normalised)
============  ===========  ===========================  =========================================

AB and FSP distil only in their init stage (``helper/pretrain.py``, 30 epochs training the
student's feature layers, with AB's connectors); in the main stage their official loss is 0
(``loss_kd = 0``), i.e. plain cross-entropy, and so is ``forward`` here unless
``distill_in_main=True``.
"""
from __future__ import annotations

import inspect
import math
import numbers

import torch
import torch.nn.functional as F
from torch import nn

from ._checks import check_number
from .crd import CRDLoss, Embed

STAGES = ("main", "init")


# --------------------------------------------------------------------------------------------
# The losses, one function per paper
# --------------------------------------------------------------------------------------------

def kd_loss(logit_s: torch.Tensor, logit_t: torch.Tensor, T: float = 4.0) -> torch.Tensor:
    r"""Hinton et al. (2015): :math:`T^2\,\frac{1}{B}\sum_b \mathrm{KL}\big(\mathrm{softmax}(z^T_b/T)
    \,\|\, \mathrm{softmax}(z^S_b/T)\big)` (sum over classes, mean over the batch, as the official
    ``DistillKL``; the :math:`T^2` keeps the gradient scale independent of T)."""
    if logit_s.shape != logit_t.shape or logit_s.ndim != 2:
        raise ValueError(f"logits must both be (B, C), got {tuple(logit_s.shape)} and {tuple(logit_t.shape)}")
    check_number(T, "T", positive=True)
    log_p_s = F.log_softmax(logit_s / T, dim=1)                               # (B, C)
    p_t = F.softmax(logit_t / T, dim=1)                                       # (B, C)
    return F.kl_div(log_p_s, p_t, reduction="sum") * T ** 2 / logit_s.shape[0]


def hint_loss(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    r"""FitNets (Romero et al. 2015): :math:`\frac{1}{n}\|r(F^S) - F^T\|_2^2`, the mean squared
    error of the regressed student map (``r`` the :class:`ConvReg`) and the teacher's hint."""
    if f_s.shape != f_t.shape:
        raise ValueError(f"the regressed student hint {tuple(f_s.shape)} must match the teacher's "
                         f"{tuple(f_t.shape)}")
    return F.mse_loss(f_s, f_t)


def match_spatial(f_s: torch.Tensor, f_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Adaptive-average-pool the larger of two ``(B, C, H, W)`` maps to the other's size (the
    official AT, VID, FT, NST, FSP; they compare H only and assume square maps)."""
    (h_s, w_s), (h_t, w_t) = f_s.shape[2:], f_t.shape[2:]
    if (h_s, w_s) != (h_t, w_t):
        size = (min(h_s, h_t), min(w_s, w_t))
        if (h_s, w_s) != size:
            f_s = F.adaptive_avg_pool2d(f_s, size)
        if (h_t, w_t) != size:
            f_t = F.adaptive_avg_pool2d(f_t, size)
    return f_s, f_t


def attention_map(f: torch.Tensor, p: float = 2) -> torch.Tensor:
    r"""Zagoruyko & Komodakis (2017): :math:`Q = \mathrm{vec}\big(\frac{1}{C}\sum_c |A_c|^p\big)
    / \|\cdot\|_2`, ``(B, C, H, W) -> (B, HW)`` (``f.pow(p)``, as the official code)."""
    return F.normalize(f.pow(p).mean(1).flatten(1), dim=1)


def at_loss(f_s: torch.Tensor, f_t: torch.Tensor, p: float = 2) -> torch.Tensor:
    r"""Attention transfer of one layer pair: :math:`\mathrm{mean}\big((Q^S - Q^T)^2\big)` over
    the batch and the ``HW`` positions (the official mean; the paper writes
    :math:`\frac{\beta}{2}\|Q^S - Q^T\|_p`)."""
    f_s, f_t = match_spatial(f_s, f_t)
    return (attention_map(f_s, p) - attention_map(f_t, p)).pow(2).mean()


def sp_loss(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    r"""Similarity-preserving KD (Tung & Mori 2019): with :math:`G = \mathrm{rownorm}(Q Q^\top)`,
    :math:`Q` the ``(B, CHW)`` flattened maps, :math:`\frac{1}{B^2}\|G^T - G^S\|_F^2`."""
    B = f_s.shape[0]
    q_s, q_t = f_s.reshape(B, -1), f_t.reshape(B, -1)
    g_s = F.normalize(q_s @ q_s.T, dim=1)                                     # (B, B)
    g_t = F.normalize(q_t @ q_t.T, dim=1)                                     # (B, B)
    return (g_t - g_s).pow(2).sum() / B ** 2


CC_FORMS = ("repdistiller", "taylor")


def cc_loss(e_s: torch.Tensor, e_t: torch.Tensor, form: str = "repdistiller", rbf_gamma: float = 0.4,
            P: int = 2) -> torch.Tensor:
    r"""Correlation congruence (Peng et al. 2019) of embeddings ``(B, D)``.

    * ``form="taylor"``, the paper's Eq.: with :math:`f` L2-normalised, the Gaussian RBF
      correlation :math:`k(f_i, f_j) = e^{-\gamma\|f_i - f_j\|^2} = e^{-2\gamma} e^{2\gamma f_i^\top f_j}
      \approx \sum_{p=0}^{P} e^{-2\gamma}\frac{(2\gamma)^p}{p!}(f_i^\top f_j)^p` and
      :math:`\mathcal{L}_{CC} = \frac{1}{B^2}\|\psi(F^T) - \psi(F^S)\|_F^2` (γ = 0.4, P = 2).
    * ``form="repdistiller"``, the code RepDistiller ran for CRD's tables (from the CC authors):
      :math:`\delta = |e^S - e^T|`, :math:`\mathcal{L} = \frac{1}{B-1}\sum_{b=1}^{B-1}
      \sum_d \delta_{b,d}\,\delta_{b+1,d}` (consecutive samples of the batch).
    """
    if e_s.shape != e_t.shape or e_s.ndim != 2:
        raise ValueError(f"CC embeddings must both be (B, D), got {tuple(e_s.shape)} and {tuple(e_t.shape)}")
    if e_s.shape[0] < 2:
        raise ValueError("CC correlates samples of a batch: it needs B >= 2")
    if form == "repdistiller":
        delta = (e_s - e_t).abs()                                             # (B, D)
        return (delta[:-1] * delta[1:]).sum(1).mean()
    if form != "taylor":
        raise ValueError(f"unknown CC form {form!r}; valid: {', '.join(CC_FORMS)}")
    check_number(rbf_gamma, "rbf_gamma", positive=True)

    def correlation(e):
        e = F.normalize(e, dim=1)
        sim = e @ e.T                                                         # (B, B) cosine
        return sum(math.exp(-2 * rbf_gamma) * (2 * rbf_gamma) ** p / math.factorial(p) * sim.pow(p)
                   for p in range(int(P) + 1))
    return F.mse_loss(correlation(e_s), correlation(e_t))


def vid_loss(pred_mean: torch.Tensor, target: torch.Tensor, pred_var: torch.Tensor) -> torch.Tensor:
    r"""VID (Ahn et al. 2019): the Gaussian negative log-likelihood (without the constant) of the
    teacher map under :math:`\mathcal{N}(\mu(F^S), \sigma^2_c)`, averaged over every entry:
    :math:`\mathrm{mean}\,\frac12\big(\frac{(t - \mu)^2}{\sigma_c^2} + \log\sigma_c^2\big)`;
    ``pred_var`` ``(C,)`` per channel."""
    var = pred_var.view(1, -1, 1, 1)
    return (0.5 * ((pred_mean - target).pow(2) / var + torch.log(var))).mean()


def _pdist(e: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    sq = e.pow(2).sum(1)
    d = (sq[:, None] + sq[None, :] - 2 * e @ e.T).clamp(min=eps).sqrt()
    return d * (1 - torch.eye(len(e), dtype=d.dtype, device=d.device))        # zero diagonal


def rkd_loss(f_s: torch.Tensor, f_t: torch.Tensor, w_d: float = 25.0, w_a: float = 50.0) -> torch.Tensor:
    r"""Relational KD (Park et al. 2019): :math:`w_d\,\ell_\delta(\psi_D^S, \psi_D^T) +
    w_a\,\ell_\delta(\psi_A^S, \psi_A^T)` with Huber (smooth L1) :math:`\ell_\delta`, the distances
    :math:`\psi_D(i,j) = \|e_i - e_j\|/\mu` (:math:`\mu` the mean non-zero distance of the batch)
    and angles :math:`\psi_A(i,j,k) = \langle \frac{e_i - e_j}{\|e_i - e_j\|},
    \frac{e_k - e_j}{\|e_k - e_j\|}\rangle`; the teacher side without gradient."""
    s, t = f_s.reshape(f_s.shape[0], -1), f_t.reshape(f_t.shape[0], -1)
    with torch.no_grad():
        d_t = _pdist(t)
        d_t = d_t / d_t[d_t > 0].mean()
        v_t = F.normalize(t[None, :, :] - t[:, None, :], dim=2)               # (B, B, D): t_j - t_i
        a_t = torch.bmm(v_t, v_t.transpose(1, 2)).flatten()                   # (B^3,)
    d_s = _pdist(s)
    d_s = d_s / d_s[d_s > 0].mean()
    v_s = F.normalize(s[None, :, :] - s[:, None, :], dim=2)
    a_s = torch.bmm(v_s, v_s.transpose(1, 2)).flatten()
    return w_d * F.smooth_l1_loss(d_s, d_t) + w_a * F.smooth_l1_loss(a_s, a_t)


def pkt_loss(f_s: torch.Tensor, f_t: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    r"""Probabilistic KT (Passalis & Tefas 2018), cosine kernel: with
    :math:`K_{ij} = (1 + \cos(f_i, f_j))/2` and :math:`p_{j|i} = K_{ij}/\sum_k K_{ik}`,
    :math:`\mathrm{mean}_{ij}\; p^T_{j|i}\log\frac{p^T_{j|i} + \epsilon}{p^S_{j|i} + \epsilon}`
    (mean over the ``B x B`` pairs, as the official code)."""
    def conditional(f):
        f = f.reshape(f.shape[0], -1)
        f = f / (f.norm(dim=1, keepdim=True) + eps)
        f = torch.nan_to_num(f, nan=0.0)
        k = (f @ f.T + 1.0) / 2.0                                             # (B, B) in [0, 1]
        return k / k.sum(1, keepdim=True)
    p_s, p_t = conditional(f_s), conditional(f_t)
    return (p_t * torch.log((p_t + eps) / (p_s + eps))).mean()


def ab_loss(g_s: list[torch.Tensor], g_t: list[torch.Tensor], margin: float = 1.0) -> torch.Tensor:
    r"""Activation boundaries (Heo et al. 2019), the official alternative squared hinge on the
    pre-activations of ``n`` layers (student maps already through the connectors):

    .. math:: \sum_{l} \frac{3\cdot 2^{\,l-n+1}}{1000\,B}\sum
              \Big[(s+\mu)^2\,\mathbb{1}[s > -\mu,\ t \le 0] + (s-\mu)^2\,\mathbb{1}[s \le \mu,\ t > 0]\Big].
    """
    if len(g_s) != len(g_t) or not g_s:
        raise ValueError(f"AB needs the same number (>= 1) of student and teacher maps, got {len(g_s)}, {len(g_t)}")
    n, B = len(g_s), g_s[0].shape[0]
    total = g_s[0].new_zeros(())
    for layer, (s, t) in enumerate(zip(g_s, g_t)):
        if s.shape != t.shape:
            raise ValueError(f"AB layer {layer}: connected student {tuple(s.shape)} vs teacher {tuple(t.shape)}")
        hinge = ((s + margin).pow(2) * ((s > -margin) & (t <= 0)).to(s.dtype)
                 + (s - margin).pow(2) * ((s <= margin) & (t > 0)).to(s.dtype))
        total = total + 2.0 ** (layer - n + 1) * hinge.sum() / B * 3 / 1000
    return total


def ft_loss(factor_s: torch.Tensor, factor_t: torch.Tensor, p1: float = 2, p2: float = 1) -> torch.Tensor:
    r"""Factor transfer (Kim et al. 2018): :math:`\big\|\frac{F_S}{\|F_S\|_2} - \frac{F_T}{\|F_T\|_2}\big\|_{p}`
    with p = 1, averaged; as the official ``FactorTransfer`` the factors ``(B, C', H, W)`` are first
    reduced to the channel mean of their ``p1``-th powers, L2-normalised: AT's
    :func:`attention_map`."""
    factor_s, factor_t = match_spatial(factor_s, factor_t)
    diff = attention_map(factor_s, p1) - attention_map(factor_t, p1)
    return diff.abs().mean() if p2 == 1 else diff.pow(p2).mean()


def fsp_matrices(g: list[torch.Tensor]) -> list[torch.Tensor]:
    r"""Yim et al. (2017): :math:`G_{ij}(x) = \frac{1}{hw}\sum_{s}F^{1}_{s,i}(x) F^{2}_{s,j}(x)`
    for consecutive maps (the larger pooled to the smaller); each ``(B, C_2, C_1)``."""
    out = []
    for bottom, top in zip(g[:-1], g[1:]):
        bottom, top = match_spatial(bottom, top)
        out.append(torch.einsum("bihw,bjhw->bji", bottom, top) / (bottom.shape[2] * bottom.shape[3]))
    return out


def fsp_loss(g_s: list[torch.Tensor], g_t: list[torch.Tensor]) -> torch.Tensor:
    """Sum over consecutive pairs of ``mean((G^S - G^T)^2)`` (the official FSP, weights 1)."""
    total = g_s[0].new_zeros(())
    for s, t in zip(fsp_matrices(g_s), fsp_matrices(g_t)):
        if s.shape != t.shape:
            raise ValueError(f"FSP matrices differ in shape: {tuple(s.shape)} vs {tuple(t.shape)}")
        total = total + (s - t).pow(2).mean()
    return total


def nst_loss(f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
    r"""Neuron selectivity transfer (Huang & Wang 2017): the squared MMD with the polynomial kernel
    :math:`k(x, y) = (x^\top y)^2` between the channels (``HW``-vectors, L2-normalised) of the two
    maps, :math:`\overline{k(T,T)} + \overline{k(S,S)} - 2\,\overline{k(S,T)}`, means over all
    channel pairs and the batch; :math:`k(T,T)` without gradient (the official full loss)."""
    f_s, f_t = match_spatial(f_s, f_t)
    s = F.normalize(f_s.flatten(2), dim=2)                                    # (B, C_s, HW)
    t = F.normalize(f_t.flatten(2), dim=2)                                    # (B, C_t, HW)
    poly = lambda a, b: torch.bmm(b, a.transpose(1, 2)).pow(2)               # noqa: E731  (B, C_b, C_a)
    return poly(t, t).mean().detach() + poly(s, s).mean() - 2 * poly(s, t).mean()


# --------------------------------------------------------------------------------------------
# The trainable adapters (RepDistiller models/util.py and VIDLoss)
# --------------------------------------------------------------------------------------------

class ConvReg(nn.Module):
    """FitNet's regressor ``(B, C_s, H_s, W_s) -> (B, C_t, H_t, W_t)``: a stride-2 3x3 conv when
    ``H_s = 2 H_t``, a 4x4 transposed conv when ``2 H_s = H_t``, else a valid conv of kernel
    ``(1 + H_s - H_t, 1 + W_s - W_t)``; then BatchNorm and (``use_relu``) ReLU."""

    def __init__(self, s_shape, t_shape, use_relu: bool = True):
        super().__init__()
        (c_s, h_s, w_s), (c_t, h_t, w_t) = s_shape[-3:], t_shape[-3:]
        if h_s == 2 * h_t:
            self.conv = nn.Conv2d(c_s, c_t, kernel_size=3, stride=2, padding=1)
        elif 2 * h_s == h_t:
            self.conv = nn.ConvTranspose2d(c_s, c_t, kernel_size=4, stride=2, padding=1)
        elif h_s >= h_t and w_s >= w_t:
            self.conv = nn.Conv2d(c_s, c_t, kernel_size=(1 + h_s - h_t, 1 + w_s - w_t))
        else:
            raise ValueError(f"no regressor maps a student map of {h_s}x{w_s} to a teacher map of "
                             f"{h_t}x{w_t} (needs H_s = 2 H_t, 2 H_s = H_t, or H_s >= H_t)")
        self.bn = nn.BatchNorm2d(c_t)
        self.use_relu = use_relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        return F.relu(x) if self.use_relu else x


class Connector(nn.Module):
    """AB's connectors: identity where channels and height agree, else a :class:`ConvReg` without ReLU."""

    def __init__(self, s_shapes, t_shapes):
        super().__init__()
        self.connectors = nn.ModuleList(
            nn.Identity() if s[-3] == t[-3] and s[-2] == t[-2] else ConvReg(s, t, use_relu=False)
            for s, t in zip(s_shapes, t_shapes))

    def forward(self, g_s: list[torch.Tensor]) -> list[torch.Tensor]:
        return [c(g) for c, g in zip(self.connectors, g_s)]


class VIDRegressor(nn.Module):
    """One VID layer: the mean :math:`\\mu(F^S)` by three 1x1 convs (no bias, ReLU between, width
    ``mid``) and per-channel variances :math:`\\sigma_c^2 = \\mathrm{softplus}(\\alpha_c) + \\epsilon`,
    initialised to ``init_pred_var``."""

    def __init__(self, c_in: int, c_mid: int, c_out: int, init_pred_var: float = 5.0, eps: float = 1e-5):
        super().__init__()
        if init_pred_var <= eps:
            raise ValueError(f"init_pred_var must exceed eps = {eps}, got {init_pred_var}")
        self.regressor = nn.Sequential(
            nn.Conv2d(c_in, c_mid, 1, bias=False), nn.ReLU(),
            nn.Conv2d(c_mid, c_mid, 1, bias=False), nn.ReLU(),
            nn.Conv2d(c_mid, c_out, 1, bias=False))
        # softplus^{-1}(init_pred_var - eps), so that the initial variance is init_pred_var
        self.log_scale = nn.Parameter(torch.full((c_out,), math.log(math.expm1(init_pred_var - eps))))
        self.eps = float(eps)

    def pred_var(self) -> torch.Tensor:
        return F.softplus(self.log_scale) + self.eps                        # (C_out,)

    def forward(self, f_s: torch.Tensor, f_t: torch.Tensor) -> torch.Tensor:
        f_s, f_t = match_spatial(f_s, f_t)
        return vid_loss(self.regressor(f_s), f_t, self.pred_var())


def _conv_stack(channels, use_bn: bool, transposed: bool = False) -> nn.Sequential:
    layers = []
    conv = nn.ConvTranspose2d if transposed else nn.Conv2d
    for c_in, c_out in zip(channels[:-1], channels[1:]):
        layers += [conv(c_in, c_out, 3, 1, 1)]
        if use_bn:
            layers += [nn.BatchNorm2d(c_out)]
        layers += [nn.LeakyReLU(0.1)]
    return nn.Sequential(*layers)


class Paraphraser(nn.Module):
    """FT's teacher paraphraser: an encoder ``C -> C -> rC -> rC`` (3x3 convs, LeakyReLU 0.1) to
    the factor, and a mirrored transposed-conv decoder back to ``C`` (trained to reconstruct)."""

    def __init__(self, t_shape, rate: float = 0.5, use_bn: bool = False):
        super().__init__()
        c = t_shape[-3]
        r = int(c * rate)
        if r < 1:
            raise ValueError(f"paraphraser rate {rate} leaves no factor channels from {c}")
        self.encoder = _conv_stack([c, c, r, r], use_bn)
        self.decoder = _conv_stack([r, r, c, c], use_bn, transposed=True)

    def forward(self, f_t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(factor, reconstruction)``."""
        z = self.encoder(f_t)
        return z, self.decoder(z)


class Translator(nn.Module):
    """FT's student translator: ``C_s -> C_s -> r C_t -> r C_t`` (3x3 convs, BatchNorm, LeakyReLU 0.1)."""

    def __init__(self, s_shape, t_shape, rate: float = 0.5, use_bn: bool = True):
        super().__init__()
        c_s, r = s_shape[-3], int(t_shape[-3] * rate)
        self.encoder = _conv_stack([c_s, c_s, r, r], use_bn)

    def forward(self, f_s: torch.Tensor) -> torch.Tensor:
        return self.encoder(f_s)


# --------------------------------------------------------------------------------------------
# One interface
# --------------------------------------------------------------------------------------------

def _shapes(shapes, name: str) -> list[tuple[int, ...]]:
    """Per-sample shapes (batch dimension dropped) of a ``model(x, is_feat=True)`` feature list."""
    if shapes is None:
        raise ValueError(f"{name} is required: the shapes of model(x, is_feat=True)'s feature list")
    try:
        out = [tuple(int(d) for d in s) for s in shapes]
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a list of shapes (tuples of ints), got {shapes!r}") from None
    if not out:
        raise ValueError(f"{name} is empty")
    for i, s in enumerate(out):
        if len(s) < 2 or any(d < 1 for d in s[1:]):
            raise ValueError(f"{name}[{i}] = {s} is not a batched feature shape (B, ...)")
    return [s[1:] for s in out]


class Distiller(nn.Module):
    """Base of every distiller: see the module docstring.

    Attributes: ``name``; ``gamma``, ``alpha``, ``beta`` the official weights of cross-entropy,
    KL (T = ``kd_T``) and this distiller's loss; ``needs_preact`` (call both models with
    ``preact=True``); ``needs_init`` (run the init stage with :meth:`init_loss` first);
    ``init_trains_student_features`` (the init stage also trains the student's feature layers,
    ``model_s.get_feat_modules()``); ``reads`` the features it uses.
    """
    name = ""
    default_beta = 1.0
    default_gamma = 1.0
    needs_preact = False
    needs_init = False
    init_trains_student_features = False
    reads = ""
    needs_features = True

    def __init__(self, feat_s_shapes, feat_t_shapes, *, beta: float | None = None, gamma: float | None = None,
                 alpha: float = 0.0, kd_T: float = 4.0):
        super().__init__()
        self.beta = check_number(self.default_beta if beta is None else beta, "beta")
        self.gamma = check_number(self.default_gamma if gamma is None else gamma, "gamma")
        self.alpha = check_number(alpha, "alpha")
        self.kd_T = check_number(kd_T, "kd_T", positive=True)
        if self.needs_features or feat_s_shapes is not None or feat_t_shapes is not None:
            self.s_shapes = _shapes(feat_s_shapes, "feat_s_shapes")
            self.t_shapes = _shapes(feat_t_shapes, "feat_t_shapes")
            if len(self.s_shapes) != len(self.t_shapes):
                raise ValueError(f"student and teacher return {len(self.s_shapes)} and {len(self.t_shapes)} "
                                 f"features; the official layer choices need lists of equal length")
            if len(self.s_shapes) < 3 and self.needs_features:
                raise ValueError(f"{self.name} needs the feature list of model(x, is_feat=True) (maps, then the "
                                 f"pooled feature): at least 3 entries, got {len(self.s_shapes)}")
        else:
            self.s_shapes = self.t_shapes = None

    # ---- shape helpers ----
    def _maps(self, sel: slice | int, who: str) -> list[tuple[int, ...]]:
        shapes = self.s_shapes if who == "student" else self.t_shapes
        picked = shapes[sel] if isinstance(sel, slice) else [shapes[sel]]
        for s in picked:
            if len(s) != 3:
                raise ValueError(f"{self.name} reads {self.reads}, which must be (B, C, H, W) maps; the "
                                 f"{who} has a feature of shape (B, {', '.join(map(str, s))})")
        return picked

    @staticmethod
    def _flat_dim(shape) -> int:
        return int(math.prod(shape))

    def _check_feats(self, feat_s, feat_t) -> None:
        if self.s_shapes is None or not self.needs_features:        # KD reads the logits only
            return
        for who, feats, shapes in (("student", feat_s, self.s_shapes), ("teacher", feat_t, self.t_shapes)):
            if not isinstance(feats, (list, tuple)) or not all(torch.is_tensor(f) for f in feats):
                raise TypeError(f"feat_{who[0]} must be the list of tensors of model(x, is_feat=True), "
                                f"got {type(feats).__name__}")
            if len(feats) != len(shapes):
                raise ValueError(f"the {who} returned {len(feats)} features, {self.name} was built for {len(shapes)}")
            for i, (f, s) in enumerate(zip(feats, shapes)):
                if tuple(f.shape[1:]) != s:
                    raise ValueError(f"{who} feature {i} has shape {tuple(f.shape)}, {self.name} was built "
                                     f"for (B, {', '.join(map(str, s))})")
        B = {f.shape[0] for f in list(feat_s) + list(feat_t)}
        if len(B) != 1:
            raise ValueError(f"student and teacher features have different batch sizes: {sorted(B)}")

    # ---- the interface ----
    def forward(self, feat_s, feat_t, logit_s=None, logit_t=None, index=None, sample_idx=None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        self._check_feats(feat_s, feat_t)
        return self.distill(feat_s, feat_t, logit_s, logit_t, index, sample_idx, generator)

    def distill(self, feat_s, feat_t, logit_s, logit_t, index, sample_idx, generator) -> torch.Tensor:
        raise NotImplementedError

    def init_loss(self, feat_s, feat_t) -> torch.Tensor:
        """The loss of the init stage (``helper/pretrain.py``), for ``needs_init`` distillers."""
        raise ValueError(f"{self.name} has no init stage (needs_init is False)")

    def trainable_modules(self, stage: str = "main") -> list[nn.Module]:
        """What the official code adds to the optimiser, besides the student, in ``stage``
        (``"main"`` or ``"init"``; the student's feature layers of the init stage are the caller's)."""
        if stage not in STAGES:
            raise ValueError(f"unknown stage {stage!r}; valid: {', '.join(STAGES)}")
        return self._trainable(stage)

    def _trainable(self, stage: str) -> list[nn.Module]:
        return []

    def objective(self, loss_cls: torch.Tensor, loss_distill: torch.Tensor, logit_s=None, logit_t=None):
        """``gamma * CE + alpha * KD(logits, T = kd_T) + beta * loss_distill`` (``train_student.py``)."""
        total = self.gamma * loss_cls + self.beta * loss_distill
        if self.alpha:
            if logit_s is None or logit_t is None:
                raise ValueError(f"alpha = {self.alpha}: the KL term needs logit_s and logit_t")
            total = total + self.alpha * kd_loss(logit_s, logit_t, self.kd_T)
        return total

    def extra_repr(self) -> str:
        return f"name={self.name!r}, gamma={self.gamma}, alpha={self.alpha}, beta={self.beta}"


def _zero(feats) -> torch.Tensor:
    return feats[-1].new_zeros(())


class KD(Distiller):
    """Hinton's KD on the logits, :func:`kd_loss` (T = 4); the official ``-r 0.1 -a 0.9``: its
    weight 0.9 is ``beta`` here (``forward`` is the KL), ``gamma = 0.1``."""
    name, default_beta, default_gamma, reads, needs_features = "kd", 0.9, 0.1, "logits", False

    def __init__(self, feat_s_shapes=None, feat_t_shapes=None, *, T: float = 4.0, **weights):
        super().__init__(feat_s_shapes, feat_t_shapes, **weights)
        self.T = check_number(T, "T", positive=True)

    def distill(self, feat_s, feat_t, logit_s, logit_t, *_):
        if logit_s is None or logit_t is None:
            raise ValueError("KD distils the logits: pass logit_s and logit_t")
        return kd_loss(logit_s, logit_t, self.T)


class FitNet(Distiller):
    """FitNets: :func:`hint_loss` of ``ConvReg(feat_s[hint_layer])`` and ``feat_t[hint_layer]``."""
    name, default_beta, reads = "fitnet", 100.0, "feat[hint_layer]"

    def __init__(self, feat_s_shapes, feat_t_shapes, *, hint_layer: int = 2, **weights):
        super().__init__(feat_s_shapes, feat_t_shapes, **weights)
        n = len(self.s_shapes)
        if isinstance(hint_layer, bool) or not isinstance(hint_layer, numbers.Integral) or not -n <= hint_layer < n:
            raise ValueError(f"hint_layer must index the {n} features, got {hint_layer!r}")
        self.hint_layer = int(hint_layer)
        self.reads = f"feat[{self.hint_layer}]"
        (s,), (t,) = self._maps(self.hint_layer, "student"), self._maps(self.hint_layer, "teacher")
        self.regressor = ConvReg(s, t)

    def distill(self, feat_s, feat_t, *_):
        return hint_loss(self.regressor(feat_s[self.hint_layer]), feat_t[self.hint_layer])

    def _trainable(self, stage):
        return [self.regressor] if stage == "main" else []


class AT(Distiller):
    """Attention transfer, :func:`at_loss` (p = 2) summed over ``feat[1:-1]``."""
    name, default_beta, reads = "at", 1000.0, "feat[1:-1]"

    def __init__(self, feat_s_shapes, feat_t_shapes, *, p: float = 2, **weights):
        super().__init__(feat_s_shapes, feat_t_shapes, **weights)
        self._maps(slice(1, -1), "student"), self._maps(slice(1, -1), "teacher")
        self.p = check_number(p, "p", positive=True)

    def distill(self, feat_s, feat_t, *_):
        return sum(at_loss(s, t, self.p) for s, t in zip(feat_s[1:-1], feat_t[1:-1]))


class SP(Distiller):
    """Similarity-preserving KD, :func:`sp_loss` on ``feat[-2]`` (the last map)."""
    name, default_beta, reads = "sp", 3000.0, "feat[-2]"

    def distill(self, feat_s, feat_t, *_):
        return sp_loss(feat_s[-2], feat_t[-2])


class CC(Distiller):
    """Correlation congruence, :func:`cc_loss` of linearly embedded ``feat[-1]`` (128-d, both
    embeddings trained). ``form="repdistiller"`` (default) is the code behind CRD's tables and its
    weight 0.02; ``form="taylor"`` the paper's RBF expansion (``rbf_gamma`` 0.4, ``P`` 2)."""
    name, default_beta, reads = "cc", 0.02, "feat[-1]"

    def __init__(self, feat_s_shapes, feat_t_shapes, *, feat_dim: int = 128, form: str = "repdistiller",
                 rbf_gamma: float = 0.4, P: int = 2, **weights):
        super().__init__(feat_s_shapes, feat_t_shapes, **weights)
        if form not in CC_FORMS:
            raise ValueError(f"unknown CC form {form!r}; valid: {', '.join(CC_FORMS)}")
        if isinstance(P, bool) or not isinstance(P, numbers.Integral) or P < 0:
            raise ValueError(f"P (the Taylor order) must be an int >= 0, got {P!r}")
        self.form, self.rbf_gamma, self.P = form, check_number(rbf_gamma, "rbf_gamma", positive=True), int(P)
        self.embed_s = Embed(self._flat_dim(self.s_shapes[-1]), feat_dim, normalize=False)
        self.embed_t = Embed(self._flat_dim(self.t_shapes[-1]), feat_dim, normalize=False)

    def distill(self, feat_s, feat_t, *_):
        return cc_loss(self.embed_s(feat_s[-1]), self.embed_t(feat_t[-1]), self.form, self.rbf_gamma, self.P)

    def _trainable(self, stage):
        return [self.embed_s, self.embed_t] if stage == "main" else []


class VID(Distiller):
    """Variational information distillation on ``feat[1:-1]``: one :class:`VIDRegressor`
    (``C_s -> C_t -> C_t -> C_t``) per layer, losses summed."""
    name, default_beta, reads = "vid", 1.0, "feat[1:-1]"

    def __init__(self, feat_s_shapes, feat_t_shapes, *, init_pred_var: float = 5.0, eps: float = 1e-5, **weights):
        super().__init__(feat_s_shapes, feat_t_shapes, **weights)
        s_maps, t_maps = self._maps(slice(1, -1), "student"), self._maps(slice(1, -1), "teacher")
        self.regressors = nn.ModuleList(VIDRegressor(s[0], t[0], t[0], init_pred_var, eps)
                                        for s, t in zip(s_maps, t_maps))

    def distill(self, feat_s, feat_t, *_):
        return sum(r(s, t) for r, s, t in zip(self.regressors, feat_s[1:-1], feat_t[1:-1]))

    def _trainable(self, stage):
        return [self.regressors] if stage == "main" else []


class RKD(Distiller):
    """Relational KD, :func:`rkd_loss` (distance weight 25, angle weight 50) on ``feat[-1]``."""
    name, default_beta, reads = "rkd", 1.0, "feat[-1]"

    def __init__(self, feat_s_shapes, feat_t_shapes, *, w_d: float = 25.0, w_a: float = 50.0, **weights):
        super().__init__(feat_s_shapes, feat_t_shapes, **weights)
        self.w_d, self.w_a = check_number(w_d, "w_d"), check_number(w_a, "w_a")

    def distill(self, feat_s, feat_t, *_):
        return rkd_loss(feat_s[-1], feat_t[-1], self.w_d, self.w_a)


class PKT(Distiller):
    """Probabilistic knowledge transfer, :func:`pkt_loss` (cosine kernel) on ``feat[-1]``."""
    name, default_beta, reads = "pkt", 30000.0, "feat[-1]"

    def distill(self, feat_s, feat_t, *_):
        return pkt_loss(feat_s[-1], feat_t[-1])


class AB(Distiller):
    """Activation boundaries on the pre-activation ``feat[1:-1]`` (``needs_preact``): the init
    stage trains the :class:`Connector` and the student's feature layers on :func:`ab_loss`
    (margin 1); the main stage is plain cross-entropy (official ``loss_kd = 0``), unless
    ``distill_in_main`` (with the connectors frozen)."""
    name, default_beta, reads = "ab", 1.0, "feat[1:-1] (pre-activation)"
    needs_preact = needs_init = init_trains_student_features = True

    def __init__(self, feat_s_shapes, feat_t_shapes, *, margin: float = 1.0, distill_in_main: bool = False,
                 **weights):
        super().__init__(feat_s_shapes, feat_t_shapes, **weights)
        s_maps, t_maps = self._maps(slice(1, -1), "student"), self._maps(slice(1, -1), "teacher")
        self.margin = check_number(margin, "margin")
        self.distill_in_main = bool(distill_in_main)
        self.connector = Connector(s_maps, t_maps)

    def init_loss(self, feat_s, feat_t):
        self._check_feats(feat_s, feat_t)
        return ab_loss(self.connector(list(feat_s[1:-1])), list(feat_t[1:-1]), self.margin)

    def distill(self, feat_s, feat_t, *_):
        return self.init_loss(feat_s, feat_t) if self.distill_in_main else _zero(feat_s)

    def _trainable(self, stage):
        return [self.connector] if stage == "init" else []


class FT(Distiller):
    """Factor transfer on ``feat[-2]``: the init stage trains the teacher's :class:`Paraphraser`
    (rate 0.5) to reconstruct ``feat_t[-2]`` (MSE); the main stage trains the student's
    :class:`Translator` on :func:`ft_loss` (p = 1) against the frozen paraphraser's factor."""
    name, default_beta, reads = "ft", 200.0, "feat[-2]"
    needs_init = True

    def __init__(self, feat_s_shapes, feat_t_shapes, *, rate: float = 0.5, p1: float = 2, p2: float = 1,
                 **weights):
        super().__init__(feat_s_shapes, feat_t_shapes, **weights)
        (s,), (t,) = self._maps(-2, "student"), self._maps(-2, "teacher")
        self.p1, self.p2 = check_number(p1, "p1", positive=True), check_number(p2, "p2", positive=True)
        self.paraphraser = Paraphraser(t, rate, use_bn=False)
        self.translator = Translator(s, t, rate, use_bn=True)

    def init_loss(self, feat_s, feat_t):
        self._check_feats(feat_s, feat_t)
        _, reconstruction = self.paraphraser(feat_t[-2])
        return F.mse_loss(reconstruction, feat_t[-2])

    def distill(self, feat_s, feat_t, *_):
        with torch.no_grad():                          # the paraphraser is not optimised any more
            factor_t = self.paraphraser.encoder(feat_t[-2])
        return ft_loss(self.translator(feat_s[-2]), factor_t, self.p1, self.p2)

    def _trainable(self, stage):
        return [self.translator] if stage == "main" else [self.paraphraser]


class FSP(Distiller):
    """Flow of solution procedure on ``feat[:-1]``: the init stage trains the student's feature
    layers on :func:`fsp_loss` (student and teacher need equal channels at every map); the main
    stage is plain cross-entropy (official ``loss_kd = 0``), unless ``distill_in_main``."""
    name, default_beta, reads = "fsp", 50.0, "feat[:-1]"
    needs_init = init_trains_student_features = True

    def __init__(self, feat_s_shapes, feat_t_shapes, *, distill_in_main: bool = False, **weights):
        super().__init__(feat_s_shapes, feat_t_shapes, **weights)
        s_maps, t_maps = self._maps(slice(None, -1), "student"), self._maps(slice(None, -1), "teacher")
        if [s[0] for s in s_maps] != [t[0] for t in t_maps]:
            raise ValueError(f"FSP needs equal channels in student and teacher maps, got "
                             f"{[s[0] for s in s_maps]} and {[t[0] for t in t_maps]}")
        self.distill_in_main = bool(distill_in_main)

    def init_loss(self, feat_s, feat_t):
        self._check_feats(feat_s, feat_t)
        return fsp_loss(list(feat_s[:-1]), list(feat_t[:-1]))

    def distill(self, feat_s, feat_t, *_):
        return self.init_loss(feat_s, feat_t) if self.distill_in_main else _zero(feat_s)


class NST(Distiller):
    """Neuron selectivity transfer, :func:`nst_loss` (polynomial kernel) summed over ``feat[1:-1]``."""
    name, default_beta, reads = "nst", 50.0, "feat[1:-1]"

    def __init__(self, feat_s_shapes, feat_t_shapes, **weights):
        super().__init__(feat_s_shapes, feat_t_shapes, **weights)
        self._maps(slice(1, -1), "student"), self._maps(slice(1, -1), "teacher")

    def distill(self, feat_s, feat_t, *_):
        return sum(nst_loss(s, t) for s, t in zip(feat_s[1:-1], feat_t[1:-1]))


class CRD(Distiller):
    """Contrastive representation distillation, :class:`~reprobook.losses.crd.CRDLoss` on
    ``feat[-1]`` (``index`` the samples' dataset indices, ``sample_idx`` the class-aware rows)."""
    name, default_beta, reads = "crd", 0.8, "feat[-1]"

    def __init__(self, feat_s_shapes, feat_t_shapes, n_data: int | None = None, *, feat_dim: int = 128,
                 K: int = 16384, tau: float = 0.07, momentum: float = 0.5, z_momentum: float | None = None,
                 exclude_positive: bool = True, generator: torch.Generator | None = None, **weights):
        super().__init__(feat_s_shapes, feat_t_shapes, **weights)
        if n_data is None:
            raise ValueError("CRD needs n_data, the number of training samples (the memory banks' rows)")
        self.crd = CRDLoss(self._flat_dim(self.s_shapes[-1]), self._flat_dim(self.t_shapes[-1]), n_data,
                           feat_dim=feat_dim, K=K, tau=tau, momentum=momentum, z_momentum=z_momentum,
                           exclude_positive=exclude_positive, generator=generator)

    def distill(self, feat_s, feat_t, logit_s, logit_t, index, sample_idx, generator):
        if index is None:
            raise ValueError("CRD needs index, the batch's dataset indices (its rows in the memory banks)")
        return self.crd(feat_s[-1], feat_t[-1], index, sample_idx=sample_idx, generator=generator)

    def _trainable(self, stage):
        return [self.crd.embed_s, self.crd.embed_t] if stage == "main" else []


DISTILLERS: dict[str, type[Distiller]] = {
    cls.name: cls for cls in (KD, FitNet, AT, SP, CC, VID, RKD, PKT, AB, FT, FSP, NST, CRD)}
# the --distill names of the official train_student.py
OFFICIAL_NAMES = {"kd": "kd", "hint": "fitnet", "attention": "at", "similarity": "sp", "correlation": "cc",
                  "vid": "vid", "rkd": "rkd", "pkt": "pkt", "abound": "ab", "factor": "ft", "fsp": "fsp",
                  "nst": "nst", "crd": "crd"}


def build_distiller(name: str, feat_s_shapes, feat_t_shapes, n_data: int | None = None,
                    **overrides) -> Distiller:
    """The distiller ``name`` (a key of :data:`DISTILLERS` or an official ``--distill`` name) for
    a student and teacher whose ``model(x, is_feat=True)`` features have the given shapes, with
    the official defaults; ``overrides`` replace any keyword of its constructor (``beta``,
    ``gamma``, ``alpha``, ``kd_T``, and the distiller's own, e.g. ``T``, ``hint_layer``, ``K``).
    ``n_data`` (the training-set size) is required by CRD."""
    if not isinstance(name, str):
        raise TypeError(f"name must be a string, got {type(name).__name__}")
    key = OFFICIAL_NAMES.get(name.lower(), name.lower())
    if key not in DISTILLERS:
        raise ValueError(f"unknown distiller {name!r}; valid: {', '.join(DISTILLERS)} "
                         f"(or the official names {', '.join(k for k in OFFICIAL_NAMES if k not in DISTILLERS)})")
    cls = DISTILLERS[key]
    valid = {p.name for c in (cls, Distiller) for p in inspect.signature(c.__init__).parameters.values()
             if p.kind == p.KEYWORD_ONLY}
    unknown = sorted(set(overrides) - valid)
    if unknown:
        raise TypeError(f"unknown option(s) {', '.join(unknown)} for distiller {key!r}; "
                        f"valid: {', '.join(sorted(valid))}")
    if key == "crd":
        return cls(feat_s_shapes, feat_t_shapes, n_data, **overrides)
    return cls(feat_s_shapes, feat_t_shapes, **overrides)
