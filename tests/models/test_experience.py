"""EVF experience encoder: shapes, order invariance, masking, first/last-frame dependence."""
import pytest
import torch
from torch import nn

from reprobook.models.experience import ExperienceEncoder, tile_embedding

S = 32  # small frames keep the tests fast


def make(**kw):
    torch.manual_seed(0)
    kw.setdefault("image_size", S)
    return ExperienceEncoder(**kw)


def clips(B=2, K=3, T=4, C=3, H=S, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(B, K, T, C, H, H, generator=g)


def test_default_architecture_and_shapes():
    enc = ExperienceEncoder()                                   # official sizes: 64x64, 32/64/64/64, E = 5
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64, 64, 64]
    assert convs[0].in_channels == 6 and all(c.stride == (2, 2) for c in convs)
    # evf_model.py: conv1 5x5, conv2-4 3x3, SAME padding: 64 -> 32 -> 16 -> 8 -> 4
    assert [c.kernel_size for c in convs] == [(5, 5), (3, 3), (3, 3), (3, 3)]
    assert enc.feature_shape == (64, 4, 4) and enc.fc.out_features == 5
    with pytest.raises(ValueError, match="first_kernel_size"):
        ExperienceEncoder(first_kernel_size=4)
    x = clips(B=2, K=3, T=3, H=64)
    assert enc(x).shape == (2, 5)
    assert enc.embed_clips(x).shape == (2, 3, 5)


@pytest.mark.parametrize("kernel", [3, 4])
@pytest.mark.parametrize("B,K,T", [(1, 1, 2), (3, 2, 5)])
def test_shapes(kernel, B, K, T):
    enc = make(kernel_size=kernel, embedding_dim=7, channels=1)
    x = clips(B, K, T, C=1)
    assert enc(x).shape == (B, 7)
    assert enc(x, mask=torch.ones(B, K, dtype=torch.bool)).shape == (B, 7)


def test_layer_norm_over_chw():
    enc = make()
    lns = [m for m in enc.modules() if isinstance(m, nn.LayerNorm)]
    assert len(lns) == 4
    assert [tuple(ln.normalized_shape) for ln in lns] == [(32, 16, 16), (64, 8, 8), (64, 4, 4), (64, 2, 2)]
    # each LayerNorm directly follows a conv and precedes a ReLU
    mods = list(enc.convs)
    for i, m in enumerate(mods):
        if isinstance(m, nn.LayerNorm):
            assert isinstance(mods[i - 1], nn.Conv2d) and isinstance(mods[i + 1], nn.ReLU)


def test_order_invariance_over_clips():
    enc = make()
    x = clips(B=2, K=5)
    z = enc(x)
    for seed in range(3):
        perm = torch.randperm(5, generator=torch.Generator().manual_seed(seed))
        torch.testing.assert_close(enc(x[:, perm]), z, atol=1e-6, rtol=0)
        mask = torch.tensor([[True, False, True, True, False], [False, True, True, True, True]])
        torch.testing.assert_close(enc(x[:, perm], mask[:, perm]), enc(x, mask), atol=1e-6, rtol=0)


def test_mean_of_clip_embeddings_and_batch_independence():
    enc = make()
    x = clips(B=3, K=4)
    per_clip = enc.embed_clips(x)
    torch.testing.assert_close(enc(x), per_clip.mean(1))
    # an object's embedding does not depend on the other objects in the batch
    torch.testing.assert_close(enc(x[1:2]), enc(x)[1:2], atol=1e-6, rtol=0)


def test_masked_mean_uses_only_unmasked_clips():
    enc = make()
    x = clips(B=3, K=4)
    mask = torch.tensor([[True, False, True, False], [True, True, True, True], [False, False, False, True]])
    z = enc(x, mask)
    for b in range(3):
        keep = mask[b].nonzero().flatten()
        torch.testing.assert_close(z[b:b + 1], enc(x[b:b + 1, keep]), atol=1e-6, rtol=0)
    # garbage (even NaN) in masked-out clips changes nothing
    x2 = x.clone()
    x2[~mask] = float("nan")
    torch.testing.assert_close(enc(x2, mask), z, atol=0, rtol=0)


def test_only_first_and_last_frames_matter():
    enc = make()
    x = clips(B=2, K=2, T=6)
    z = enc(x)
    y = x.clone()
    y[:, :, 1:-1] = torch.randn_like(y[:, :, 1:-1]) * 10
    torch.testing.assert_close(enc(y), z, atol=0, rtol=0)
    # dropping the middle frames (T = 2) gives the same embedding
    torch.testing.assert_close(enc(x[:, :, [0, -1]]), z, atol=0, rtol=0)
    # but the first and the last frame each matter
    for t in (0, -1):
        w = x.clone()
        w[:, :, t] = torch.rand_like(w[:, :, t])
        assert not torch.allclose(enc(w), z)


def test_first_and_last_frame_are_not_interchangeable():
    enc = make()
    x = clips(B=1, K=2, T=3)
    assert not torch.allclose(enc(x.flip(2)), enc(x))


@pytest.mark.parametrize("bad,match", [
    (torch.rand(2, 3, 4, 3, S), "6-d"),                      # wrong ndim
    (torch.rand(2, 3, 1, 3, S, S), "at least 2 frames"),     # T < 2
    (torch.rand(2, 3, 4, 1, S, S), "frames must be"),        # wrong channels
    (torch.rand(2, 3, 4, 3, S + 2, S + 2), "frames must be"),  # wrong size
    (torch.zeros(2, 3, 4, 3, S, S, dtype=torch.uint8), "floating"),
    (torch.rand(2, 0, 4, 3, S, S), "K >= 1"),
])
def test_bad_clips(bad, match):
    enc = make()
    with pytest.raises(ValueError, match=match):
        enc(bad)


def test_bad_masks():
    enc = make()
    x = clips(B=2, K=3)
    with pytest.raises(ValueError, match="mask must be"):
        enc(x, torch.ones(2, 4, dtype=torch.bool))           # wrong shape
    with pytest.raises(ValueError, match="mask must be"):
        enc(x, torch.ones(2, 3))                             # not bool
    with pytest.raises(ValueError, match="mask must be"):
        enc(x, [[True] * 3] * 2)                             # not a tensor
    with pytest.raises(ValueError, match=r"mask rows \[1\]"):
        enc(x, torch.tensor([[True, False, False], [False, False, False]]))


def test_bad_constructor_args():
    for kw in (dict(widths=()), dict(widths=(32, 0)), dict(kernel_size=5), dict(embedding_dim=0),
               dict(channels=0), dict(image_size=1, widths=(8,) * 4, kernel_size=4)):
        with pytest.raises(ValueError):
            ExperienceEncoder(**kw)


def test_gradients_reach_every_parameter():
    enc = make()
    x = clips(B=2, K=3)
    mask = torch.tensor([[True, True, False], [False, True, True]])
    (enc(x, mask) ** 2).sum().backward()
    for name, p in enc.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


def test_tile_embedding():
    z = torch.randn(2, 5)
    t = tile_embedding(z, 7)
    assert t.shape == (2, 7, 5) and torch.equal(t[:, 3], z)
    s = tile_embedding(z, 4, 8, 8)
    assert s.shape == (2, 4, 5, 8, 8) and torch.equal(s[:, 2, :, 5, 1], z)
    with pytest.raises(ValueError):
        tile_embedding(z, 0)
    with pytest.raises(ValueError):
        tile_embedding(z, 3, 8)
    with pytest.raises(ValueError):
        tile_embedding(z[0], 3)
