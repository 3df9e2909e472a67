"""Bad input to the losses is a clear error naming the parameter, never NaN or a silent result."""
import math

import pytest
import torch
import torch.nn.functional as F

from reprobook.losses import SupConLoss, align_loss, align_uniform_loss, info_nce, uniform_loss


def unit(*shape):
    return F.normalize(torch.randn(*shape, dtype=torch.float64), dim=-1)


def test_supcon_refuses_features_off_the_sphere():
    with pytest.raises(ValueError, match="L2-normalised"):
        SupConLoss(tau=0.1)(10 * unit(8, 2, 16), torch.arange(8) % 3)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.0, -0.5])
def test_supcon_tau_and_base_tau_checked_at_construction(bad):
    with pytest.raises(ValueError, match="tau"):
        SupConLoss(tau=bad)
    with pytest.raises(ValueError, match="base_tau"):
        SupConLoss(tau=0.1, base_tau=bad)


def test_supcon_labels_as_a_list_work_and_wrong_labels_are_named():
    f, y = unit(6, 2, 8), [0, 1, 0, 1, 2, 2]
    assert torch.allclose(SupConLoss(0.1)(f, y), SupConLoss(0.1)(f, torch.tensor(y)))
    with pytest.raises(TypeError, match="labels must be integer"):
        SupConLoss(0.1)(f, [0.5] * 6)
    with pytest.raises(ValueError, match=r"labels must have shape \(6,\)"):
        SupConLoss(0.1)(f, [0, 1])


@pytest.mark.parametrize("name,call", [
    ("align", lambda: align_loss(unit(0, 4), unit(0, 4))),
    ("uniform", lambda: uniform_loss(unit(0, 4))),
    ("supcon", lambda: SupConLoss(0.1)(unit(0, 2, 4), torch.zeros(0, dtype=torch.long))),
    ("info_nce", lambda: info_nce(unit(0, 4), unit(0, 4), unit(5, 4))),
])
def test_empty_batches_are_errors_not_nan(name, call):
    with pytest.raises(ValueError, match="empty batch"):
        call()


@pytest.mark.parametrize("param,call", [
    ("alpha", lambda v: align_loss(unit(4, 3), unit(4, 3), alpha=v)),
    ("t", lambda v: uniform_loss(unit(4, 3), t=v)),
    ("lam", lambda v: align_uniform_loss(unit(4, 3), unit(4, 3), lam=v)),
    ("tau", lambda v: info_nce(unit(4, 3), unit(4, 3), tau=v)),
])
def test_nan_hyperparameters_are_named(param, call):
    with pytest.raises(ValueError, match=f"{param} must be finite"):
        call(float("nan"))


def test_info_nce_checks_negatives_values_and_dtype():
    q, k = unit(4, 3), unit(4, 3)
    bad = unit(5, 3)
    bad[2, 1] = math.nan
    with pytest.raises(ValueError, match="negatives contains NaN"):
        info_nce(q, k, bad)
    with pytest.raises(TypeError, match="dtype of query"):
        info_nce(q, k, unit(5, 3).float())
    with pytest.raises(TypeError, match="negatives must be floating point"):
        info_nce(q, k, torch.ones(5, 3, dtype=torch.long))
