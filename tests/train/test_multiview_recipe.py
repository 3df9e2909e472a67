"""CMC's training recipe: one crop split into colour views, one encoder per view, memory banks."""
import pytest
import torch

from reprobook.data import Compose, RandomResizedCrop
from reprobook.data.colorspaces import ColorViews
from reprobook.losses import MultiviewContrast
from reprobook.models import MultiviewEncoder
from reprobook.train import fit_multiview, make_generator


def setup(seed=0, n=64):
    g = torch.Generator().manual_seed(123)
    images = torch.randint(0, 256, (n, 3, 16, 16), dtype=torch.uint8, generator=g)
    labels = torch.arange(n) % 4
    torch.manual_seed(seed)
    views = ColorViews("lab", [[0], [1, 2]])
    model = MultiviewEncoder({"name": "small", "width": 4}, in_channels=[1, 2], out_dim=8)
    contrast = MultiviewContrast(2, n_data=n, dim=8, K=16, tau=0.1, generator=torch.Generator().manual_seed(seed))
    augment = Compose([RandomResizedCrop(16, (0.5, 1.0), flip_p=0.5)])
    return images, labels, views, model, contrast, augment


class Interrupted(Exception):
    pass


def run(seed=0, epochs=2, checkpoint=None, stop_after_calls=None):
    images, labels, views, model, contrast, augment = setup(seed)
    calls = []

    def to_views(x):                       # the views; raises mid-run to simulate a killed job
        calls.append(1)
        if stop_after_calls is not None and len(calls) > stop_after_calls:
            raise Interrupted
        return views(x)

    result = fit_multiview(model, contrast, to_views, images, labels, augment=augment, epochs=epochs, batch_size=16,
                           lr=0.05, generator=make_generator(seed, "cpu"), checkpoint=checkpoint, progress=False)
    return result, model, contrast


def test_a_run_trains_every_view_and_fills_the_banks():
    images, labels, views, model, contrast, augment = setup()
    banks_before = [b.rows.clone() for b in contrast.banks]
    weights_before = [p.clone() for p in model.parameters()]
    result = fit_multiview(model, contrast, views, images, labels, augment=augment, epochs=2, batch_size=16,
                           lr=0.05, generator=make_generator(0, "cpu"), progress=False)
    assert len(result.history) == 2 and {"loss", "p_pos 0->1", "p_pos 1->0"} <= set(result.history[0])
    for before, bank in zip(banks_before, contrast.banks):
        assert (bank.rows != before).any(dim=1).all()            # every sample's row was updated
        assert torch.allclose(bank.rows.norm(dim=1), torch.ones(64), atol=1e-5)
    assert all(not torch.equal(a, b) for a, b in zip(weights_before, model.parameters()) if a.ndim > 1)
    feats = model.features(views(images[:5]))
    assert feats.shape == (5, sum(model.feat_dims))


def test_the_same_seed_gives_the_same_run():
    a, _, _ = run(0)
    b, _, _ = run(0)
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]


def test_an_interrupted_run_resumes_with_its_banks(tmp_path):
    full, model_full, contrast_full = run(0, epochs=3)
    ckpt = tmp_path / "cmc.pt"
    with pytest.raises(Interrupted):                              # killed in epoch 3 (4 steps an epoch)
        run(0, epochs=3, checkpoint=ckpt, stop_after_calls=9)
    resumed, model_resumed, contrast_resumed = run(0, epochs=3, checkpoint=ckpt)
    assert resumed.resumed_from_epoch == 2
    for a, b in zip(contrast_full.banks, contrast_resumed.banks):
        assert torch.allclose(a.rows, b.rows)
    for a, b in zip(model_full.parameters(), model_resumed.parameters()):
        assert torch.allclose(a, b)


def test_view_count_mismatch_is_a_clear_error():
    model = MultiviewEncoder({"name": "small", "width": 4}, in_channels=[1, 2], out_dim=8)
    with pytest.raises(ValueError, match="expected 2 views"):
        model([torch.zeros(2, 1, 16, 16)])
