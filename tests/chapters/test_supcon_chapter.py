import pytest
import torch
import torch.nn.functional as F

from reprobook.chapters import supcon as sc
from reprobook.losses import supcon_terms


@pytest.mark.parametrize("form", ["out", "in"])
def test_analytic_gradient_equals_autograd(form):
    g = torch.Generator().manual_seed(0)
    z = F.normalize(torch.randn(12, 5, generator=g, dtype=torch.float64), dim=1)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 3])
    for i in range(12):
        if (y == y[i]).sum() < 2:
            continue
        zz = z.clone().requires_grad_()
        loss = supcon_terms(zz[i:i + 1], y[i:i + 1], torch.tensor([i]), zz, y, 0.2, form)[0]
        (grad,) = torch.autograd.grad(loss, zz)
        torch.testing.assert_close(grad[i], sc.analytic_gradient(z, y, i, 0.2, form), rtol=1e-10, atol=1e-12)


def test_positive_weights_sum_to_one_per_anchor():
    z = F.normalize(torch.randn(8, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)), dim=1)
    y = torch.tensor([0, 0, 0, 1, 1, 1, 1, 2])
    w = sc.positive_weights(z, y, 0.1)
    assert sum(w["w_in"]) == pytest.approx(7.0) and sum(w["w_out"]) == pytest.approx(7.0)   # 7 anchors with positives


@pytest.mark.parametrize("method", sc.METHODS)
def test_train_and_linear_eval_every_method(tiny_data, method):
    cfg = sc.config("compare", "smoke", epochs=1, batch_size=20, probe_epochs=2)
    trained = sc.train(cfg, tiny_data, method, progress=False)
    acc, predict = sc.linear_eval(trained, tiny_data, cfg)
    assert 0 <= acc <= 100 and predict(tiny_data.test_x).shape == (20, 10)
    assert (trained.classifier is not None) == (method == "cross_entropy")


def test_corruption_accuracy_covers_every_cell(tiny_data):
    cfg = sc.config("robustness", "smoke", epochs=1, batch_size=20)
    trained = sc.train(cfg, tiny_data, "cross_entropy", progress=False)
    _, predict = sc.linear_eval(trained, tiny_data, cfg)
    res = sc.corruption_accuracy(predict, tiny_data, severities=[1, 5], corruptions=["contrast", "pixelate"])
    assert set(res) == {("contrast", 1), ("contrast", 5), ("pixelate", 1), ("pixelate", 5)}


def test_unknown_method_and_override(tiny_data):
    cfg = sc.config("compare", "smoke")
    with pytest.raises(ValueError, match="valid: cross_entropy, supcon, simclr"):
        sc.train(cfg, tiny_data, "byol")
    with pytest.raises(ValueError, match="unknown override"):
        sc.train(cfg, tiny_data, "supcon", temperature=0.1)
