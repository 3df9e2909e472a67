"""CMC's AlexNet-style encoder adapted to 32x32: the official half-width layout, shapes, errors."""
import pytest
import torch

from reprobook.models import AlexNetCMC, MultiviewEncoder, build_encoder


def test_half_width_has_the_official_channels():
    net = AlexNetCMC(width=0.5, in_channels=1)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convs] == [48, 128, 192, 192, 128]      # 96//2, 256//2, 384//2, ...
    assert [m.kernel_size for m in convs] == [(3, 3), (5, 5), (3, 3), (3, 3), (3, 3)]
    fcs = [m for m in net.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in fcs] == [(128 * 3 * 3, 2048), (2048, 2048)]
    assert net.feat_dim == 2048


def test_forward_shapes_for_each_view():
    enc = MultiviewEncoder({"name": "alexnet", "width": 0.125}, [1, 2], out_dim=16)
    l, ab = torch.randn(4, 1, 32, 32), torch.randn(4, 2, 32, 32)
    z = enc([l, ab])
    assert [t.shape for t in z] == [(4, 16), (4, 16)]
    assert torch.allclose(z[0].norm(dim=1), torch.ones(4), atol=1e-5)
    assert enc.features([l, ab]).shape == (4, 2 * 512)


def test_wrong_image_size_is_a_clear_error():
    net = build_encoder("alexnet", width=0.125, in_channels=3)
    with pytest.raises(ValueError, match="built for 32x32 images, got \\(64, 64\\)"):
        net(torch.randn(2, 3, 64, 64))
    with pytest.raises(ValueError, match="too small"):
        AlexNetCMC(image_size=6)
    with pytest.raises(ValueError, match="width must be positive"):
        AlexNetCMC(width=0)
