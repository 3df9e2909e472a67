"""ResNet-12 with DropBlock, and the four-layer ConvNet, as in RFS (Tian et al. 2020).

Transcribed from WangYueFt/rfs ``models/resnet.py`` (``resnet12``, ``BasicBlock``,
``DropBlock``), ``models/util.py`` (``create_model``) and ``models/convnet.py``:

- four residual blocks of 64 / 160 / 320 / 640 channels; each block is three
  conv3x3-BN, LeakyReLU(0.1) after the first two, a shortcut conv1x1 (stride 1)-BN added
  before the last LeakyReLU, then MaxPool2d(2) (32x32 -> 2x2, 84x84 -> 5x5);
- regularisation after each block's pool, with ``drop_rate = 0.1``: plain dropout in blocks
  1-2, DropBlock in blocks 3-4 with block size 2 on CIFAR-FS/FC100 and 5 on
  mini/tieredImageNet (``create_model``'s ``dropblock_size``);
- DropBlock's keep rate is annealed linearly from 1 to ``1 - drop_rate`` over 40,000 forward
  passes of the block (``keep_rate = max(1 - drop_rate / (20 * 2000) * step, 1 - drop_rate)``),
  and ``gamma = (1 - keep_rate) / bs**2 * H**2 / (H - bs + 1)**2`` seeds are drawn per position
  of the valid ``(H - bs + 1)**2`` region; the official way of filling the blocks leaves them
  partly filled when the number of seeds shares a factor with ``bs**2`` (see :class:`DropBlock`;
  ``dropblock_mask="official"``, the default, reproduces it, ``"full"`` drops whole blocks);
- global average pooling to 640 features, optional linear classifier;
- Kaiming-normal (fan_out, leaky_relu) conv init, BN weight 1 and bias 0.

One difference: the official step counter is a Python attribute that also counts eval-mode
forward passes (validation) and is lost with the checkpoint; here it is a buffer that counts
training-mode passes only and is saved in the state dict (official checkpoints, without it,
still load: the counter then starts at 0). Counting fewer passes anneals more slowly per epoch;
book/06-rfs passes a shorter ``anneal_steps`` to reach the full rate at the official epoch
(:data:`reprobook.chapters.rfs.PAPER_ANNEAL_STEPS`).
"""
from __future__ import annotations

import torch
from torch import nn
import torch.nn.functional as F

#: forward passes over which the official DropBlock keep rate is annealed (``20 * 2000``)
DROPBLOCK_ANNEAL_STEPS = 20 * 2000


def dropblock_gamma(keep_rate, block_size: int, feat_size: int):
    """Seed probability of DropBlock (Ghiasi et al. 2018, eq. 1; rfs ``BasicBlock.forward``).

    ``gamma = (1 - keep_rate) / block_size**2 * feat_size**2 / (feat_size - block_size + 1)**2``.
    """
    return (1 - keep_rate) / block_size ** 2 * feat_size ** 2 / (feat_size - block_size + 1) ** 2


DROPBLOCK_MASKS = ("official", "full")


class DropBlock(nn.Module):
    """Drops ``block_size x block_size`` squares of each feature map (rfs ``DropBlock``).

    ``forward(x, gamma)``: ``x`` ``(B, C, H, W)``; in training mode seeds are Bernoulli(gamma)
    on the ``(H - bs + 1, W - bs + 1)`` positions where a whole block fits, each seed zeroes
    the block whose top-left corner it is, and the output is rescaled by
    ``numel / (number of kept positions)``. Identity in eval mode.

    ``mask="official"`` reproduces how rfs ``_compute_block_mask`` fills the blocks: it pairs
    the list of K seeds (row-major order over the whole tensor) repeated ``bs**2`` times with the
    list of ``bs**2`` offsets repeated K times, element by element, so seed number ``a`` only
    gets the offsets ``b`` (row-major in the block) with ``a = b (mod gcd(K, bs**2))``, plus
    the cell ``((bs - 1) // 2, (bs - 1) // 2)`` of its block, where the seed itself sits in the
    padded seed mask. When K shares a factor with ``bs**2`` (an even K for ``bs = 2``) the
    blocks are therefore partly filled (for ``bs = 2``: three of the four cells when
    ``gcd = 2``, two when it is 4). ``mask="full"`` drops whole blocks, as DropBlock (Ghiasi
    et al. 2018) intends.
    """

    def __init__(self, block_size: int, mask: str = "official"):
        super().__init__()
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise ValueError(f"block_size must be a positive integer, got {block_size!r}")
        if mask not in DROPBLOCK_MASKS:
            raise ValueError(f"unknown DropBlock mask {mask!r}; valid: {', '.join(DROPBLOCK_MASKS)}")
        self.block_size = block_size
        self.mask = mask

    def block_mask(self, seeds: torch.Tensor) -> torch.Tensor:
        """``seeds`` ``(B, C, H - bs + 1, W - bs + 1)`` of 0/1 -> keep mask ``(B, C, H, W)`` of 0/1.

        ``full``: position ``(i, j)`` is dropped when a seed lies in ``[i - bs + 1, i] x [j - bs + 1, j]``
        (a max-pool of the seeds padded by ``bs - 1``). ``official``: see the class docstring.
        """
        bs = self.block_size
        if self.mask == "full":
            return 1 - F.max_pool2d(F.pad(seeds, (bs - 1,) * 4), bs, stride=1)
        b, c, hs, ws = seeds.shape
        on = seeds.reshape(-1).long()
        rank = on.cumsum(0) - 1                                     # index of each seed in nonzero() order
        g = torch.gcd(on.sum(), torch.tensor(bs * bs, device=on.device))
        residue = (rank % g).view(b, c, hs, ws)
        dropped = seeds.new_zeros(b, c, hs + bs - 1, ws + bs - 1)
        for k in range(bs * bs):                                    # offset k = (k // bs, k % bs)
            di, dj = divmod(k, bs)
            sel = seeds * (residue == k % g).to(seeds.dtype)
            region = dropped[:, :, di:di + hs, dj:dj + ws]
            dropped[:, :, di:di + hs, dj:dj + ws] = torch.maximum(region, sel)
        left = (bs - 1) // 2                                        # the seed itself stays in the padded mask
        region = dropped[:, :, left:left + hs, left:left + ws]
        dropped[:, :, left:left + hs, left:left + ws] = torch.maximum(region, seeds)
        return 1 - dropped

    def forward(self, x: torch.Tensor, gamma) -> torch.Tensor:
        if not self.training:
            return x
        b, c, h, w = x.shape
        bs = self.block_size
        if h < bs or w < bs:
            raise ValueError(f"DropBlock block_size {bs} is larger than the feature map {h}x{w}")
        seeds = (torch.rand(b, c, h - bs + 1, w - bs + 1, device=x.device) < gamma).to(x.dtype)
        mask = self.block_mask(seeds)
        return x * mask * (mask.numel() / mask.sum().clamp_min(1))


class ResNet12Block(nn.Module):
    """Three conv3x3-BN (LeakyReLU 0.1 between), a conv1x1-BN shortcut, LeakyReLU, max-pool 2, then
    dropout (``drop_block=False``) or DropBlock: ``(B, cin, H, W) -> (B, planes, H // 2, W // 2)``.

    Parameter names follow rfs ``BasicBlock`` (``conv1``..``bn3``, ``downsample``) so official
    checkpoints load.
    """

    def __init__(self, cin: int, planes: int, drop_rate: float = 0.0, drop_block: bool = False,
                 block_size: int = 1, anneal_steps: int = DROPBLOCK_ANNEAL_STEPS,
                 dropblock_mask: str = "official"):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.relu = nn.LeakyReLU(0.1)
        self.maxpool = nn.MaxPool2d(2)
        self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, 1, bias=False), nn.BatchNorm2d(planes))
        self.drop_rate = float(drop_rate)
        self.drop_block = bool(drop_block)
        self.block_size = int(block_size)
        self.anneal_steps = int(anneal_steps)
        self.dropblock = DropBlock(self.block_size, dropblock_mask)
        self.register_buffer("drop_step", torch.zeros((), dtype=torch.long))   # training forward passes

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.setdefault(prefix + "drop_step", torch.zeros((), dtype=torch.long))  # official checkpoints
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def keep_rate(self) -> torch.Tensor:
        """The DropBlock keep rate at the current step: 1 annealed linearly to ``1 - drop_rate``."""
        step = self.drop_step.float()
        return (1.0 - self.drop_rate / self.anneal_steps * step).clamp_min(1.0 - self.drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = self.maxpool(self.relu(out + self.downsample(x)))
        if self.drop_rate > 0 and self.training:
            self.drop_step += 1
            if self.drop_block:
                gamma = dropblock_gamma(self.keep_rate(), self.block_size, out.shape[2])
                out = self.dropblock(out, gamma)
            else:
                out = F.dropout(out, p=self.drop_rate, training=True)
        return out


class ResNet12(nn.Module):
    """ResNet-12 of RFS: ``(B, 3, H, W) -> (B, 640)`` features, or ``(B, num_classes)`` logits.

    ``channels`` 64/160/320/640; ``drop_rate`` 0.1 (dropout after blocks 1-2, DropBlock after
    blocks 3-4 with ``dropblock_size``: 2 for CIFAR-FS/FC100, the default here, 5 for
    miniImageNet; ``dropblock_mask`` ``"official"`` or ``"full"``, see :class:`DropBlock`).
    ``num_classes`` > 0 adds ``classifier = Linear(640, num_classes)``.
    ``forward(x)`` returns the logits when there is a classifier, else the pooled features;
    ``forward(x, is_feat=True)`` returns ``([f1, f2, f3, f4, pooled], out)`` with the four
    block outputs, as the official model (``preact`` exists for the distillation recipe's call,
    :func:`reprobook.train.fit_distill`, and must be False). :meth:`embed` always returns the pooled features.
    """

    def __init__(self, num_classes: int = 0, drop_rate: float = 0.1, dropblock_size: int = 2,
                 channels: tuple[int, ...] = (64, 160, 320, 640), in_channels: int = 3,
                 anneal_steps: int = DROPBLOCK_ANNEAL_STEPS, dropblock_mask: str = "official"):
        super().__init__()
        if len(channels) != 4:
            raise ValueError(f"channels must list the 4 block widths, got {channels}")
        if not 0 <= drop_rate < 1:
            raise ValueError(f"drop_rate must be in [0, 1), got {drop_rate}")
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be a non-negative integer (0: no classifier), got {num_classes!r}")
        cins = (in_channels,) + tuple(channels[:-1])
        for k, (cin, planes) in enumerate(zip(cins, channels), start=1):
            block = ResNet12Block(cin, planes, drop_rate, drop_block=k >= 3,
                                  block_size=dropblock_size if k >= 3 else 1, anneal_steps=anneal_steps,
                                  dropblock_mask=dropblock_mask)
            setattr(self, f"layer{k}", nn.Sequential(block))       # official names: layerK.0.conv1 ...
        self.feat_dim = channels[-1]
        self.num_classes = num_classes
        _official_init(self, "leaky_relu")
        if num_classes > 0:
            self.classifier = nn.Linear(self.feat_dim, num_classes)

    def _blocks(self, x):
        feats = []
        for layer in (self.layer1, self.layer2, self.layer3, self.layer4):
            x = layer(x)
            feats.append(x)
        return feats

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, feat_dim)``."""
        return torch.flatten(F.adaptive_avg_pool2d(self._blocks(x)[-1], 1), 1)

    def forward(self, x: torch.Tensor, is_feat: bool = False, preact: bool = False):
        if preact:
            raise ValueError(f"{type(self).__name__} has no pre-activation features (preact=True is for the "
                             f"distillers that read them, e.g. AB and FSP)")
        feats = self._blocks(x)
        pooled = torch.flatten(F.adaptive_avg_pool2d(feats[-1], 1), 1)     # (B, feat_dim)
        out = self.classifier(pooled) if self.num_classes > 0 else pooled
        return (feats + [pooled], out) if is_feat else out


def _official_init(model: nn.Module, nonlinearity: str) -> None:
    """rfs' initialisation: Kaiming-normal convolutions (fan_out), batch norms at weight 1, bias 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity=nonlinearity)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def resnet12(**kw) -> ResNet12:
    """:class:`ResNet12` with the CIFAR-FS/FC100 settings unless overridden (``dropblock_size=5`` for miniImageNet)."""
    return ResNet12(**kw)


class Conv4(nn.Module):
    """The four-layer ConvNet of rfs ``models/convnet.py`` (for smoke runs): ``(B, 3, H, W) -> (B, 64)``.

    Four conv3x3 (with bias)-BN-ReLU layers of ``width`` (64) channels, max-pool 2 after the
    first three (32x32 -> 4x4), then global average pooling (the official ``ConvNet`` has no
    pool after layer 4). ``num_classes``, ``forward(x, is_feat=False)`` and :meth:`embed` as in
    :class:`ResNet12`.
    """

    def __init__(self, num_classes: int = 0, width: int = 64, in_channels: int = 3):
        super().__init__()
        if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(f"num_classes must be a non-negative integer (0: no classifier), got {num_classes!r}")
        cins = (in_channels, width, width, width)
        for k, cin in enumerate(cins, start=1):
            layers = [nn.Conv2d(cin, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU()]
            setattr(self, f"layer{k}", nn.Sequential(*layers, *([nn.MaxPool2d(2)] if k < 4 else [])))
        self.feat_dim = width
        self.num_classes = num_classes
        _official_init(self, "relu")
        if num_classes > 0:
            self.classifier = nn.Linear(width, num_classes)

    _blocks = ResNet12._blocks
    embed = ResNet12.embed
    forward = ResNet12.forward
