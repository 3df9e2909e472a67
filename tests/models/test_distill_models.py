"""CRD's teacher/student zoo (reprobook.models.zoo) against the official HobbitLong/RepDistiller models.

The reference numbers below were computed once by instantiating the official files
HobbitLong/RepDistiller models/*.py (resnet.py, resnetv2.py, wrn.py, vgg.py, mobilenetv2.py,
ShuffleNetv1.py, ShuffleNetv2.py) with ``num_classes=100`` on a (2, 3, 32, 32) input:
parameter count, ``is_feat=True`` feature shapes (without the batch), which ``preact=True`` features
differ from the ``preact=False`` ones (eval mode, BN statistics randomised as in ``_randomize_bn``),
a hash of the state-dict layout (sorted ``key:shape``, official ``.downsample.`` keys written as our
``.shortcut.``), the length of ``get_bn_before_relu()`` (None: raises) and of ``get_feat_modules()``.
"""
import hashlib
from typing import NamedTuple

import pytest
import torch
from torch import nn

from reprobook.models.zoo import MODELS, build_model


class Ref(NamedTuple):
    params: int
    feat_shapes: list
    preact_differs: str        # one char per feature: "1" if the preact=True version differs
    layout: str
    n_bn_before_relu: int | None
    n_feat_modules: int


R16 = [(16, 32, 32), (16, 32, 32), (32, 16, 16), (64, 8, 8), (64,)]
R32 = [(32, 32, 32), (64, 32, 32), (128, 16, 16), (256, 8, 8), (256,)]
W1 = R16
W2 = [(16, 32, 32), (32, 32, 32), (64, 16, 16), (128, 8, 8), (128,)]
VGG = [(64, 32, 32), (128, 16, 16), (256, 8, 8), (512, 4, 4), (512, 4, 4), (512,)]

# from HobbitLong/RepDistiller models/*.py (see the module docstring)
REFERENCE = {
    "resnet8": Ref(83892, R16, "01110", "a3159b12637c", 3, 6),
    "resnet14": Ref(181108, R16, "01110", "49a7db247361", 3, 6),
    "resnet20": Ref(278324, R16, "01110", "76eed8a403ad", 3, 6),
    "resnet32": Ref(472756, R16, "01110", "2bb1112666bf", 3, 6),
    "resnet44": Ref(667188, R16, "01110", "cbe9cd117102", 3, 6),
    "resnet56": Ref(861620, R16, "01110", "c2738ec57968", 3, 6),
    "resnet110": Ref(1736564, R16, "01110", "6388668cfc69", 3, 6),
    "resnet8x4": Ref(1233540, R32, "01110", "0b7422db2318", 3, 6),
    "resnet32x4": Ref(7433860, R32, "01110", "772093b940a5", 3, 6),
    "ResNet50": Ref(23705252, [(64, 32, 32), (256, 32, 32), (512, 16, 16), (1024, 8, 8), (2048, 4, 4), (2048,)],
                    "011110", "99813486061e", 4, 6),
    "wrn_16_1": Ref(180916, W1, "01110", "d63f675b4dae", 3, 4),
    "wrn_16_2": Ref(703284, W2, "01110", "672c19730a52", 3, 4),
    "wrn_40_1": Ref(569780, W1, "01110", "f518e61dec66", 3, 4),
    "wrn_40_2": Ref(2255156, W2, "01110", "9303544e45bf", 3, 4),
    "vgg8": Ref(3965028, VGG, "011110", "cccc6df644d9", 4, 10),
    "vgg11": Ref(9277284, VGG, "011110", "3cc7bd26e926", 4, 10),
    "vgg13": Ref(9462180, VGG, "011110", "85d262b0c680", 4, 10),
    "vgg16": Ref(14774436, VGG, "011110", "9fc34865c6bc", 4, 10),
    "vgg19": Ref(20086692, VGG, "011110", "d24385c16573", 4, 10),
    "MobileNetV2": Ref(812836, [(16, 16, 16), (12, 16, 16), (16, 8, 8), (48, 4, 4), (160, 2, 2), (1280,)],
                       "000000", "e33ad8ebac32", 4, 2),
    "ShuffleV1": Ref(949258, [(24, 32, 32), (240, 16, 16), (480, 8, 8), (960, 4, 4), (960,)],
                     "01110", "38b2972fbe8f", None, 5),
    "ShuffleV2": Ref(1355528, [(24, 32, 32), (116, 16, 16), (232, 8, 8), (464, 4, 4), (1024,)],
                     "01110", "8a87fab55985", None, 5),
}


def _randomize_bn(model: nn.Module, g: torch.Generator) -> None:
    """Non-trivial BN statistics and affine parameters, so eval-mode BNs are not near-identities."""
    for bn in model.modules():
        if isinstance(bn, nn.BatchNorm2d):
            c = bn.num_features
            bn.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
            bn.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            bn.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            bn.bias.data.copy_(torch.randn(c, generator=g) * 0.1)


def _classifier(model: nn.Module) -> nn.Module:
    for name in ("fc", "linear", "classifier"):
        if hasattr(model, name):
            return getattr(model, name)
    raise AttributeError("no classifier")


@pytest.fixture(scope="module", params=list(REFERENCE))
def run(request):
    """(name, model, logits, feats, preact feats) for each model, built once; eval mode, batch 2."""
    torch.manual_seed(0)
    model = build_model(request.param).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        _randomize_bn(model, torch.Generator().manual_seed(0))
        logits = model(x)
        feats, logits_feat = model(x, is_feat=True)
        pre, logits_pre = model(x, is_feat=True, preact=True)
    assert torch.equal(logits, logits_feat) and torch.equal(logits, logits_pre)
    return request.param, model, logits, feats, pre


def test_registry_has_exactly_the_official_names():
    assert list(MODELS) == list(REFERENCE)


def test_forward_gives_logits(run):
    _, _, logits, _, _ = run
    assert logits.shape == (2, 100)


def test_parameter_count_equals_official(run):
    name, model, _, _, _ = run
    assert sum(p.numel() for p in model.parameters()) == REFERENCE[name].params


def test_features_have_official_number_and_shapes(run):
    name, _, _, feats, pre = run
    ref = REFERENCE[name].feat_shapes
    assert [tuple(f.shape) for f in feats] == [(2, *s) for s in ref]
    assert [tuple(f.shape) for f in pre] == [(2, *s) for s in ref]


def test_preact_features_differ_where_official_differ(run):
    name, _, _, feats, pre = run
    differs = "".join("0" if torch.equal(a, b) else "1" for a, b in zip(feats, pre))
    assert differs == REFERENCE[name].preact_differs


def test_last_feature_is_the_classifier_input(run):
    _, model, logits, feats, _ = run
    assert feats[-1].shape == (2, model.feat_dim)
    with torch.no_grad():
        torch.testing.assert_close(_classifier(model)(feats[-1]), logits)


def test_state_dict_layout_equals_official(run):
    name, model, _, _, _ = run
    lines = sorted(f"{k}:{tuple(v.shape)}" for k, v in model.state_dict().items())
    assert hashlib.sha1("\n".join(lines).encode()).hexdigest()[:12] == REFERENCE[name].layout


def test_distiller_hooks_as_official(run):
    name, model, _, _, _ = run
    ref = REFERENCE[name]
    assert isinstance(model.get_feat_modules(), nn.ModuleList)
    assert len(model.get_feat_modules()) == ref.n_feat_modules
    if ref.n_bn_before_relu is None:
        with pytest.raises(NotImplementedError):
            model.get_bn_before_relu()
    else:
        bns = model.get_bn_before_relu()
        assert len(bns) == ref.n_bn_before_relu and all(isinstance(b, nn.BatchNorm2d) for b in bns)


def test_official_resnet_checkpoint_keys_load():
    """Official CIFAR-ResNet checkpoints name the projection shortcut ``downsample``."""
    src = build_model("resnet8x4", num_classes=10)
    official = {k.replace(".shortcut.", ".downsample."): v for k, v in src.state_dict().items()}
    assert any(".downsample." in k for k in official)
    dst = build_model("resnet8x4", num_classes=10)
    dst.load_state_dict(official, strict=True)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(dst.eval()(x), src.eval()(x))


def test_num_classes_and_unknown_name():
    assert build_model("wrn_16_1", num_classes=10)(torch.randn(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="unknown model 'resnet18'.*resnet8, .*ShuffleV2"):
        build_model("resnet18")
