"""The InfoMin chapter module on tiny synthetic data: every code path, the settings pinned."""
import math

import pytest
import torch

from reprobook.chapters import infomin
from reprobook.data import CIFAR_MEAN, CIFAR_STD

TINY = dict(encoder={"name": "small", "width": 4, "stem_stride": 2}, out_dim=8, epochs=1, batch_size=10,
            probe_epochs=2, mi_K=8)


@pytest.fixture
def data(tiny_data):
    d = tiny_data
    return infomin.ViewData("cifar10", d.train_x, d.train_y, d.train_x, d.train_y, d.test_x, d.test_y, d.classes,
                            CIFAR_MEAN["cifar10"], CIFAR_STD["cifar10"], d.device)


def test_every_family_trains_and_is_measured(data):
    cfg = infomin.config("reverse_u", "smoke", **TINY, families={"patch": [0, 16], "color": ["L|ab"], "blur": [1.0]})
    for kind, values in cfg.families.items():
        rows = infomin.run_family(cfg, data, kind, progress=False)
        assert [r["value"] for r in rows] == values
        for r in rows:
            assert r["ceiling"] == pytest.approx(math.log(8))
            assert r["i_nce"] <= r["ceiling"] + 1e-9 and 0 <= r["probe"] <= 100
    assert infomin.sweet_spot([{"probe": 3}, {"probe": 7}, {"probe": 5}]) == {"probe": 7}
    with pytest.raises(ValueError, match="not configured"):
        infomin.run_family(cfg, data, "rotation", progress=False)


def test_the_memory_bank_objective_of_cmc_runs_too(data):
    cfg = infomin.config("reverse_u", "smoke", **TINY, objective="bank", K=8)
    trained = infomin.train_views(cfg, data, infomin.family("color", "L|ab", cfg, data), progress=False)
    assert "p_pos 0->1" in trained.history[0]
    with pytest.raises(ValueError, match="K = 64 negatives need more than 64 images"):
        infomin.make_contrast(infomin.config("reverse_u", "smoke", objective="bank", K=64), 40)
    with pytest.raises(ValueError, match="unknown objective"):
        infomin.make_contrast(infomin.config("reverse_u", "smoke", objective="moco"), 40)


@pytest.mark.parametrize("semi", [False, True])
def test_learned_views_keep_snapshots_and_are_measured(data, semi):
    cfg = infomin.config("learned", "smoke", **TINY, flow_epochs=2, snapshots=3)
    learned = infomin.learn_views(cfg, data, semi, progress=False)
    assert [e for e, _ in learned.snapshots] == [0, 1, 2] and len(learned.history) == 2
    assert ("ce" in learned.history[0]) == semi
    assert not any(p.requires_grad for _, f in learned.snapshots for p in f.parameters())
    first = learned.snapshots[0][1]
    assert all(torch.equal(p, torch.zeros_like(p)) for n, p in first.named_parameters() if n.endswith("t.4.weight"))
    rows = infomin.views_over_training(cfg, data, learned, progress=False)
    assert [r["epoch"] for r in rows] == [0, 1, 2] and all(0 <= r["probe"] <= 100 for r in rows)
    mixing = infomin.channel_mixing(first)
    assert torch.allclose(mixing, torch.eye(3), atol=1e-4)          # the identity flow maps each channel to itself


def test_snapshots_do_not_change_what_is_trained(data):
    """The game resumes from its checkpoint between snapshots: two snapshots or three, the same flow."""
    final = []
    for snapshots in (2, 3):
        cfg = infomin.config("learned", "smoke", **TINY, flow_epochs=2, snapshots=snapshots)
        learned = infomin.learn_views(cfg, data, True, progress=False)
        final.append(learned.snapshots[-1][1])
        assert [h["epoch"] for h in learned.history] == [1, 2]
    for a, b in zip(final[0].parameters(), final[1].parameters()):
        assert torch.equal(a, b)


def test_the_flow_learns_against_the_encoders(data):
    """The adversary's gradient reaches the flow reversed: after a step its parameters moved."""
    cfg = infomin.config("learned", "smoke", **TINY, flow_epochs=1, snapshots=2)
    learned = infomin.learn_views(cfg, data, False, progress=False)
    start, end = learned.snapshots[0][1], learned.snapshots[1][1]
    moved = [not torch.equal(a, b) for a, b in zip(start.parameters(), end.parameters())]
    assert any(moved)


def test_augmentation_ladder_runs_with_a_shared_encoder(data):
    cfg = infomin.config("augmentation", "smoke", **TINY, hidden_dim=8)
    rows = infomin.run_augmentations(cfg, data, progress=False)
    assert [r["augmentation"] for r in rows] == ["crop", "crop+jitter", "crop+jitter+blur", "infomin"]
    assert all(r["i_nce"] <= r["ceiling"] + 1e-9 for r in rows)


def test_configs_and_bad_settings():
    with pytest.raises(ValueError, match="unknown notebook config"):
        infomin.config("nope", "smoke")
    with pytest.raises(ValueError, match="snapshots must lie in"):
        infomin.learn_views(infomin.config("learned", "smoke", snapshots=1), None, False)
    with pytest.raises(ValueError, match="snapshots must lie in"):
        infomin.learn_views(infomin.config("learned", "smoke", snapshots=5, flow_epochs=2), None, False)
    cfg = infomin.config("reverse_u", "smoke")
    cfg.families["patch"].append(99)                        # a user's edit stays in that config
    fresh = infomin.config("reverse_u", "smoke").families["patch"]
    assert fresh == infomin.FAMILY_VALUES["patch"] != cfg.families["patch"]
    with pytest.raises(TypeError, match="read-only"):
        cfg.tau = 1.0
    with pytest.raises(ValueError, match="unknown dataset"):
        infomin.load(infomin.config("reverse_u", "smoke", dataset="imagenet"))
    for kind, values in infomin.FAMILY_VALUES.items():
        assert len(values) >= 4, kind
