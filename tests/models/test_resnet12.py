"""ResNet-12 and Conv4 of RFS (models/resnet.py, models/convnet.py): layout, DropBlock, errors."""
import numpy as np
import pytest
import torch
from torch import nn
import torch.nn.functional as F

from reprobook.models.resnet12 import (DROPBLOCK_ANNEAL_STEPS, Conv4, DropBlock, ResNet12, ResNet12Block,
                                       dropblock_gamma, resnet12)


# --- the official layout, transcribed from rfs models/resnet.py (eval-mode forward) ----------------

class _OfficialBlock(nn.Module):
    def __init__(self, inplanes, planes):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.LeakyReLU(0.1)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.maxpool = nn.MaxPool2d(2)
        self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, kernel_size=1, stride=1, bias=False),
                                        nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        out = out + self.downsample(x)
        return self.maxpool(self.relu(out))


class _OfficialResNet12(nn.Module):
    def __init__(self, num_classes=64):
        super().__init__()
        inplanes = 3
        for k, planes in enumerate((64, 160, 320, 640), start=1):
            setattr(self, f"layer{k}", nn.Sequential(_OfficialBlock(inplanes, planes)))
            inplanes = planes
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(640, num_classes)

    def forward(self, x):
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.classifier(self.avgpool(x).view(x.size(0), -1))


def _official_block_mask(mask, block_size):
    """rfs DropBlock._compute_block_mask, on the CPU."""
    left_padding, right_padding = int((block_size - 1) / 2), int(block_size / 2)
    non_zero_idxs = mask.nonzero()
    nr_blocks = non_zero_idxs.shape[0]
    offsets = torch.stack([torch.arange(block_size).view(-1, 1).expand(block_size, block_size).reshape(-1),
                           torch.arange(block_size).repeat(block_size)]).t()
    offsets = torch.cat((torch.zeros(block_size ** 2, 2).long(), offsets.long()), 1)
    padded_mask = F.pad(mask, (left_padding, right_padding, left_padding, right_padding))
    if nr_blocks > 0:
        non_zero_idxs = non_zero_idxs.repeat(block_size ** 2, 1)
        offsets = offsets.repeat(nr_blocks, 1).view(-1, 4).long()
        block_idxs = non_zero_idxs + offsets
        padded_mask[block_idxs[:, 0], block_idxs[:, 1], block_idxs[:, 2], block_idxs[:, 3]] = 1.
    return 1 - padded_mask


# --- shapes and layout --------------------------------------------------------------------------

def test_resnet12_shapes_features_and_logits():
    x = torch.randn(2, 3, 32, 32)
    backbone = resnet12().eval()
    assert backbone.feat_dim == 640 and backbone(x).shape == (2, 640)
    model = ResNet12(num_classes=64).eval()
    feats, logits = model(x, is_feat=True)
    assert [tuple(f.shape) for f in feats] == [(2, 64, 16, 16), (2, 160, 8, 8), (2, 320, 4, 4), (2, 640, 2, 2),
                                               (2, 640)]
    assert logits.shape == (2, 64) and model(x).shape == (2, 64)
    assert torch.allclose(model.embed(x), feats[-1]) and torch.allclose(model.classifier(feats[-1]), logits)


def test_parameter_count_and_weights_match_the_official_layout():
    official = _OfficialResNet12(64).eval()
    ours = ResNet12(num_classes=64).eval()
    count = sum(p.numel() for p in ours.parameters())
    assert count == sum(p.numel() for p in official.parameters()) == 12_465_344     # ~12.4M with a 64-way head
    assert sum(p.numel() for p in ResNet12().parameters()) == count - (640 * 64 + 64)
    # an official checkpoint (no DropBlock step counter) loads strictly, and computes the same function
    missing = ours.load_state_dict(official.state_dict(), strict=True)
    assert not missing.missing_keys and not missing.unexpected_keys
    assert int(ours.layer3[0].drop_step) == 0
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(ours(x), official(x), atol=1e-5)


def test_init_is_official():
    m = ResNet12()
    conv = m.layer2[0].conv2.weight                                   # fan_out = 160 * 9, leaky_relu gain sqrt(2)
    assert conv.std().item() == pytest.approx(np.sqrt(2 / (160 * 9)), rel=0.05)
    assert (m.layer2[0].bn1.weight == 1).all() and (m.layer2[0].bn1.bias == 0).all()
    assert isinstance(m.layer1[0].relu, nn.LeakyReLU) and m.layer1[0].relu.negative_slope == 0.1


def test_regularisation_is_dropout_then_dropblock_with_the_cifar_block_size():
    m = ResNet12()
    assert [m.layer1[0].drop_block, m.layer2[0].drop_block, m.layer3[0].drop_block, m.layer4[0].drop_block] \
        == [False, False, True, True]
    assert m.layer3[0].block_size == m.layer4[0].block_size == 2 and m.layer3[0].drop_rate == 0.1
    assert ResNet12(dropblock_size=5).layer4[0].dropblock.block_size == 5      # miniImageNet
    assert m.layer4[0].dropblock.mask == "official"


def test_eval_mode_is_deterministic_and_train_mode_counts_steps():
    m = ResNet12(channels=(8, 8, 8, 8))
    x = torch.randn(2, 3, 32, 32)
    m.eval()
    with torch.no_grad():
        assert torch.equal(m(x), m(x))
    assert int(m.layer3[0].drop_step) == 0                            # eval passes are not counted
    m.train()
    m(x)
    m(x)
    assert [int(getattr(m, f"layer{k}")[0].drop_step) for k in range(1, 5)] == [2, 2, 2, 2]
    assert "layer3.0.drop_step" in m.state_dict()                     # resumes with the schedule


# --- DropBlock ----------------------------------------------------------------------------------

def test_keep_rate_is_annealed_linearly_over_40000_steps():
    block = ResNet12Block(3, 4, drop_rate=0.1, drop_block=True, block_size=2)
    assert DROPBLOCK_ANNEAL_STEPS == 40_000
    for step, keep in [(0, 1.0), (1, 1 - 0.1 / 40_000), (20_000, 0.95), (40_000, 0.9), (100_000, 0.9)]:
        block.drop_step.fill_(step)
        assert block.keep_rate().item() == pytest.approx(keep, abs=1e-7)
    assert dropblock_gamma(0.9, 2, 4) == pytest.approx(0.1 / 4 * 16 / 9)
    assert dropblock_gamma(0.9, 5, 10) == pytest.approx(0.1 / 25 * 100 / 36)


def _seeds_with_count(shape, k, seed):
    """0/1 seeds of ``shape`` with exactly ``k`` ones at random places."""
    g = torch.Generator().manual_seed(seed)
    flat = torch.zeros(int(np.prod(shape)))
    flat[torch.randperm(flat.numel(), generator=g)[:k]] = 1
    return flat.view(shape)


@pytest.mark.parametrize("block_size", [1, 2, 3, 5])
@pytest.mark.parametrize("n_seeds", [0, 1, 7, 12, 18, 25, 36, 50, 400])
def test_official_block_mask_matches_the_official_algorithm(block_size, n_seeds):
    h = 9
    seeds = _seeds_with_count((3, 4, h - block_size + 1, h - block_size + 1), n_seeds, seed=n_seeds + block_size)
    ours = DropBlock(block_size).block_mask(seeds)
    assert ours.shape == (3, 4, h, h)
    assert torch.equal(ours, _official_block_mask(seeds.clone(), block_size))


@pytest.mark.parametrize("block_size", [1, 2, 3, 5])
def test_full_block_mask_drops_whole_blocks(block_size):
    h = 9
    seeds = _seeds_with_count((2, 3, h - block_size + 1, h - block_size + 1), 12, seed=block_size)
    ours = DropBlock(block_size, mask="full").block_mask(seeds)
    expected = torch.ones(2, 3, h, h)
    for b, c, i, j in seeds.nonzero().tolist():
        expected[b, c, i:i + block_size, j:j + block_size] = 0
    assert torch.equal(ours, expected)
    # with a seed count coprime to bs**2 the official fill is the full one
    odd = _seeds_with_count((2, 3, h - block_size + 1, h - block_size + 1), 13 if block_size != 13 else 11, seed=1)
    assert torch.equal(DropBlock(block_size).block_mask(odd), DropBlock(block_size, mask="full").block_mask(odd))


def test_official_fill_is_partial_when_the_seed_count_shares_a_factor():
    seeds = torch.zeros(1, 1, 5, 5)
    seeds[0, 0, 0, 0] = seeds[0, 0, 3, 3] = 1                        # K = 2, bs**2 = 4: gcd 2
    dropped = 1 - DropBlock(2).block_mask(seeds)[0, 0]
    # seed 0: offsets (0,0), (1,0); seed 1: offsets (0,1), (1,1) and its own cell (0,0): 5 cells, not 8
    assert dropped.sum() == 5
    assert dropped[0:2, 0].all() and dropped[3:5, 4].all() and dropped[3, 3]


def _expected_full_fraction(gamma, size, bs):
    """Exact expected dropped fraction of full DropBlock: position p is covered by
    n(p) = #{i in [p - bs + 1, p], 0 <= i <= size - bs} seeds per axis."""
    n = np.array([min(p, size - bs) - max(0, p - bs + 1) + 1 for p in range(size)])
    return 1 - np.mean((1 - gamma) ** np.outer(n, n))


def test_dropblock_is_identity_in_eval_and_drops_the_expected_fraction_in_train():
    x = torch.ones(64, 64, 12, 12)
    assert DropBlock(2).eval()(x, 0.5) is x
    gamma = dropblock_gamma(0.9, 2, 12)
    out = DropBlock(2, mask="full").train()(x, gamma)
    frac = (out == 0).float().mean().item()
    assert frac == pytest.approx(_expected_full_fraction(gamma, 12, 2), abs=0.005)
    assert frac == pytest.approx(0.1, abs=0.02)                      # about 1 - keep_rate
    assert out.sum().item() == pytest.approx(x.numel(), rel=1e-5)    # rescaled to keep the mean
    assert ((out == 0) | (out > 1)).all()
    official = DropBlock(2).train()(x, gamma)                         # partial blocks: never more
    assert 0.02 < (official == 0).float().mean().item() <= frac + 0.005
    assert official.sum().item() == pytest.approx(x.numel(), rel=1e-5)


def test_dropblock_in_a_block_after_annealing():
    block = ResNet12Block(8, 64, drop_rate=0.1, drop_block=True, block_size=2, dropblock_mask="full").train()
    block.drop_step.fill_(10 ** 6)
    out = block(torch.randn(64, 8, 16, 16))
    expected = _expected_full_fraction(dropblock_gamma(0.9, 2, 8), 8, 2)
    assert (out == 0).float().mean().item() == pytest.approx(expected, abs=0.01)
    early = ResNet12Block(8, 64, drop_rate=0.1, drop_block=True, block_size=2).train()
    assert (early(torch.randn(64, 8, 16, 16)) == 0).float().mean().item() < 1e-3   # step 1: keep ~ 1


# --- Conv4 ------------------------------------------------------------------------------------

def test_conv4_shapes_and_official_parameter_count():
    m = Conv4(num_classes=64).eval()
    x = torch.randn(2, 3, 32, 32)
    feats, logits = m(x, is_feat=True)
    assert [tuple(f.shape) for f in feats] == [(2, 64, 16, 16), (2, 64, 8, 8), (2, 64, 4, 4), (2, 64, 4, 4), (2, 64)]
    assert logits.shape == (2, 64) and m.feat_dim == 64 and Conv4().eval()(x).shape == (2, 64)
    conv = 3 * 64 * 9 + 64 + 3 * (64 * 64 * 9 + 64)
    assert sum(p.numel() for p in Conv4().parameters()) == conv + 4 * 2 * 64


# --- errors -----------------------------------------------------------------------------------

def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="4 block widths"):
        ResNet12(channels=(64, 160, 320))
    with pytest.raises(ValueError, match=r"drop_rate must be in \[0, 1\)"):
        ResNet12(drop_rate=1.0)
    with pytest.raises(ValueError, match="num_classes must be a non-negative integer"):
        ResNet12(num_classes=-1)
    with pytest.raises(ValueError, match="num_classes must be a non-negative integer"):
        Conv4(num_classes=2.5)
    with pytest.raises(ValueError, match="block_size must be a positive integer"):
        DropBlock(0)
    with pytest.raises(ValueError, match="unknown DropBlock mask 'half'.*official, full"):
        ResNet12(dropblock_mask="half")
    with pytest.raises(ValueError, match="block_size 5 is larger than the feature map 2x2"):
        DropBlock(5).train()(torch.ones(1, 1, 2, 2), 0.1)


def test_the_distillation_recipes_call_is_accepted_and_preact_refused():
    """fit_distill calls model(x, is_feat=True, preact=False); there are no pre-activation features."""
    for model in (ResNet12(num_classes=4), Conv4(num_classes=4)):
        feats, logits = model(torch.zeros(2, 3, 32, 32), is_feat=True, preact=False)
        assert logits.shape == (2, 4) and feats[-1].shape == (2, model.feat_dim)
        with pytest.raises(ValueError, match="no pre-activation features"):
            model(torch.zeros(2, 3, 32, 32), is_feat=True, preact=True)
