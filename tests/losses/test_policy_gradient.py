"""Policy gradient with a value baseline (reprobook.losses.policy_gradient) against float64 loops."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reprobook.losses.policy_gradient import discounted_returns, policy_gradient_loss


def test_discounted_returns_closed_form():
    # a life of 4 ticks ending in death: R_t = -gamma^(3 - t)
    R = discounted_returns([0, 0, 0, -1], gamma=0.95)
    np.testing.assert_allclose(R, [-0.95 ** 3, -0.95 ** 2, -0.95, -1.0])
    # bootstrap: R_t = gamma^(T - t) * V
    np.testing.assert_allclose(discounted_returns([0, 0], gamma=0.5, bootstrap=-2.0), [-0.5, -1.0])


def test_discounted_returns_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        discounted_returns([0.0], gamma=1.5)
    with pytest.raises(ValueError, match="one trajectory"):
        discounted_returns(np.zeros((2, 2)))


def _reference(logits, actions, values, returns, w=(1.0, 0.5, 0.025)):
    """Eqs. (2)-(6) transcribed with float64 Python loops."""
    total = pol_sum = val_sum = ent_sum = 0.0
    for k, lg in enumerate(logits):
        rows = [b for b in range(len(lg)) if sum(math.isfinite(x) for x in lg[b]) > 1]
        if not rows:
            continue
        A = [returns[b] - values[b] for b in rows]
        mean = sum(A) / len(A)
        pol = val = ent = 0.0
        for b, a in zip(rows, A):
            z = [x for x in lg[b] if math.isfinite(x)]
            m = max(z)
            lse = m + math.log(sum(math.exp(x - m) for x in z))
            pol += -(lg[b][actions[b][k]] - lse) * (a - mean)
            val += 0.5 * (values[b] - returns[b]) ** 2
            ent += sum(math.exp(x - lse) * (x - lse) for x in z)
        n = len(rows)
        pol_sum, val_sum, ent_sum = pol_sum + pol / n, val_sum + val / n, ent_sum + ent / n
    total = w[0] * pol_sum + w[1] * val_sum + w[2] * ent_sum
    return total, pol_sum, val_sum, -ent_sum


def test_matches_float64_loop_with_masked_and_forced_choices():
    g = torch.Generator().manual_seed(0)
    B = 7
    move = torch.randn(B, 5, generator=g, dtype=torch.float64)
    target = torch.randn(B, 4, generator=g, dtype=torch.float64)
    target[:, 0] = -math.inf
    target[2, 1:3] = -math.inf          # row 2: a single legal target -> skipped for that head
    target[4, 2] = -math.inf
    actions = torch.stack([torch.randint(0, 5, (B,), generator=g), torch.full((B,), 3)], dim=1)
    actions[1, 1] = 1
    values = torch.randn(B, generator=g, dtype=torch.float64)
    returns = torch.randn(B, generator=g, dtype=torch.float64)
    out = policy_gradient_loss({"move": move, "target": target}, actions, values, returns)
    ref = _reference([move.tolist(), target.tolist()], actions.tolist(), values.tolist(), returns.tolist())
    for key, r in zip(("loss", "policy", "value", "entropy"), ref):
        assert out[key].item() == pytest.approx(r, rel=1e-12, abs=1e-12), key


def test_gradients_finite_with_masked_logits_and_advantage_detached():
    logits = torch.tensor([[0.3, -math.inf, 1.0], [0.0, 0.5, -math.inf]], requires_grad=True)
    values = torch.tensor([0.2, -0.4], requires_grad=True)
    out = policy_gradient_loss({"a": logits}, torch.tensor([[0], [1]]), values, torch.tensor([-1.0, 0.0]))
    out["loss"].backward()
    assert torch.isfinite(logits.grad).all() and torch.isfinite(values.grad).all()
    # the value gets gradient only from Eq. (4): d/dV 0.5 * 0.5 mean (V - R)^2 = 0.5 (V - R) / B
    np.testing.assert_allclose(values.grad.numpy(), 0.5 * (values.detach() - torch.tensor([-1.0, 0.0])).numpy() / 2,
                               rtol=1e-6)


def test_higher_advantage_action_gains_probability():
    logits = torch.zeros(2, 2, requires_grad=True)
    out = policy_gradient_loss({"a": logits}, torch.tensor([[0], [1]]), torch.zeros(2), torch.tensor([1.0, -1.0]),
                               value_weight=0.0, entropy_weight=0.0)
    out["loss"].backward()
    assert logits.grad[0, 0] < 0 and logits.grad[1, 1] > 0      # descent raises a=0 in row 0


def test_bad_inputs():
    lg = {"a": torch.zeros(3, 2)}
    with pytest.raises(ValueError, match=r"actions must be \(B, 1\)"):
        policy_gradient_loss(lg, torch.zeros(3, dtype=torch.long), torch.zeros(3), torch.zeros(3))
    with pytest.raises(ValueError, match="values and returns"):
        policy_gradient_loss(lg, torch.zeros(3, 1, dtype=torch.long), torch.zeros(2), torch.zeros(3))
    with pytest.raises(ValueError, match="probability 0"):
        policy_gradient_loss({"a": torch.tensor([[0.0, -math.inf, 0.0]])}, torch.tensor([[1]]), torch.zeros(1),
                             torch.zeros(1))
    with pytest.raises(ValueError, match="empty"):
        policy_gradient_loss({"a": torch.zeros(0, 2)}, torch.zeros(0, 1, dtype=torch.long), torch.zeros(0),
                             torch.zeros(0))


def test_nan_logits_and_illegal_forced_actions_are_errors():
    nan = torch.tensor([[float("nan"), 0.0]])
    with pytest.raises(ValueError, match="NaN"):
        policy_gradient_loss({"a": nan}, torch.tensor([[1]]), torch.zeros(1), torch.zeros(1))
    forced = torch.tensor([[0.0, -math.inf]])                    # one legal choice, the other recorded
    with pytest.raises(ValueError, match="probability 0"):
        policy_gradient_loss({"a": forced}, torch.tensor([[1]]), torch.zeros(1), torch.zeros(1))
    with pytest.raises(ValueError, match="finite"):
        policy_gradient_loss({"a": torch.zeros(1, 2)}, torch.tensor([[1]]), torch.tensor([float("inf")]),
                             torch.zeros(1))
