"""CDNA video predictor with a SAVP-VAE latent and the EVF experience embedding (chapter 09)."""
import pytest
import torch

from reprobook.models.video_prediction import (
    CDNAPredictor,
    ConvLSTMCell,
    apply_cdna_kernels,
    composite,
    gaussian_kl,
    normalize_cdna_kernels,
    video_prediction_loss,
)

B, T, S, C, A, SD = 2, 4, 16, 3, 4, 3
TINY = dict(image_size=S, hidden=(4, 8, 8), num_masks=3, kernel=5, latent_dim=2)


def make(seed=0, **kw):
    torch.manual_seed(seed)
    return CDNAPredictor(**{**TINY, **kw})


def clip(seed=0, b=B, t=T, e=0):
    g = torch.Generator().manual_seed(seed)
    out = (torch.rand(b, t, C, S, S, generator=g), torch.randn(b, t, A, generator=g),
           torch.randn(b, t, SD, generator=g))
    return out + ((torch.randn(b, e, generator=g),) if e else ())


def moving_square(b=8, t=T, size=S, side=4, seed=0):
    """A bright square moving by its action (dx, dy in {-1, 0, 1} px per step) on a dark background."""
    g = torch.Generator().manual_seed(seed)
    frames = torch.full((b, t, C, size, size), 0.1)
    actions = torch.zeros(b, t, A)
    states = torch.zeros(b, t, SD)
    for i in range(b):
        x, y = torch.randint(3, size - side - 3, (2,), generator=g).tolist()
        dx, dy = (torch.randint(0, 3, (2,), generator=g) - 1).tolist()
        for k in range(t):
            frames[i, k, :, y:y + side, x:x + side] = torch.tensor([0.9, 0.6, 0.2])[:, None, None]
            states[i, k, :2] = torch.tensor([x, y]) / size
            actions[i, k, :2] = torch.tensor([dx, dy], dtype=torch.float)
            x, y = x + dx, y + dy
    return frames, actions, states


# ------------------------------------------------------------------ shapes and normalisation
@pytest.mark.parametrize("posterior,sample", [(True, True), (True, False), (False, True), (False, False)])
def test_output_shapes_and_range(posterior, sample):
    m = make()
    f, a, s = clip()
    out = m(f, a, s, context=2, posterior=posterior, sample=sample)
    assert out["frames_pred"].shape == (B, T - 1, C, S, S)
    assert out["states_pred"].shape == (B, T - 1, SD)
    assert out["z_mu"].shape == out["z_logvar"].shape == (B, T - 1, 2)
    assert out["kernels"].shape == (B, T - 1, 3, 5, 5)
    assert out["masks"].shape == (B, T - 1, 3 + 3, S, S)     # previous, first, scratch + 3 CDNA
    assert m.num_sources == 6
    assert out["kl"].shape == () and torch.isfinite(out["kl"])
    if not posterior:
        assert out["kl"] == 0 and (out["z_mu"] == 0).all() and (out["z_logvar"] == 0).all()
    # convex combinations of [0, 1] pixels stay in [0, 1]
    assert out["frames_pred"].min() >= 0 and out["frames_pred"].max() <= 1 + 1e-6


def test_actions_of_length_t_minus_1_accepted():
    m = make()
    f, a, s = clip()
    torch.manual_seed(1)
    o1 = m(f, a, s, sample=False)
    o2 = m(f, a[:, :-1], s, sample=False)
    assert torch.equal(o1["frames_pred"], o2["frames_pred"])


def test_official_defaults_shapes():
    m = CDNAPredictor()
    assert (m.image_size, m.channels, m.action_dim, m.state_dim, m.latent_dim) == (64, 3, 4, 3, 8)
    # SAVP: ngf 32, num_transformed_images 4, prev_image_background, first_image_background,
    # generate_scratch_image
    assert m.hidden == (32, 64, 128) and m.num_masks == 4 and m.kernel == 5 and m.embedding_dim == 0
    assert m.first_image_background and m.scratch_image and m.mask_head.out_channels == 7
    assert m.kernel_head.out_features == 4 * 25 and m.kernel_head.in_features == 128 * 16 * 16


def test_kernels_and_masks_normalised():
    m = make()
    f, a, s = clip()
    out = m(f, a, s)
    k, msk = out["kernels"], out["masks"]
    assert (k >= 0).all() and (msk >= 0).all()
    torch.testing.assert_close(k.sum(dim=(-1, -2)), torch.ones(B, T - 1, 3))
    torch.testing.assert_close(msk.sum(dim=2), torch.ones(B, T - 1, S, S))


def test_normalize_kernels_is_softmax():
    logits = torch.randn(2, 3, 5, 5)
    k = normalize_cdna_kernels(logits)
    torch.testing.assert_close(k.sum(dim=(-1, -2)), torch.ones(2, 3))
    torch.testing.assert_close(k.flatten(2), torch.softmax(logits.flatten(2), -1))
    with pytest.raises(ValueError, match="kernel logits"):
        normalize_cdna_kernels(torch.randn(2, 3, 5, 4))


# ------------------------------------------------------------------ CDNA transformation
def delta_logits(b, k_num, k):
    logits = torch.zeros(b, k_num, k, k)
    logits[:, :, k // 2, k // 2] = 200.0      # softmax -> exact delta in float32
    return logits


def test_identity_kernel_is_identity():
    img = torch.rand(2, 3, 9, 11)
    kern = normalize_cdna_kernels(delta_logits(2, 4, 5))
    out = apply_cdna_kernels(img, kern)
    assert out.shape == (2, 4, 3, 9, 11)
    torch.testing.assert_close(out, img.unsqueeze(1).expand_as(out), rtol=0, atol=1e-6)
    # any masks composite identical sources back to the input
    masks = torch.softmax(torch.randn(2, 5, 9, 11), dim=1)
    torch.testing.assert_close(composite(img, out, masks), img)


def test_shift_kernel_translates_and_is_per_example():
    img = torch.rand(2, 1, 8, 8)
    kern = torch.zeros(2, 1, 3, 3)
    kern[0, 0, 1, 2] = 1.0   # example 0: cross-correlation, a right tap moves content left
    kern[1, 0, 1, 1] = 1.0   # example 1: identity
    out = apply_cdna_kernels(img, kern)[:, 0]
    torch.testing.assert_close(out[0, :, :, :-1], img[0, :, :, 1:])
    assert (out[0, :, :, -1] == 0).all()                     # zero padding
    torch.testing.assert_close(out[1], img[1])


def test_model_with_identity_kernels_copies_previous_frame():
    m = make(first_image_background=False, scratch_image=False)     # Finn et al.'s sources only
    with torch.no_grad():
        m.kernel_head.weight.zero_()
        m.kernel_head.bias.copy_(delta_logits(1, 3, 5).flatten())
    f, a, s = clip()
    out = m(f, a, s, context=3, posterior=False, sample=False)
    # inside the context each prediction equals the previous ground-truth frame
    torch.testing.assert_close(out["frames_pred"][:, 0], f[:, 0], rtol=0, atol=1e-6)
    torch.testing.assert_close(out["frames_pred"][:, 1], f[:, 1], rtol=0, atol=1e-6)
    torch.testing.assert_close(out["frames_pred"][:, 2], f[:, 2], rtol=0, atol=1e-6)


def test_first_frame_and_scratch_sources():
    """SAVP's extra sources: masks all on the first-frame source reproduce frame 0 at every step;
    all on the scratch image give the sigmoid of its head (in (0, 1)), whatever the kernels."""
    f, a, s = clip()
    for index, name in ((1, "first"), (2, "scratch")):
        m = make()
        with torch.no_grad():
            m.mask_head.weight.zero_()
            bias = torch.full((m.num_sources,), -200.0)
            bias[index] = 200.0
            m.mask_head.bias.copy_(bias)
        out = m(f, a, s, context=2, posterior=False, sample=False)["frames_pred"]
        if name == "first":
            torch.testing.assert_close(out, f[:, :1].expand_as(out), rtol=0, atol=1e-6)
        else:
            assert out.min() > 0 and out.max() < 1 and not torch.allclose(out, f[:, :1].expand_as(out))
    m = make(first_image_background=False, scratch_image=False)
    assert m.num_sources == 4 and m.scratch_head is None
    with pytest.raises(ValueError, match="first frame"):
        make().step(f[:, 0], torch.zeros(B, make().cond_dim), None)


# ------------------------------------------------------------------ causality
def test_frames_after_context_are_never_fed():
    m = make()
    f, a, s = clip(t=5)
    f2, s2 = f.clone(), s.clone()
    f2[:, 2:] = torch.rand_like(f2[:, 2:])
    s2[:, 2:] = torch.randn_like(s2[:, 2:])
    for sample in (False, True):
        torch.manual_seed(3)
        o1 = m(f, a, s, context=2, posterior=False, sample=sample)
        torch.manual_seed(3)
        o2 = m(f2, a, s2, context=2, posterior=False, sample=sample)
        assert torch.equal(o1["frames_pred"], o2["frames_pred"])
        assert torch.equal(o1["states_pred"], o2["states_pred"])


@pytest.mark.parametrize("context", [1, 2, 3])
def test_prediction_t_depends_only_on_past_inputs(context):
    """Prediction t (of frame t+1) depends on frames <= min(t, context-1) and actions <= t."""
    m = make()
    f, a, s = clip(t=5)
    base = m(f, a, s, context=context, posterior=False, sample=False)["frames_pred"]
    for j in range(5):
        f2 = f.clone()
        f2[:, j] = torch.rand_like(f2[:, j])
        p = m(f2, a, s, context=context, posterior=False, sample=False)["frames_pred"]
        for t in range(4):
            same = torch.equal(p[:, t], base[:, t])
            assert same == (j > min(t, context - 1)), (j, t)
        a2 = a.clone()
        a2[:, j] = torch.randn_like(a2[:, j])
        p = m(f, a2, s, context=context, posterior=False, sample=False)["frames_pred"]
        for t in range(4):
            assert torch.equal(p[:, t], base[:, t]) == (j > t), ("action", j, t)


def test_posterior_uses_future_frames():
    m = make()
    f, a, s = clip()
    f2 = f.clone()
    f2[:, -1] = torch.rand_like(f2[:, -1])
    o1, o2 = m(f, a, s, sample=False), m(f2, a, s, sample=False)
    assert not torch.equal(o1["z_mu"][:, -1], o2["z_mu"][:, -1])
    assert torch.equal(o1["z_mu"][:, :-1], o2["z_mu"][:, :-1])     # q(z_t | x_t, x_{t+1})


# ------------------------------------------------------------------ embedding
def test_embedding_changes_outputs():
    m = make(embedding_dim=5)
    assert m.cond_dim == A + 5 + SD + 2
    f, a, s, e = clip(e=5)
    o1 = m(f, a, s, embedding=e, posterior=False, sample=False)["frames_pred"]
    o2 = m(f, a, s, embedding=e + 1.0, posterior=False, sample=False)["frames_pred"]
    assert o1.shape == (B, T - 1, C, S, S)
    assert not torch.allclose(o1, o2)


def test_embedding_errors():
    m = make(embedding_dim=5)
    f, a, s, e = clip(e=5)
    with pytest.raises(ValueError, match=r"embedding must have shape \(2, 5\)"):
        m(f, a, s, embedding=torch.randn(B, 4))
    with pytest.raises(ValueError, match=r"embedding must have shape"):
        m(f, a, s, embedding=torch.randn(B + 1, 5))
    with pytest.raises(ValueError, match="needs an embedding"):
        m(f, a, s)
    with pytest.raises(ValueError, match="embedding_dim=0"):
        make()(f, a, s, embedding=e)


# ------------------------------------------------------------------ KL and loss
def test_kl_closed_form():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(2, 3, 4, generator=g), torch.randn(2, 3, 4, generator=g)
    expected = (0.5 * (mu ** 2 + logvar.exp() - 1 - logvar)).sum(-1).mean()
    torch.testing.assert_close(gaussian_kl(mu, logvar), expected)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    torch.testing.assert_close(gaussian_kl(mu, logvar), torch.distributions.kl_divergence(q, p).sum(-1).mean())
    assert gaussian_kl(torch.zeros(3, 2), torch.zeros(3, 2)) == 0
    with pytest.raises(ValueError, match="equal shapes"):
        gaussian_kl(mu, logvar[..., :2])


def test_model_kl_matches_its_mu_logvar():
    m = make()
    f, a, s = clip()
    out = m(f, a, s)
    torch.testing.assert_close(out["kl"], gaussian_kl(out["z_mu"], out["z_logvar"]))


def test_loss_terms():
    m = make()
    f, a, s = clip()
    out = m(f, a, s)
    res = video_prediction_loss(out, f, kl_weight=0.001)
    torch.testing.assert_close(res["l1"], (out["frames_pred"] - f[:, 1:]).abs().mean())
    torch.testing.assert_close(res["loss"], res["l1"] + 0.001 * out["kl"])
    res = video_prediction_loss(out, f, kl_weight=0.0, states=s, state_weight=2.0)
    torch.testing.assert_close(res["loss"], res["l1"] + 2.0 * ((out["states_pred"] - s[:, 1:]) ** 2).mean())
    with pytest.raises(ValueError, match="frames must have shape"):
        video_prediction_loss(out, f[:, 1:])
    with pytest.raises(ValueError, match="weights must be"):
        video_prediction_loss(out, f, kl_weight=-1.0)


# ------------------------------------------------------------------ training and gradients
def test_gradients_reach_every_parameter():
    m = make()
    f, a, s = clip()
    out = m(f, a, s, context=2)
    video_prediction_loss(out, f)["loss"].backward()
    for name, p in m.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, name


def test_training_lowers_l1_on_moving_square():
    f, a, s = moving_square()
    m = make(seed=0)
    opt = torch.optim.Adam(m.parameters(), lr=3e-3)

    def eval_l1():
        with torch.no_grad():
            return video_prediction_loss(m(f, a, s, context=2, sample=False), f)["l1"].item()

    before = eval_l1()
    torch.manual_seed(0)
    for _ in range(30):
        opt.zero_grad()
        loss = video_prediction_loss(m(f, a, s, context=2), f)["loss"]
        loss.backward()
        opt.step()
    after = eval_l1()
    assert after < 0.8 * before, (before, after)


def test_deterministic_with_fixed_seed():
    f, a, s = clip()
    outs = []
    for _ in range(2):
        m = make(seed=7)
        torch.manual_seed(11)
        outs.append(m(f, a, s))
    for key in ("frames_pred", "states_pred", "kl", "z_mu", "z_logvar"):
        assert torch.equal(outs[0][key], outs[1][key]), key
    m = make(seed=7)
    torch.manual_seed(12)
    assert not torch.equal(m(f, a, s)["frames_pred"], outs[0]["frames_pred"])   # z is sampled


# ------------------------------------------------------------------ bad inputs
def test_bad_inputs():
    m = make()
    f, a, s = clip()
    with pytest.raises(ValueError, match="frames must have shape"):
        m(f[:, :, :2], a, s)                                    # wrong channels
    with pytest.raises(ValueError, match="frames must have shape"):
        m(f[..., :8, :8], a, s)                                 # wrong size
    with pytest.raises(ValueError, match="frames must have shape"):
        m(f[0], a, s)                                           # missing batch dim
    with pytest.raises(ValueError, match="at least 2 frames"):
        m(f[:, :1], a[:, :1], s[:, :1], context=1)
    with pytest.raises(ValueError, match="actions must have shape"):
        m(f, a[..., :3], s)
    with pytest.raises(ValueError, match="actions must have shape"):
        m(f, a[:, :2], s)
    with pytest.raises(ValueError, match="actions must have shape"):
        m(f, a[:1], s)
    with pytest.raises(ValueError, match="states must have shape"):
        m(f, a, s[..., :2])
    with pytest.raises(ValueError, match="states must have shape"):
        m(f, a, s[:, :-1])
    for bad in (0, -1, T, T + 1, 1.5, True):
        with pytest.raises(ValueError, match="context must be"):
            m(f, a, s, context=bad)


def test_bad_constructor_args():
    with pytest.raises(ValueError, match="multiple of 4"):
        CDNAPredictor(image_size=30)
    with pytest.raises(ValueError, match="three positive widths"):
        CDNAPredictor(hidden=(4, 8))
    with pytest.raises(ValueError, match="odd"):
        CDNAPredictor(kernel=4)
    with pytest.raises(ValueError, match="num_masks"):
        CDNAPredictor(num_masks=0)
    with pytest.raises(ValueError, match="embedding_dim"):
        CDNAPredictor(embedding_dim=-1)


# ------------------------------------------------------------------ ConvLSTM cell
@pytest.mark.parametrize("layer_norm", [False, True])
def test_conv_lstm_cell(layer_norm):
    torch.manual_seed(0)
    cell = ConvLSTMCell(3, 6, kernel=3, layer_norm=layer_norm)
    assert (cell.norm is not None) == layer_norm
    x = torch.randn(2, 3, 8, 8)
    h, (h2, c) = cell(x)
    assert h.shape == c.shape == (2, 6, 8, 8) and torch.equal(h, h2)
    assert h.abs().max() < 1
    h3, _ = cell(x, (h, c))
    assert not torch.allclose(h3, h)                           # the state is used
    with pytest.raises(ValueError, match="x must have shape"):
        cell(torch.randn(2, 4, 8, 8))
    with pytest.raises(ValueError, match="state must be"):
        cell(x, (h[:, :3], c))
    with pytest.raises(ValueError, match="odd"):
        ConvLSTMCell(3, 6, kernel=4)


# ------------------------------------------------------------------ SAVP's training schedules
def test_scheduled_sampling_schedule_closed_form():
    import math

    from reprobook.models.video_prediction import scheduled_sampling_prob

    assert scheduled_sampling_prob(0) == pytest.approx(900 / 901)
    assert scheduled_sampling_prob(6000) == pytest.approx(900 / (900 + math.exp(6000 / 900)))
    assert 0.4 < scheduled_sampling_prob(6100) < 0.6
    assert scheduled_sampling_prob(12_300) > 0.001 and scheduled_sampling_prob(12_400) == 0.0   # < 0.001: off
    assert scheduled_sampling_prob(10 ** 9) == 0.0
    assert scheduled_sampling_prob(50, k=10.0) == pytest.approx(10 / (10 + math.exp(5)))
    with pytest.raises(ValueError, match="k must be"):
        scheduled_sampling_prob(0, k=0)


def test_kl_anneal_weight_closed_form():
    from reprobook.models.video_prediction import kl_anneal_weight

    w = [kl_anneal_weight(s, 0.001, 50_000, 100_000) for s in (0, 49_999, 50_000, 75_000, 100_000, 200_000)]
    assert w == pytest.approx([0, 0, 0, 0.0005, 0.001, 0.001])
    assert kl_anneal_weight(4, 2.0, 5, 5) == 0 and kl_anneal_weight(5, 2.0, 5, 5) == 2.0
    with pytest.raises(ValueError, match="end must be"):
        kl_anneal_weight(0, 1.0, 5, 4)


def test_ground_truth_prob_one_is_teacher_forcing_and_zero_closed_loop():
    m = make()
    f, a, s = clip(t=5)
    forced = m(f, a, s, context=2, posterior=False, sample=False, ground_truth_prob=1.0)["frames_pred"]
    all_context = m(f, a, s, context=4, posterior=False, sample=False)["frames_pred"]
    torch.testing.assert_close(forced, all_context, rtol=0, atol=0)
    closed = m(f, a, s, context=2, posterior=False, sample=False, ground_truth_prob=0.0)["frames_pred"]
    assert torch.equal(closed, m(f, a, s, context=2, posterior=False, sample=False)["frames_pred"])
    assert not torch.allclose(closed[:, 2:], forced[:, 2:])
    with pytest.raises(ValueError, match="ground_truth_prob"):
        m(f, a, s, ground_truth_prob=1.5)


def test_generator_reads_the_first_frame_at_every_step():
    m = make(first_image_background=False, scratch_image=False)
    f, a, s = clip(t=5)
    f2 = f.clone()
    f2[:, 0] = torch.rand_like(f2[:, 0])
    p1 = m(f, a, s, context=2, posterior=False, sample=False)["frames_pred"]
    p2 = m(f2, a, s, context=2, posterior=False, sample=False)["frames_pred"]
    assert all(not torch.equal(p1[:, t], p2[:, t]) for t in range(4))     # SAVP: concat[image, first image]
