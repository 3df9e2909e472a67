"""DCGAN training (book/07-gan-steerability): the losses are DCGAN's, augmentation edits the real
batch, and joint training moves the walk and the generator together (Sec. 4.4)."""
import math

import pytest
import torch
import torch.nn.functional as F

from reprobook.models.dcgan import Discriminator, Generator
from reprobook.steer import EDITS, LinearWalk, edit_alpha, walk_loss
from reprobook.train.gan import JointWalk, edit_augment, to_signed, train_dcgan


def _images(n=32, seed=0):
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def _models(seed=0):
    torch.manual_seed(seed)
    return Generator(nz=8, ngf=4, size=32), Discriminator(ndf=4, size=32)


def test_to_signed_maps_uint8_to_the_generators_range():
    x = torch.tensor([0, 255, 128], dtype=torch.uint8).view(1, 3, 1, 1)
    assert torch.allclose(to_signed(x).flatten(), torch.tensor([-1.0, 1.0, 128 / 127.5 - 1]), atol=1e-6)
    with pytest.raises(TypeError):
        to_signed(torch.zeros(1, 3, 2, 2, dtype=torch.int64))


def test_first_step_losses_are_dcgans_and_training_is_reproducible():
    images = _images()
    G, D = _models()
    G0, D0 = _models()
    h = train_dcgan(G, D, images, steps=1, batch_size=8, generator=torch.Generator().manual_seed(3), progress=False)
    # transcription of step 1 with the initial weights: the same batch and codes from the generator
    g = torch.Generator().manual_seed(3)
    idx = torch.randperm(32, generator=g)[:8]
    real = images[idx].float() / 127.5 - 1
    z = torch.randn(8, 8, generator=g)
    G0.train(); D0.train()
    d_real, d_fake = torch.sigmoid(D0(real)), torch.sigmoid(D0(G0(z)))
    d_loss = -(torch.log(d_real).mean() + torch.log(1 - d_fake).mean())
    assert h.d_loss[0] == pytest.approx(d_loss.item(), rel=1e-5)
    assert h.d_real[0] == pytest.approx(d_real.mean().item(), rel=1e-5)
    G2, D2 = _models()
    h2 = train_dcgan(G2, D2, images, steps=1, batch_size=8, generator=torch.Generator().manual_seed(3), progress=False)
    assert h2.as_dict() == h.as_dict() and not G.training


def test_edit_augment_edits_a_fraction_p_of_the_batch():
    x = torch.rand(64, 3, 8, 8) * 2 - 1
    aug = edit_augment(EDITS["brightness"], lambda b, g=None: torch.full((b,), 0.25), p=0.5)
    y = aug(x, torch.Generator().manual_seed(0))
    moved = ~torch.isclose(y, x).flatten(1).all(dim=1)
    assert torch.allclose(y[moved], x[moved] + 0.25) and 16 < int(moved.sum()) < 48
    assert torch.equal(edit_augment(EDITS["brightness"], lambda b, g=None: torch.full((b,), 0.25), p=0.0)(x), x)
    with pytest.raises(ValueError):
        edit_augment(EDITS["brightness"], lambda b, g=None: 0.0, p=1.5)


def test_joint_training_moves_the_walk_and_records_eq1():
    images = _images()
    G, D = _models()
    walk = LinearWalk(8, 1, generator=torch.Generator().manual_seed(1))
    w0 = walk.w.detach().clone()
    joint = JointWalk(walk, EDITS["brightness"], edit_alpha("brightness"), lam=10.0, lr=1e-2)
    h = train_dcgan(G, D, images, steps=3, batch_size=8, generator=torch.Generator().manual_seed(0), joint=joint,
                    progress=False)
    assert len(h.edit_loss) == 3 and all(math.isfinite(v) for v in h.edit_loss)
    assert not torch.equal(walk.w, w0)
    assert (walk.w.detach() - w0).abs().max().item() == pytest.approx(3e-2, rel=0.05)   # Adam: ~lr a step


def test_bad_arguments_are_named():
    G, D = _models()
    with pytest.raises(ValueError, match="steps"):
        train_dcgan(G, D, _images(), steps=0, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        train_dcgan(G, D, _images(4), steps=1, batch_size=8, progress=False)
    with pytest.raises(ValueError, match="lam"):
        JointWalk(LinearWalk(8), EDITS["zoom"], edit_alpha("zoom"), lam=-1)


def test_a_non_finite_loss_stops_before_the_weights_move_and_leaves_eval_mode():
    G, D = _models()
    before = {k: v.clone() for k, v in G.state_dict().items()}
    bad = torch.full((8, 3, 32, 32), float("nan"))
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):                # NaN images are refused up front
        train_dcgan(G, D, bad, steps=1, batch_size=4, progress=False)
    huge = torch.zeros(8, 3, 32, 32)
    D.main[-1].weight.data.fill_(float("inf"))                          # a D whose logits are not finite
    with pytest.raises(FloatingPointError, match="D loss"):
        train_dcgan(G, D, huge, steps=1, batch_size=4, progress=False)
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items() if v.is_floating_point()
               and not k.endswith(("running_mean", "running_var")))
    assert not G.training and not D.training


def test_float_images_outside_the_generators_range_are_refused():
    with pytest.raises(ValueError, match="x / 127.5 - 1"):
        to_signed(torch.full((1, 3, 2, 2), 200.0))


def test_joint_training_is_the_official_objective():
    """D sees the walked images as fakes; G and the walk minimise g_loss + g_loss_new + λ L2."""
    images = _images()
    G, D = _models()
    walk = LinearWalk(8, 1, generator=torch.Generator().manual_seed(1))
    joint = JointWalk(walk, EDITS["brightness"], edit_alpha("brightness"), lam=1.0, lr=1e-2)
    h = train_dcgan(G, D, images, steps=1, batch_size=8, generator=torch.Generator().manual_seed(0), joint=joint,
                    progress=False)
    G0, D0 = _models()
    w0 = LinearWalk(8, 1, generator=torch.Generator().manual_seed(1))
    g = torch.Generator().manual_seed(0)
    idx = torch.randperm(32, generator=g)[:8]
    real = images[idx].float() / 127.5 - 1
    z = torch.randn(8, 8, generator=g)
    alpha = edit_alpha("brightness")(8, g)
    G0.train(); D0.train()
    with torch.no_grad():
        walked = G0(w0(z, alpha))
        d_loss = (F.binary_cross_entropy_with_logits(D0(real), torch.ones(8))
                  + F.binary_cross_entropy_with_logits(D0(G0(z)), torch.zeros(8))
                  + F.binary_cross_entropy_with_logits(D0(walked), torch.zeros(8)))
    assert h.d_loss[0] == pytest.approx(d_loss.item(), rel=1e-5)
    assert len(h.edit_loss) == 1 and not walk.training


def test_masked_pixels_never_count_even_when_not_finite():
    from reprobook.steer import masked_mse
    out, target = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    out[0, 0, 0, 0] = float("nan")
    mask = torch.ones(1, 1, 2, 2)
    mask[0, 0, 0, 0] = 0
    assert masked_mse(out, target, mask).item() == 1.0


def test_a_nonlinear_walk_refuses_absurd_step_counts():
    from reprobook.steer import NonlinearWalk
    walk = NonlinearWalk(4, steps=2, eps=0.1)
    with pytest.raises(ValueError, match="refuses more than 100"):
        walk(torch.randn(2, 4), 1e12)
